"""One clock: every time is stored as naive UTC and shown, and every business day counted,
in TIMEZONE (Asia/Shanghai by default), whatever zone the server process runs in.

Every test here runs twice: with the process in UTC (the usual VM default) and in
Asia/Shanghai. What the user sees is Beijing time both times. The moment used throughout,
2026-11-30 17:30 UTC, is already 1 December in Beijing.
"""
import csv
import datetime
import io
import re
import time

import openpyxl
import pytest
from peewee import Table

import models
from models import (
    ChurnRecord,
    Customer,
    Opportunity,
    Order,
    PermissionChange,
    PlanItem,
    Role,
    ServiceRequest,
    StatusChange,
    User,
    now,
    open_database,
    reports,
    schema,
)
from models.base import DEFAULT_TIMEZONE, day_start, local, local_today, set_time_zone, stored
from tests.conftest import csrf_token, login, scratch_database
from tests.test_filters import chosen

MOMENT = datetime.datetime(2026, 11, 30, 17, 30)  # as stored: UTC
BEIJING = "2026-12-01 01:30"  # the same moment, as the user must see it
AS_STORED = "2026-11-30 17:30"  # what a screen that forgot the zone would show
MICROSECONDS = re.compile(r"\.\d{6}")


@pytest.fixture(autouse=True, params=["UTC", "Asia/Shanghai"])
def process_zone(request, monkeypatch):
    """The server process's own zone (TZ), which must change nothing the user sees."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# A moment far from the real date, already 1 July in Beijing: a rule that read the
# computer's date, or UTC's, would count another day.
LATER = datetime.datetime(2030, 6, 30, 17, 30)


@pytest.fixture
def frozen_clock(monkeypatch):
    """The clock stopped at LATER: ``local_today()`` reads it through ``models.base.now``."""
    monkeypatch.setattr(models.base, "now", lambda: LATER)


def text(response):
    return response.get_data(as_text=True)


def shown(moment):
    """How a stored time must read on screen: Beijing time, to the minute."""
    return (moment + datetime.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


def a_customer(users, name="远景科技", at=MOMENT - datetime.timedelta(days=800)):
    return Customer.create_numbered(at, name=name, manager=users["xiaoming"])


def an_opportunity(users, at=MOMENT, **fields):
    return Opportunity.open(by=users["supervisor"], at=at, **{
        "source": "展会", "customer_name": "上海远景科技", "probability": 70,
        "summary": "更新 50 台笔记本", "contact": "陈工", "contact_phone": "021-5555",
        "description": "预算已批", **fields})


def a_service(users, customer, at=MOMENT, summary="保修咨询"):
    return ServiceRequest.open(by=users["xiaoming"], at=at, service_type="咨询",
                               summary=summary, customer=customer, request="保修多久？")


def assert_beijing(page, where):
    assert BEIJING in page, where
    assert AS_STORED not in page, where
    assert not MICROSECONDS.search(page), (where, MICROSECONDS.search(page))


# -- the clock ----------------------------------------------------------------------------

def test_now_is_utc_to_the_second_whatever_the_process_zone(process_zone):
    assert time.localtime(0).tm_hour == {"UTC": 0, "Asia/Shanghai": 8}[process_zone]
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    moment = now()
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert moment.tzinfo is None and moment.microsecond == 0
    assert before <= moment <= after


def test_the_company_day_and_its_bounds_are_beijings():
    assert local(MOMENT) == datetime.datetime(2026, 12, 1, 1, 30)
    assert local_today(at=MOMENT) == datetime.date(2026, 12, 1)
    assert stored(datetime.datetime(2026, 12, 1, 1, 30)) == MOMENT
    assert day_start(datetime.date(2026, 12, 1)) == datetime.datetime(2026, 11, 30, 16, 0)
    # the calendar's ends still make bounds (a day range typed that far filters, never fails)
    assert day_start(datetime.date.min) == datetime.datetime.min


def test_flask_security_stamps_logins_with_the_same_clock(app, users):
    assert app.extensions["security"].datetime_factory is models.base.now
    before = now()
    assert login(app.test_client(), "xiaoming").status_code == 302
    after = now()
    user = User.get_by_id(users["xiaoming"].id)
    assert before <= user.current_login_at <= after  # UTC, like every other time
    assert user.current_login_at.microsecond == 0 and user.last_login_at == user.current_login_at


# -- what the user sees -----------------------------------------------------------------

def test_a_business_time_shows_in_beijing_time_on_lists_details_and_history(client_for, users):
    opportunity = an_opportunity(users)  # its creation is also its first status change
    client = client_for("supervisor")
    assert_beijing(text(client.get("/admin/opportunity/")), "list")
    page = text(client.get(f"/admin/opportunity/details/?id={opportunity.id}"))
    assert_beijing(page, "details")
    assert BEIJING in page.split('id="crm-status-history"', 1)[1]  # the status history too


def test_exports_show_beijing_time(client_for, users):
    an_opportunity(users)
    client = client_for("supervisor")
    rows = list(csv.reader(io.StringIO(
        text(client.get("/admin/opportunity/export/csv/")).lstrip("\ufeff"))))
    assert [row[-1] for row in rows] == ["创建时间", BEIJING]
    book = openpyxl.load_workbook(io.BytesIO(client.get("/admin/opportunity/export/xlsx/").data))
    # XLSX: a typed time, Beijing's wall clock (shown to the minute by its number format)
    assert [row[-1] for row in book.active.iter_rows(values_only=True)] == [
        "创建时间", datetime.datetime(2026, 12, 1, 1, 30)]
    assert book.active.cell(2, book.active.max_column).number_format == "yyyy-mm-dd hh:mm"


def test_a_login_and_a_business_time_of_the_same_moment_agree_on_screen(app, users,
                                                                        client_for):
    assert login(app.test_client(), "xiaoming").status_code == 302  # stamped by Flask-Security
    logged_in = User.get_by_id(users["xiaoming"].id).last_login_at
    an_opportunity(users, at=logged_in)  # a business time of the same moment
    expected = shown(logged_in)
    admin, supervisor = client_for("admin"), client_for("supervisor")
    assert expected in text(admin.get("/admin/user/"))  # 上次登录
    assert expected in text(supervisor.get("/admin/opportunity/"))  # 创建时间


def test_login_times_flask_security_stored_show_in_beijing_time_without_microseconds(
        client_for, users):
    User.update(last_login_at=MOMENT.replace(second=12, microsecond=123456),
                created_at=MOMENT).where(User.id == users["xiaoming"].id).execute()
    admin = client_for("admin")
    assert_beijing(text(admin.get("/admin/user/")), "user list")
    assert_beijing(text(admin.get(f"/admin/user/details/?id={users['xiaoming'].id}")),
                   "user details")


def test_service_steps_details_and_history_show_beijing_time(client_for, users):
    service = a_service(users, a_customer(users))
    service.assign(users["xiaoming"], by=users["supervisor"], at=MOMENT)
    service.handle("已回电说明保修两年", by=users["xiaoming"], at=MOMENT)
    manager = client_for("xiaoming")
    for url in [f"/admin/service_feedback/feedback/?id={service.id}",
                f"/admin/service_feedback/details/?id={service.id}",
                "/admin/service_feedback/"]:
        response = manager.get(url)
        assert response.status_code == 200, url
        assert_beijing(text(response), url)


def test_the_plan_page_and_the_permission_history_show_beijing_time(client_for, users):
    opportunity = an_opportunity(users)
    opportunity.assign(users["xiaoming"], by=users["supervisor"], at=MOMENT)
    page = text(client_for("xiaoming").get(f"/admin/plan/plan/?id={opportunity.id}"))
    assert_beijing(page, "plan")
    role = Role.get(Role.code == "manager")
    PermissionChange.create(role=role, permission="customers.customer", before="own",
                            after="all", changed_by=users["admin"], changed_at=MOMENT)
    page = text(client_for("admin").get(f"/admin/permission/?role={role.id}"))
    assert_beijing(page, "permission history")


def test_the_create_screen_shows_the_beijing_time_of_now(client_for, users):
    before = local(now())
    page = text(client_for("xiaoming").get("/admin/opportunity/new/"))
    after = local(now())
    value = re.search(r'id="crm-stamp-created_at"[^>]*value="([^"]*)"', page).group(1)
    assert value in {before.strftime("%Y-%m-%d %H:%M"), after.strftime("%Y-%m-%d %H:%M")}


def test_a_lock_ends_at_a_beijing_time(app, users, client_for):
    until = now() + datetime.timedelta(minutes=10)
    User.update(failed_logins=5, locked_until=until).where(
        User.id == users["xiaoming"].id).execute()
    ends = local(User.get_by_id(users["xiaoming"].id).lock_ends())
    listed = text(client_for("admin").get("/admin/user/"))
    assert f"已锁定至 {ends:%Y-%m-%d %H:%M}" in listed
    message = text(login(app.test_client(), "xiaoming"))
    until_shown = f"{ends:%H:%M}" if ends.date() == local_today() else f"{ends:%Y-%m-%d %H:%M}"
    assert f"该账户已被锁定至 {until_shown}" in message


def test_no_page_of_a_busy_day_shows_microseconds(client_for, users):
    customer = a_customer(users)
    opportunity = an_opportunity(users, at=MOMENT.replace(microsecond=654321))
    service = a_service(users, customer, at=MOMENT.replace(microsecond=654321))
    StatusChange.update(changed_at=MOMENT.replace(microsecond=111111)).execute()
    supervisor = client_for("supervisor")
    for url in ["/admin/opportunity/", f"/admin/opportunity/details/?id={opportunity.id}",
                "/admin/service_assign/", f"/admin/service_assign/details/?id={service.id}",
                "/admin/customer/", f"/admin/customer/details/?id={customer.id}"]:
        page = text(supervisor.get(url))
        assert not MICROSECONDS.search(page), (url, MICROSECONDS.search(page))


# -- business days are Beijing's --------------------------------------------------------

def test_a_customer_made_at_01_30_beijing_is_numbered_by_that_day(users):
    customer = a_customer(users, at=MOMENT)
    assert customer.number.startswith("KH261201")
    assert Customer.create_numbered(MOMENT, name="第二个", manager=users["xiaoming"]).number \
        == "KH261201002"


def test_churn_detection_counts_beijings_today(app, users, frozen_clock):
    customer = a_customer(users)
    Order.create(customer=customer, number="DD-1", address="上海",
                 date=datetime.date(2029, 12, 31))
    # six months before UTC's day (30 June) is 30 December: the order is not too old yet
    assert ChurnRecord.detect(datetime.date(2030, 6, 30)) == 0
    result = app.test_cli_runner().invoke(args=["detect-churn"])
    assert result.exit_code == 0, result.output
    assert "1 churn warning(s) opened" in result.output  # 1 July: 31 December is too old
    assert ChurnRecord.get().customer_id == customer.id


def test_a_postponed_measure_is_dated_on_the_beijing_clock(client_for, users):
    customer = a_customer(users)
    record = ChurnRecord.create(customer=customer, created_at=MOMENT)
    record.postpone("电话回访", by=users["xiaoming"], at=MOMENT)
    assert ChurnRecord.get_by_id(record.id).measure_list() == [f"{BEIJING} 小明：电话回访"]
    page = text(client_for("xiaoming").get(f"/admin/churn/details/?id={record.id}"))
    assert BEIJING in page and not MICROSECONDS.search(page)


def test_plan_items_start_on_beijings_today(client_for, users, frozen_clock):
    opportunity = an_opportunity(users)
    opportunity.assign(users["xiaoming"], by=users["supervisor"], at=MOMENT)
    client = client_for("xiaoming")
    url = f"/admin/plan/plan/?id={opportunity.id}"
    assert 'min="2030-07-01"' in text(client.get(url))
    for day, saved in (("2030-06-30", 0), ("2030-07-01", 1)):
        client.post(url, data={"op": "add", "date": day, "content": "上门演示",
                               "csrf_token": csrf_token(client, "/admin/")})
        assert PlanItem.select().count() == saved, day


def test_the_day_range_filter_picks_beijing_days(client_for, users):
    a_service(users, a_customer(users), summary="凌晨的咨询")  # 1 December, 01:30 in Beijing
    client = client_for("supervisor")
    for days, found in (("2026-12-01 to 2026-12-01", True), ("2026-11-30 to 2026-11-30", False),
                        ("2026-11-01 to 2026-11-30", False), ("2026-12-01 to 9999-12-31", True),
                        ("0001-01-01 to 2026-12-01", True)):
        page = text(client.get(chosen(client, "/admin/service_assign/", "创建日期", value=days)))
        assert ("凌晨的咨询" in page) is found, days


def test_report_years_and_periods_are_beijings(users):
    new_year = datetime.datetime(2026, 12, 31, 17, 30)  # 1 January 2027, 01:30 in Beijing
    customer = a_customer(users)
    a_service(users, customer, at=new_year)
    assert reports.service_years() == [2027]
    counted = {year: sum(r.count for r in reports.service(year=year)) for year in (2026, 2027)}
    assert counted == {2026: 0, 2027: 1}
    day = datetime.date(2027, 1, 1)
    assert sum(r.count for r in reports.service(date_from=day, date_to=day)) == 1
    lost = a_customer(users, name="流失客户")
    ChurnRecord.create(customer=lost, status=ChurnRecord.CONFIRMED, reason="改向他处采购",
                       created_at=new_year, confirmed_at=new_year)
    assert [row.year for row in reports.churn()] == [2027] and reports.churn_years() == [2027]


# -- configuration ----------------------------------------------------------------------

def test_timezone_is_configurable_and_drives_babel(fresh_app):
    from admin_views.formats import shown_time
    try:
        app = fresh_app(TIMEZONE="America/New_York")
        assert app.config["BABEL_DEFAULT_TIMEZONE"] == "America/New_York"
        with app.test_request_context():
            assert shown_time(MOMENT) == "2026-11-30 12:30"
        assert local_today(at=MOMENT) == datetime.date(2026, 11, 30)
        with pytest.raises(ValueError, match="unknown time zone"):
            fresh_app(TIMEZONE="Mars/Olympus_Mons")
    finally:
        set_time_zone(DEFAULT_TIMEZONE)
    assert local_today(at=MOMENT) == datetime.date(2026, 12, 1)


# -- upgrading a database that stored local times ----------------------------------------

@pytest.mark.parametrize("named_zone", [None, "Asia/Shanghai"])
def test_the_upgrade_turns_stored_local_times_into_utc(tmp_path, monkeypatch, process_zone,
                                                      named_zone):
    """Before 0008 the server's local time was stored (Flask-Security's login times were
    UTC). The zone is UPGRADE_FROM_TIMEZONE's, else the upgrading process's own."""
    if named_zone:
        monkeypatch.setenv("UPGRADE_FROM_TIMEZONE", named_zone)
    else:
        monkeypatch.delenv("UPGRADE_FROM_TIMEZONE", raising=False)
    old = open_database(scratch_database(tmp_path, "times"))
    try:
        assert schema.upgrade(old, target="0001_initial") == ["0001_initial"]
        wall = datetime.datetime(2026, 12, 1, 1, 30)  # what the old Beijing server wrote
        user = Table("user", ("id", "username", "full_name", "active", "fs_uniquifier",
                              "created_at", "last_login_at")).bind(old)
        user.insert(username="laowang", full_name="老王", active=True, fs_uniquifier="u1",
                    created_at=wall, last_login_at=MOMENT).execute()
        user_id = old.execute_sql('SELECT id FROM "user"').fetchone()[0]
        Table("customer", ("id", "number", "name", "manager_id", "status", "created_at")) \
            .bind(old).insert(number="KH261201001", name="远景", manager_id=user_id,
                              status="active", created_at=wall).execute()
        Table("status_change", ("id", "entity", "entity_id", "to_status", "changed_by_id",
                                "changed_at")).bind(old).insert(
            entity="customer", entity_id=1, to_status="active", changed_by_id=user_id,
            changed_at=wall).execute()
        assert "0008_times_in_utc" in schema.upgrade(old)

        shifted = named_zone is not None or process_zone == "Asia/Shanghai"
        expected = MOMENT if shifted else wall
        times = old.execute_sql(
            'SELECT u.created_at, u.last_login_at, c.created_at, s.changed_at FROM "user" u, '
            "customer c, status_change s").fetchone()
        parse = models.User.created_at.python_value
        assert [parse(t) for t in times] == [expected, MOMENT, expected, expected]
        assert schema.upgrade(old) == []  # applied once: the times move once
    finally:
        getattr(old, "close_all", old.close)()


def test_an_unknown_old_zone_stops_the_upgrade_and_converts_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("UPGRADE_FROM_TIMEZONE", "Asia/Beijing")  # not a tz database name
    old = open_database(f"sqlite:///{tmp_path}/old.db")
    before = [m.name for m in schema.runner(old).migrations()
              if m.name < "0008_times_in_utc"]
    schema.upgrade(old, target=before[-1])
    with pytest.raises(ValueError, match="UPGRADE_FROM_TIMEZONE='Asia/Beijing'"):
        schema.upgrade(old)
    assert schema.pending(old)[0] == "0008_times_in_utc"  # left to be run again, named right
    old.close()
