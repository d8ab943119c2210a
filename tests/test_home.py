"""工作台: the rules of the work waiting (models/work.py), and the home page and badge
that count it per role, within the row scope, each count linked to a list showing as many."""
import datetime
import re

import pytest

from models import (
    Activity,
    ChurnRecord,
    Customer,
    Opportunity,
    PlanItem,
    Role,
    ServiceRequest,
    versions,
    work,
)
from models.base import day_start, local_today, now
from tests.conftest import make_user

DAY = datetime.timedelta(days=1)


def customer(manager, name, seq):
    return Customer.create(number=f"KH261201{seq:03d}", name=name, manager=manager,
                           region="北京", level=1)


def opportunity(users, name, manager=None, days_ago=0):
    found = Opportunity.open(users["supervisor"], customer_name=name, probability=50,
                             summary=f"{name}的机会", description="-")
    if manager:
        found.assign(users[manager], users["supervisor"], at=now() - days_ago * DAY)
    return found


def service(users, on, manager=None, handled=False):
    found = ServiceRequest.open(users["supervisor"], service_type="咨询", summary=f"{on.name}咨询",
                                customer=on, request="-")
    if manager:
        found.assign(users[manager], users["supervisor"])
        if handled:
            found.handle("已答复", users[manager])
    return found


def rows(ids, condition):
    return {o.id for o in type(next(iter(ids.values()))).select().where(condition)} \
        & {o.id for o in ids.values()}


@pytest.fixture
def book(users):
    """小明 and 旺财's work, made by hand; what each panel must count is in the names."""
    today = local_today()
    mine = [customer(users["xiaoming"], f"小明的客户{i}", i) for i in (1, 2)]
    theirs = [customer(users["wangcai"], "旺财的客户", 3)]
    Activity.create(customer=mine[0], date=today - 10 * DAY, place="上海", summary="拜访")
    # 90 days ago: silent
    Activity.create(customer=mine[1], date=today - 90 * DAY, place="上海", summary="拜访")
    Activity.create(customer=theirs[0], date=today, place="北京", summary="拜访")

    o = {"due": opportunity(users, "到期", "xiaoming"),
         "overdue": opportunity(users, "逾期", "xiaoming", days_ago=5),
         "ahead": opportunity(users, "提前", "xiaoming"),
         "executed": opportunity(users, "已执行", "xiaoming"),
         "stalled": opportunity(users, "停滞", "xiaoming", days_ago=40),
         "theirs": opportunity(users, "旺财的", "wangcai"),
         "new1": opportunity(users, "未指派一"), "new2": opportunity(users, "未指派二")}
    PlanItem.create(opportunity=o["due"], date=today, content="今天")
    PlanItem.create(opportunity=o["overdue"], date=today - 3 * DAY, content="三天前")
    PlanItem.create(opportunity=o["ahead"], date=today + DAY, content="明天")
    PlanItem.create(opportunity=o["executed"], date=today - DAY, content="昨天", result="完成")
    PlanItem.create(opportunity=o["theirs"], date=today, content="今天")

    s = {"new": service(users, mine[0]),
         "mine": service(users, mine[0], "xiaoming"),
         "handled": service(users, mine[1], "xiaoming", handled=True),
         "theirs": service(users, theirs[0], "wangcai")}
    c = {"mine": ChurnRecord.create(customer=mine[0]),
         "theirs": ChurnRecord.create(customer=theirs[0]),
         "postponed": ChurnRecord.create(customer=mine[1], status=ChurnRecord.POSTPONED)}
    return {"customers": mine + theirs, "opportunities": o, "services": s, "churn": c}


# -- the rules, without HTTP ----------------------------------------------------------

def test_a_plan_is_due_from_its_day_on_until_executed(book):
    o = book["opportunities"]
    assert rows(o, work.plan_due()) == {o["due"].id, o["overdue"].id, o["theirs"].id}
    tomorrow = local_today() + DAY
    assert o["ahead"].id in rows(o, work.plan_due(tomorrow))
    PlanItem.update(result="完成").where(PlanItem.opportunity == o["due"]).execute()
    assert o["due"].id not in rows(o, work.plan_due())
    PlanItem.update(result="").where(PlanItem.opportunity == o["due"]).execute()
    assert o["due"].id in rows(o, work.plan_due())  # an empty 执行效果 is none


def test_a_due_plan_of_a_closed_development_waits_for_nobody(book, users):
    o = book["opportunities"]
    o["due"].stop(users["xiaoming"])
    assert o["due"].id not in rows(o, work.plan_due())


def test_a_development_without_plan_items_waits_for_its_plan(book, users):
    o = book["opportunities"]
    assert rows(o, work.unplanned()) == {o["stalled"].id}
    o["stalled"].add_plan_item(local_today(), "打电话", local_today())
    assert rows(o, work.unplanned()) == set()


def test_a_development_stalls_after_30_days_without_plan_activity(book):
    o = book["opportunities"]
    assert rows(o, work.stalled()) == {o["stalled"].id}
    # an item within the last 30 days (or planned ahead) is activity
    PlanItem.create(opportunity=o["stalled"], date=local_today() - 30 * DAY, content="月初")
    assert rows(o, work.stalled()) == set()
    # assigned 29 days ago, nothing planned: not yet stalled
    Opportunity.update(assigned_at=day_start(local_today() - 29 * DAY)).where(
        Opportunity.id == o["overdue"].id).execute()
    PlanItem.delete().where(PlanItem.opportunity == o["overdue"]).execute()
    assert o["overdue"].id not in rows(o, work.stalled())
    assert o["overdue"].id in rows(o, work.stalled(local_today() + DAY))


def test_a_customer_is_silent_after_90_days_without_an_interaction(book):
    customers = {c.id: c for c in book["customers"]}
    silent = {c.id for c in Customer.select().where(work.silent())}
    assert silent & set(customers) == {book["customers"][1].id}
    Activity.create(customer=book["customers"][1], date=local_today() - 89 * DAY,
                    place="上海", summary="电话")
    assert not {c.id for c in Customer.select().where(work.silent())} & set(customers)


def test_days_in_development_count_the_companys_days(book):
    assert work.days_in_development(book["opportunities"]["stalled"]) == 40
    assert work.days_in_development(book["opportunities"]["new1"]) == 0


# -- the home page, per role -------------------------------------------------------------

PANEL = re.compile(r'id="crm-panel-([a-z_]+)".*?<a class="stretched-link[^"]*" href="([^"]+)">'
                   r'\s*<div class="display-4 crm-panel-count">([^<]+)</div>', re.S)


def panels(client):
    page = client.get("/admin/").get_data(as_text=True)
    return {key: (int(count), href.replace("&amp;", "&"))
            for key, href, count in PANEL.findall(page)}, page


def listed(client, href):
    """The rows the list behind a panel's link shows."""
    response = client.get(href)
    assert response.status_code == 200
    return response.get_data(as_text=True).count('class="list-buttons-column"')


def test_a_manager_sees_his_own_work_and_never_his_colleagues(client_for, book):
    client = client_for("xiaoming")
    shown, page = panels(client)
    assert {key: count for key, (count, _) in shown.items()} == {
        "plan_due": 2, "unplanned": 1, "to_handle": 1, "to_feedback": 1, "churn_warnings": 1,
        "developing": 5, "silent": 1}
    for key, (count, href) in shown.items():
        assert listed(client, href) == count, key
    # his developments, longest first, with their days
    assert page.index("停滞") < page.index("逾期") and "40 天" in page
    # the badge: the to-dos on every page, the same sum
    badge = re.search(r'id="crm-todo".*?badge-warning">(\d+)<', page, re.S)
    assert badge and int(badge.group(1)) == 2 + 1 + 1 + 1 + 1
    other = client.get("/admin/customer/").get_data(as_text=True)
    assert re.search(r'id="crm-todo".*?badge-warning">6<', other, re.S)
    # his warnings are all his: no breakdown by 客户经理 under them
    warnings = page[page.index('id="crm-panel-churn_warnings"'):]
    assert "小明（xiaoming）" not in warnings[:warnings.index("</div>\n      </div>")]


def test_the_supervisor_sees_the_work_to_hand_out(client_for, book, users):
    client = client_for("supervisor")
    shown, page = panels(client)
    counts = {key: count for key, (count, _) in shown.items()}
    assert counts["unassigned"] == 2 and counts["to_assign"] == 1
    assert counts["stalled"] == 1 and counts["churn_warnings"] == 2
    for key, (count, href) in shown.items():
        assert listed(client, href) == count, key
    # the unassigned, oldest first; warnings per 客户经理, each linked to his
    assert page.index("未指派一") < page.index("未指派二")
    for manager in ("小明（xiaoming）", "旺财（wangcai）"):
        link = re.search(r'<a class="crm-data" href="([^"]+)">' + re.escape(manager) + "</a>",
                         page)
        assert link and listed(client, link.group(1).replace("&amp;", "&")) == 1
    load = page[page.index('id="crm-manager-load"'):]
    assert re.search(r"小明（xiaoming）</td><td[^>]*>5</td><td[^>]*>2</td>", load)
    assert re.search(r"旺财（wangcai）</td><td[^>]*>1</td><td[^>]*>1</td>", load)
    # kept until the work changes: a development stopped, the next view counts it
    book["opportunities"]["due"].stop(users["xiaoming"])
    page = client.get("/admin/").get_data(as_text=True)
    load = page[page.index('id="crm-manager-load"'):]
    assert re.search(r"小明（xiaoming）</td><td[^>]*>4</td><td[^>]*>2</td>", load)


def test_a_role_gets_the_panels_of_what_it_is_granted(app, client_for, book, users):
    Role.create(name="服务专员", code="service_clerk", permissions=["service.assign"])
    users["clerk"] = make_user(app, "clerk", "服务专员甲", ["service_clerk"])
    shown, page = panels(client_for("clerk"))
    assert {key: count for key, (count, _) in shown.items()} == {"to_assign": 1}
    assert "crm-manager-load" not in page


def test_nothing_waiting_says_so(client_for, users):
    shown, page = panels(client_for("xiaoming"))
    assert all(count == 0 for count, _ in shown.values())
    assert 'id="crm-todo"' not in page


def test_the_administrator_sees_users_locks_and_grant_changes(client_for, users):
    users["wangcai"].locked_until = now() + datetime.timedelta(minutes=10)
    users["wangcai"].save()
    shown, page = panels(client_for("admin"))
    locked = page[page.index('id="crm-locked-users"'):page.index('id="crm-permission-changes"')]
    assert "旺财（wangcai）" in locked and "小明" not in locked
    assert 'id="crm-todo"' not in page


# -- the daily digest ----------------------------------------------------------------

def test_without_a_mail_server_the_digest_sends_nothing_and_succeeds(app, book):
    result = app.test_cli_runner().invoke(args=["send-digest"])
    assert result.exit_code == 0 and "MAIL_SERVER is not set" in result.output


def test_the_digest_mails_each_user_his_own_to_dos(app, book, users, monkeypatch):
    mail = app.extensions["mail"]
    monkeypatch.setitem(app.config, "MAIL_SERVER", "smtp.example.com")
    monkeypatch.setitem(app.config, "BASE_URL", "https://crm.example.com")
    monkeypatch.setattr(mail, "suppress", True)  # the fake backend: recorded, not sent
    for username, email in (("xiaoming", "xm@example.com"), ("wangcai", "wc@example.com"),
                            ("executive", "boss@example.com")):
        users[username].email = email
        users[username].save()
    users["wangcai"].locale = "en"
    users["wangcai"].save()
    with mail.record_messages() as outbox:
        result = app.test_cli_runner().invoke(args=["send-digest"])
    assert result.exit_code == 0, result.output
    sent = {message.recipients[0]: message for message in outbox}
    assert set(sent) == {"xm@example.com", "wc@example.com"}  # the executive has no to-dos
    mine = sent["xm@example.com"]
    assert mine.subject == "客户关系管理系统：您有 6 项待办"
    assert "到期的计划项：2" in mine.body and "流失预警：1" in mine.body
    assert "https://crm.example.com/admin/plan/?flt0_" in mine.body
    theirs = sent["wc@example.com"]  # in his language, his own counts
    assert theirs.subject == "CRM: 3 things to do"
    assert "Plan items due: 1" in theirs.body and "Churn warnings: 1" in theirs.body
    assert not re.search(r"[\u4e00-\u9fff]", theirs.subject + theirs.body.replace("旺财", ""))


# -- 高管: this year against last year ----------------------------------------------------

def test_by_month_counts_in_the_companys_months(users):
    """31 January 17:00 UTC is 1 February in Beijing: a February customer."""
    at = datetime.datetime
    for number, created in (("A", at(2026, 1, 31, 15, 59)), ("B", at(2026, 1, 31, 16, 0)),
                            ("C", at(2026, 12, 31, 15, 59)), ("D", at(2026, 12, 31, 16, 0))):
        Customer.create(number=number, name=number, manager=users["xiaoming"],
                        created_at=created)
    counts = work.by_month(Customer.select(), Customer.created_at, 2026)
    assert counts == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert work.by_month(Customer.select(), Customer.created_at, 2027)[0] == 1
    assert work.by_month(Customer.select().where(Customer.number != "B"),
                         Customer.created_at, 2026)[1] == 0


def test_this_year_so_far_ends_with_this_month():
    assert work.so_far(2026, datetime.date(2026, 12, 1)) == (datetime.date(2026, 1, 1),
                                                            datetime.date(2027, 1, 1))
    assert work.so_far(2025, datetime.date(2026, 3, 31)) == (datetime.date(2025, 1, 1),
                                                            datetime.date(2025, 4, 1))


def test_average_takes_the_rated_rows_of_the_period(book, users):
    services = ServiceRequest.select().where(ServiceRequest.id.in_(
        [s.id for s in book["services"].values()]))
    ServiceRequest.update(satisfaction=2).where(
        ServiceRequest.id == book["services"]["mine"].id).execute()
    ServiceRequest.update(satisfaction=5).where(
        ServiceRequest.id == book["services"]["theirs"].id).execute()
    year = local_today().year
    assert work.average(services, ServiceRequest.created_at, ServiceRequest.satisfaction,
                        work.so_far(year)) == 3.5
    assert work.average(services, ServiceRequest.created_at, ServiceRequest.satisfaction,
                        work.so_far(year - 1)) is None


FIGURE = re.compile(r'id="crm-figure-([a-z_]+)".*?crm-figure-this">([^<]+)<', re.S)


def test_the_executive_compares_this_year_with_last(client_for, book):
    page = client_for("executive").get("/admin/").get_data(as_text=True)
    figures = dict(FIGURE.findall(page))
    assert figures == {"paid": "0.00", "new_customers": "3", "services": "4",
                       "satisfaction": "—", "churn": "0"}
    assert "去年同期：0" in page and 'class="crm-trend' in page
    assert not panels(client_for("xiaoming"))[1].count("crm-figure-")


def test_the_figures_keep_the_report_scope(app, client_for, book, users):
    Role.create(name="本人报表", code="own_reports", permissions=["reports.service:own"])
    users["mine"] = make_user(app, "mine", "小明助理", ["own_reports"])
    Customer.update(manager=users["mine"]).where(
        Customer.id == book["customers"][0].id).execute()
    page = client_for("mine").get("/admin/").get_data(as_text=True)
    assert dict(FIGURE.findall(page)) == {"services": "2", "satisfaction": "—"}


# -- 已回款金额: the month summary of the paid orders ------------------------------------

@pytest.fixture
def sales(book, users, monkeypatch):
    """Paid and unpaid orders of this year and last, today being 15 March 2026: what the
    figure must show is in the comments."""
    from admin_views import home
    from models import Order, OrderLine, Product
    monkeypatch.setattr(home, "local_today", lambda: datetime.date(2026, 3, 15))
    item = Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                          price=7500)
    mine, _, theirs = book["customers"]

    def order(customer, day, lines, status=Order.PAID):
        found = Order.create(customer=customer, number=f"DD{day:%Y%m%d}{customer.id:04d}",
                             date=day, address="北京", status=status)
        for quantity, price in lines:
            OrderLine.create(order=found, product=item, quantity=quantity, unit="台",
                             price=price)
        return found

    D = datetime.date
    order(mine, D(2026, 1, 1), [(2, "7500.00"), (10, "0.07")])  # this year: 15,000.70
    order(theirs, D(2026, 3, 31), [(1, "12345.80")])  # this year: 12,345.80
    order(mine, D(2026, 2, 14), [(9, "100.00")], status=Order.UNPAID)  # not paid
    order(theirs, D(2026, 4, 1), [(1, "999.00")])  # after this month: not yet
    order(mine, D(2025, 3, 31), [(3, "360.00")])  # last year's January–March: 1,080.00
    order(theirs, D(2025, 4, 1), [(1, "5000.00")])  # last year, after March: not counted
    order(mine, D(2024, 3, 1), [(1, "1.00")])  # the year before: not counted
    return {"this": "27,346.50", "last": "1,080.00"}


def paid_figure(page):
    found = re.search(r'id="crm-figure-paid".*?href="([^"]+)".*?crm-figure-this">([^<]+)<'
                      r'.*?crm-figure-last">([^<]+)<.*?</svg>', page, re.S)
    return found and (found.group(1).replace("&amp;", "&"), found.group(2).strip(),
                      found.group(3).strip(), found.group(0))


def test_the_executive_sees_the_paid_amount_this_year_against_last(client_for, sales):
    page = client_for("executive").get("/admin/").get_data(as_text=True)
    url, this, last, card = paid_figure(page)
    assert (this, last) == (sales["this"], "去年同期：" + sales["last"])
    assert "已回款金额（元）" in card
    # the month bars: January, March and April of this year, March and April of last,
    # against the largest month (January 2026: 100)
    bars = re.findall(r'class="crm-trend-(last|this)" x="[0-9]+" y="[0-9.]+" width="4" '
                      r'height="([0-9.]+)"', card)
    heights = {(kind, i // 2 + 1): float(h) for i, (kind, h) in enumerate(bars) if float(h)}
    assert set(heights) == {("this", 1), ("this", 3), ("this", 4), ("last", 3), ("last", 4)}
    assert heights[("this", 1)] == 38.0
    # the link opens 客户贡献分析 of this year: the customers whose orders make the figure
    assert url == "/admin/reports/contribution/?year=2026"
    report = client_for("executive").get(url)
    assert report.status_code == 200
    text = report.get_data(as_text=True)
    assert "旺财的客户" in text and "小明的客户1" in text


def test_the_paid_amount_reads_in_english(client_for, sales, users):
    users["executive"].locale = "en"
    users["executive"].save()
    page = client_for("executive").get("/admin/").get_data(as_text=True)
    _, this, last, card = paid_figure(page)
    assert "Paid amount (yuan)" in card and last == "Same period last year: 1,080.00"
    assert not re.search(r"[\u4e00-\u9fff]", card)


def test_the_paid_amount_is_shown_to_who_sees_every_customers_orders_only(
        app, client_for, sales, users):
    assert paid_figure(client_for("supervisor").get("/admin/").get_data(as_text=True))
    for username in ("xiaoming", "admin"):  # no 客户贡献分析 at all
        assert not paid_figure(client_for(username).get("/admin/").get_data(as_text=True))
    # 客户贡献分析 of his own customers only: a company-wide sum is not his to see
    Role.create(name="本人贡献", code="own_contribution",
                permissions=["reports.contribution:own"])
    users["own"] = make_user(app, "own", "小明助理", ["own_contribution"])
    client = client_for("own")
    assert client.get("/admin/reports/contribution/").status_code == 200
    assert not paid_figure(client.get("/admin/").get_data(as_text=True))
    # the same role granted every customer sees it
    Role.update(permissions=["reports.contribution:all"]).where(
        Role.code == "own_contribution").execute()
    assert paid_figure(client.get("/admin/").get_data(as_text=True))[1] == sales["this"]


def test_the_paid_amount_reads_the_month_summary_by_its_key(client_for, sales, database,
                                                            monkeypatch):
    """Every statement of the executive's home page: the paid amounts come from sales_month
    through its key (year, month); no statement reads an order or a line."""
    from peewee import PostgresqlDatabase

    from tests.test_reports import plans
    client = client_for("executive")
    page = []
    found = plans(database, monkeypatch,
                  lambda: page.append(client.get("/admin/").get_data(as_text=True)))
    assert paid_figure(page[0])[1] == sales["this"]
    assert not [plan for plan in found if "order" in plan.replace("ORDER BY", "")], found
    summary, = [plan for plan in found if "sales_month" in plan]
    if isinstance(database, PostgresqlDatabase):
        assert re.search(r"Index (Only )?Scan using sales_month_pkey", summary), summary
    else:
        assert re.search(r"SEARCH \w+ USING (COVERING )?INDEX sqlite_autoindex_sales_month_1 "
                         r"\(year=\?\)", summary), summary
    assert work.paid_by_month(2026, 2025)[2026][:4] == [1500070, 0, 1234580, 99900]


# -- counted again only when the work changed (models/versions.py) -----------------------

def moved(database, change, version=versions.WORK):
    before = versions.current(database)[version]
    change()
    return versions.current(database)[version] != before


def test_every_change_to_the_counted_rows_moves_the_work_version(book, users, database):
    o, s, c = book["opportunities"], book["services"], book["churn"]
    mine = book["customers"][0]
    counted = {
        "opportunity opened": lambda: opportunity(users, "新的"),
        "opportunity assigned": lambda: o["new1"].assign(users["xiaoming"], users["supervisor"]),
        "plan item added": lambda: PlanItem.create(opportunity=o["ahead"], date=local_today(),
                                                   content="再访"),
        "plan item executed": lambda: PlanItem.update(result="完成").where(
            PlanItem.opportunity == o["due"].id).execute(),
        "plan item deleted": lambda: PlanItem.delete().where(
            PlanItem.opportunity == o["overdue"].id).execute(),
        "service handled": lambda: s["mine"].handle("已答复", users["xiaoming"]),
        "service opened": lambda: service(users, mine),
        "churn warning": lambda: ChurnRecord.create(customer=book["customers"][2]),
        "churn deleted": lambda: ChurnRecord.delete().where(
            ChurnRecord.id == c["theirs"].id).execute(),
        "interaction recorded": lambda: Activity.create(customer=mine, date=local_today(),
                                                        place="上海", summary="电话"),
        "customer created": lambda: customer(users["xiaoming"], "新客户", 9),
        "customer handed over": lambda: Customer.update(manager=users["wangcai"]).where(
            Customer.id == mine.id).execute(),
        "customer lost": lambda: Customer.update(status=Customer.LOST).where(
            Customer.id == mine.id).execute(),
    }
    for name, change in counted.items():
        assert moved(database, change), name
    # what no panel counts leaves it
    assert not moved(database, lambda: Customer.update(phone="010-12345678").where(
        Customer.id == mine.id).execute())
    assert not moved(database, lambda: users["xiaoming"].end_sessions())


def test_kept_counts_are_counted_again_when_the_version_moves_or_they_expire():
    clock = [0.0]
    kept = versions.Kept(clock=lambda: clock[0])
    calls = []

    def count(n):
        return lambda: calls.append(n) or n

    assert kept.get(7, "xiaoming", "plan_due", count(2)) == 2
    assert kept.get(7, "xiaoming", "plan_due", count(3)) == 2  # kept
    assert kept.get(7, "wangcai", "plan_due", count(4)) == 4  # per user
    assert kept.get(8, "xiaoming", "plan_due", count(5)) == 5  # the work changed
    clock[0] = versions.Kept.SECONDS + 1
    assert kept.get(8, "xiaoming", "plan_due", count(6)) == 6  # expired
    assert kept.get(None, "xiaoming", "plan_due", count(7)) == 7  # no version: never kept
    assert calls == [2, 4, 5, 6, 7]


def statements_of(database, client, url):
    seen, original = [], database.execute_sql

    def traced(sql, *args, **kwargs):
        seen.append(sql)
        return original(sql, *args, **kwargs)

    database.execute_sql = traced
    try:
        assert client.get(url).status_code == 200
    finally:
        database.execute_sql = original
    return seen


def badge(client):
    page = client.get("/admin/customer/").get_data(as_text=True)
    found = re.search(r'id="crm-todo".*?badge-warning">(\d+)<', page, re.S)
    return int(found.group(1)) if found else 0


def test_the_badge_is_counted_once_until_the_work_changes_then_at_once(
        app, client_for, book, users, database):
    client = client_for("xiaoming")
    assert badge(client) == 6
    again = statements_of(database, client, "/admin/customer/")
    assert not [sql for sql in again if "plan_item" in sql or "service_request" in sql]
    # the supervisor assigns him one more development, in another process for all we know
    o = opportunity(users, "新指派", "xiaoming")
    assert badge(client) == 7  # 待制定计划: counted again at once
    PlanItem.create(opportunity=o, date=local_today(), content="今天")
    assert badge(client) == 7  # no longer unplanned, now due
    # his grants are part of what a count depends on: the same rows, a wider scope
    role = users["xiaoming"].role_links()[0].role
    role.set_grants({**role.grants(), "customers.churn": "all"}, users["admin"])
    assert badge(client) == 7 + 1  # 旺财's customer's warning too


def test_what_the_home_page_keeps_follows_the_work_at_once(client_for, book, users):
    executive, supervisor = client_for("executive"), client_for("supervisor")

    def new_customers():
        return dict(FIGURE.findall(executive.get("/admin/").get_data(as_text=True)))[
            "new_customers"]

    def warnings_of_xiaoming():
        page = supervisor.get("/admin/").get_data(as_text=True)
        return re.search(r"小明（xiaoming）</a><span[^>]*>(\d+)<", page).group(1)

    assert (new_customers(), warnings_of_xiaoming()) == ("3", "1")
    mine = customer(users["xiaoming"], "小明的新客户", 7)
    ChurnRecord.create(customer=mine)
    assert (new_customers(), warnings_of_xiaoming()) == ("4", "2")
