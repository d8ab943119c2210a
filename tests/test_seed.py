"""The demo data of seed/demo.py: ``flask seed-demo`` and ``init-db --demo-if-new`` load it
once and deterministically, with every status and the shape the screens and reports expect.
"""
import datetime
import re
from collections import Counter

import pytest

from models import (
    ALL_MODELS,
    Activity,
    ChurnRecord,
    Contact,
    Customer,
    DictionaryEntry,
    Opportunity,
    Order,
    OrderLine,
    PlanItem,
    Product,
    ServiceRequest,
    StatusChange,
    Stock,
    User,
    UserRoles,
    db,
)
from models.base import day_start, local, local_today
from models.basedata import CUSTOMER_LEVEL, REGION, SERVICE_TYPE
from seed import demo, reference
from tests.conftest import DEMO_USERS, _clear, login, make_user

BUSINESS = [Product, Stock, Customer, Contact, Activity, Order, OrderLine, ChurnRecord,
            Opportunity, PlanItem, ServiceRequest, StatusChange]
MANAGERS = {"xiaoming", "wangcai"}
SIX_MONTHS = datetime.timedelta(days=183)


def counts():
    return {model.__name__: model.select().count() for model in ALL_MODELS}


def seed_demo(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "demo data loaded" in result.output
    return counts()


@pytest.fixture
def today(app):
    """Load the demo data as ``flask seed-demo`` does; the day it was loaded for."""
    seed_demo(app)
    return local_today()  # the company's day, as the demo counts it


def last_order(customer):
    return (Order.select(Order.date).where(Order.customer == customer)
            .order_by(Order.date.desc()).scalar())


def history(obj):
    return [(h.from_status, h.to_status, h.changed_by.username, h.changed_at)
            for h in StatusChange.of(obj)]


def assert_history_leads_to(obj, path):
    """The recorded changes chain from creation to the current status along ``path``."""
    changes = history(obj)
    assert [to for _, to, _, _ in changes] == path, obj
    assert [frm for frm, _, _, _ in changes] == [None] + path[:-1]
    times = [at for _, _, _, at in changes]
    assert times == sorted(times) and times[0] == obj.created_at
    assert path[-1] == obj.status


# -- loading ------------------------------------------------------------------

def test_seed_demo_twice_loads_the_data_once(app):
    first = seed_demo(app)
    assert all(first[model.__name__] > 0 for model in BUSINESS), first
    assert first["User"] == len(DEMO_USERS) and first["UserRoles"] == len(DEMO_USERS)
    assert seed_demo(app) == first

    # The products and warehouses of SPEC.md's demo data.
    products = {(p.name, p.model, p.batch): (p.unit, p.price) for p in Product.select()}
    assert products == {
        ("幸福牌电视机", "818 FFT", "2388 EA03"): ("台", 7500),
        ("幸福牌收音机", "天语007", "7878 006A"): ("台", 36),
        ("海龙笔记本电脑", "i60", "2688 9966"): ("台", 9800),
        ("海龙笔记本电脑", "i61", "2689 6688"): ("台", 16800),
    }
    assert {s.warehouse for s in Stock.select()} == {
        "北京-西直门库", "北京-大钟寺库", "北京-马甸库", "天津-恒远电子C库"}
    assert all(s.location and s.quantity > 0 for s in Stock.select())
    assert {s.product_id for s in Stock.select()} == {p.id for p in Product.select()}


def test_the_demo_users_log_in_with_the_demo_password(app, today):
    for username, (full_name, role_code) in DEMO_USERS.items():
        user = User.get(User.username == username)
        assert user.full_name == full_name and user.active
        assert [link.role.code for link in user.role_links()] == [role_code]
        response = login(app.test_client(), username, "crm-demo-pass")
        assert response.status_code == 302, username
        assert "/login" not in response.headers["Location"], username


def test_existing_users_are_kept_and_business_data_goes_only_into_an_empty_book(app):
    make_user(app, "admin", "老板", ["admin"])
    boss = make_user(app, "laozhang", "老张", ["manager"])
    Customer.create(number="KH260101001", name="已有客户", manager=boss)

    after = seed_demo(app)

    assert User.get(User.username == "admin").full_name == "老板"  # not overwritten
    assert set(DEMO_USERS) <= {u.username for u in User.select()}
    assert after["User"] == len(DEMO_USERS) + 1
    assert after["Product"] == 4 and after["Stock"] > 0
    assert after["Customer"] == 1  # the real customer book is left alone
    assert after["Order"] == after["Opportunity"] == after["ServiceRequest"] == 0


def test_the_load_is_deterministic_and_dated_back_from_today(app):
    def snapshot():
        return ([(c.number, c.name, c.manager.username, c.level, c.status)
                 for c in Customer.select(Customer, User).join(User).order_by(Customer.number)],
                list(OrderLine.select(Order.number, Order.date, Order.status, Product.model,
                                      OrderLine.quantity, OrderLine.price)
                     .join_from(OrderLine, Order).join_from(OrderLine, Product)
                     .order_by(Order.number, OrderLine.id).tuples()),
                [(s.summary, s.status, s.created_at)
                 for s in ServiceRequest.select().order_by(ServiceRequest.created_at)])

    day = datetime.date(2026, 3, 15)
    with app.app_context():
        demo.load(today=day)
        first = snapshot()
        # Two years of orders up to the day before ``today``, not the real today.
        last = Order.select(Order.date).order_by(Order.date.desc()).scalar()
        assert day - datetime.timedelta(days=30) < last < day
        assert Order.select().where(Order.date < day - datetime.timedelta(days=600)).exists()
        _clear(db)
        reference.load()
        demo.load(today=day)
        assert snapshot() == first


# -- what was loaded ------------------------------------------------------------

def test_about_fifty_customers_split_between_the_two_managers(today):
    customers = list(Customer.select())
    assert 45 <= len(customers) <= 55
    per_manager = Counter(c.manager.username for c in customers)
    assert set(per_manager) == MANAGERS and min(per_manager.values()) >= 20

    numbers = [c.number for c in customers]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"KH\d{9}", n) for n in numbers)
    # KH + yyMMdd of the day the customer was created (Customer.next_number(day))
    assert all(c.number[2:8] == local(c.created_at).strftime("%y%m%d") for c in customers)
    created = [local(c.created_at).date() for c in customers]
    assert min(created) < today - datetime.timedelta(days=540) and max(created) < today

    regions = set(DictionaryEntry.items(REGION))
    levels = {int(e.value) for e in DictionaryEntry.of(CUSTOMER_LEVEL)}
    assert {c.region for c in customers} == regions
    assert {c.level for c in customers} <= levels
    for c in customers:
        assert c.satisfaction in range(1, 6) and c.credit in range(1, 6)
        for field in ("name", "address", "zip_code", "phone", "fax", "website", "legal_person",
                      "bank", "bank_account", "license_no", "local_tax_no", "national_tax_no"):
            assert getattr(c, field), (c.number, field)
        assert c.registered_capital > 0 and c.annual_revenue > 0
    assert len({c.name for c in customers}) == len(customers)


def test_every_customer_has_contacts_and_activities(today):
    contacts = Counter(c.customer_id for c in Contact.select())
    activities = Counter(a.customer_id for a in Activity.select())
    for customer in Customer.select():
        assert 1 <= contacts[customer.id] <= 3, customer
        assert activities[customer.id] >= 1, customer
    assert all(c.name and c.title and c.office_phone for c in Contact.select())
    for activity in Activity.select(Activity, Customer).join(Customer):
        assert local(activity.customer.created_at).date() <= activity.date < today
        assert activity.place and activity.summary


def test_two_years_of_orders_whose_lines_copy_their_product(today):
    orders = list(Order.select())
    assert len({o.number for o in orders}) == len(orders)
    dates = [o.date for o in orders]
    assert max(dates) < today and min(dates) < today - datetime.timedelta(days=600)
    status = Counter(o.status for o in orders)
    assert status[Order.PAID] > 3 * status[Order.UNPAID] > 0

    lines = Counter(line.order_id for line in OrderLine.select())
    assert all(1 <= lines[o.id] <= 4 for o in orders)
    mismatched = (OrderLine.select().join(Product)
                  .where((OrderLine.unit != Product.unit) | (OrderLine.price != Product.price)))
    assert mismatched.count() == 0
    assert all(line.quantity > 0 for line in OrderLine.select())
    for order in Order.select(Order, Customer).join(Customer):
        assert local(order.customer.created_at).date() <= order.date
        assert order.address


def test_some_customers_stopped_ordering_and_churn_is_in_every_status(today):
    stopped = [c for c in Customer.active()
               if local(c.created_at).date() < today - SIX_MONTHS
               and (last_order(c) is None or last_order(c) < today - SIX_MONTHS)]
    assert 2 <= len(stopped) <= 8
    open_records = {r.customer_id for r in ChurnRecord.select()
                    .where(ChurnRecord.status.in_(ChurnRecord.OPEN))}
    assert [c for c in stopped if c.id not in open_records]  # left for detection to find

    records = {r.status: r for r in ChurnRecord.select()}
    assert set(records) == set(ChurnRecord.STATUS)
    for record in records.values():
        assert record.last_order_date == last_order(record.customer)
        assert record.last_order_date < today - SIX_MONTHS
        assert local(record.created_at).date() > record.last_order_date + SIX_MONTHS
    assert records[ChurnRecord.WARNING].customer.status == Customer.ACTIVE
    postponed = records[ChurnRecord.POSTPONED]
    assert postponed.measures and postponed.customer.status == Customer.ACTIVE
    confirmed = records[ChurnRecord.CONFIRMED]
    assert confirmed.reason and confirmed.confirmed_at
    assert confirmed.customer.status == Customer.LOST
    assert [to for _, to, _, _ in history(confirmed)] == [ChurnRecord.POSTPONED,
                                                          ChurnRecord.CONFIRMED]


def test_opportunities_in_every_status_with_plans_and_history(today):
    opportunities = list(Opportunity.select())
    by_status = Counter(o.status for o in opportunities)
    assert set(by_status) == set(Opportunity.STATUS)
    assert {o.created_by.username for o in opportunities} <= MANAGERS | {"supervisor"}
    paths = {Opportunity.NEW: [Opportunity.NEW],
             Opportunity.ASSIGNED: [Opportunity.NEW, Opportunity.ASSIGNED],
             Opportunity.DEVELOPED: [Opportunity.NEW, Opportunity.ASSIGNED,
                                     Opportunity.DEVELOPED],
             Opportunity.FAILED: [Opportunity.NEW, Opportunity.ASSIGNED, Opportunity.FAILED]}
    for o in opportunities:
        assert 0 <= o.probability <= 100 and o.summary and o.description and o.customer_name
        assert_history_leads_to(o, paths[o.status])
        if o.status == Opportunity.NEW:
            assert o.assigned_to is None and o.assigned_at is None and not o.plan_items.count()
            continue
        assert o.assigned_to.username in MANAGERS and o.assigned_at > o.created_at
        assert history(o)[1][2] == "supervisor"  # 指派 is the 销售主管's
        assert o.plan_items.count() >= 2
        assert all(item.date >= o.assigned_at.date() for item in o.plan_items)
        if o.status == Opportunity.DEVELOPED:
            assert o.customer.name == o.customer_name
            assert o.customer.manager_id == o.assigned_to_id
            assert all(item.result for item in o.plan_items)
        else:
            assert o.customer is None
    assert PlanItem.select().where(PlanItem.result.is_null(False)).exists()


def test_services_in_every_status_with_their_history(today):
    services = list(ServiceRequest.select())
    assert set(Counter(s.status for s in services)) == set(ServiceRequest.STATUS)
    assert {s.service_type for s in services} == set(DictionaryEntry.items(SERVICE_TYPE))
    sent_back = 0
    for s in services:
        assert s.summary and s.request and s.created_by.username in MANAGERS
        assert s.created_at < day_start(today)
        steps = [to for _, to, _, _ in history(s)]
        sent_back += steps.count(ServiceRequest.ASSIGNED) > 1
        path = {ServiceRequest.NEW: [ServiceRequest.NEW],
                ServiceRequest.ASSIGNED: [ServiceRequest.NEW, ServiceRequest.ASSIGNED],
                ServiceRequest.HANDLED: [ServiceRequest.NEW, ServiceRequest.ASSIGNED,
                                         ServiceRequest.HANDLED]}.get(s.status, steps)
        assert_history_leads_to(s, path)
        if s.status == ServiceRequest.NEW:
            assert s.assigned_to is None and s.handling is None
            continue
        assert s.assigned_to.username in MANAGERS and s.assigned_at > s.created_at
        if s.status == ServiceRequest.ASSIGNED:
            assert s.handling is None and s.result is None
            continue
        assert s.handling and s.handled_by_id == s.assigned_to_id
        assert s.handled_at > s.assigned_at
        if s.status == ServiceRequest.ARCHIVED:
            assert s.result and s.satisfaction >= 3
            assert steps[:3] == [ServiceRequest.NEW, ServiceRequest.ASSIGNED,
                                 ServiceRequest.HANDLED]
        else:
            assert s.result is None and s.satisfaction is None
    assert sent_back == 1  # one feedback below 3 sent a service back for handling


# -- init-db --------------------------------------------------------------------

def test_init_db_loads_the_demo_only_into_a_new_database(fresh_app, tmp_path):
    app = fresh_app(DATABASE_URL=f"sqlite:///{tmp_path}/instance/crm.db")  # the demo file
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db", "--demo-if-new"])
    assert first.exit_code == 0, first.output
    assert "demo data loaded" in first.output
    loaded = counts()
    assert loaded["Customer"] >= 45 and loaded["Order"] > 0 and loaded["User"] == 5
    # The real configuration hashes the demo password with argon2.
    assert User.get(User.username == "xiaoming").password.startswith("$argon2")

    executive = User.get(User.username == "executive")
    UserRoles.delete().where(UserRoles.user == executive).execute()
    executive.delete_instance()
    second = runner.invoke(args=["init-db", "--demo-if-new"])
    assert second.exit_code == 0, second.output
    assert "demo data loaded" not in second.output
    assert not User.select().where(User.username == "executive").exists()
    # nothing more loaded; the audit log holds the deletion of 高管
    assert counts() == {**loaded, "User": 4, "UserRoles": 4,
                        "AuditEntry": loaded["AuditEntry"] + 1}


def test_init_db_without_the_flag_loads_no_demo_data(fresh_app):
    runner = fresh_app().test_cli_runner()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "demo data loaded" not in result.output
    assert counts()["Role"] == 4
    assert not User.select().exists() and not Customer.select().exists()


# -- create-user (the first administrator of an installation) ----------------------

def test_create_user_makes_an_active_user_with_the_roles_who_logs_in(app):
    result = app.test_cli_runner().invoke(args=[
        "create-user", "zhangsan", "--full-name", "张三", "--role", "manager",
        "--role", "supervisor", "--password", "blue-harbor-7"])
    assert result.exit_code == 0, result.output
    user = User.get(User.username == "zhangsan")
    assert user.active and user.full_name == "张三" and user.fs_uniquifier
    assert sorted(user.role_names()) == sorted(["客户经理", "销售主管"])
    assert login(app.test_client(), "zhangsan", "wrong-pass").status_code == 200
    client = app.test_client()
    assert login(client, "zhangsan", "blue-harbor-7").status_code == 302
    assert client.get("/admin/opportunity/").status_code == 200  # the roles' screens open


def test_create_user_asks_the_password_twice_and_makes_an_administrator_by_default(app):
    result = app.test_cli_runner().invoke(args=["create-user", "root", "--full-name", "管理员"],
                                          input="first-pass-1\nfirst-pass-1\n")
    assert result.exit_code == 0, result.output
    assert User.get(User.username == "root").role_names() == ["系统管理员"]
    client = app.test_client()
    assert login(client, "root", "first-pass-1").status_code == 302
    assert client.get("/admin/user/").status_code == 200


def test_create_user_refuses_a_username_that_exists(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["create-user", "lisi", "--full-name", "李四",
                                "--role", "manager", "--password", "first-pass-1"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["create-user", "lisi", "--full-name", "另一个李四",
                                "--role", "admin", "--password", "other-pass-2"])
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert User.select().where(User.username == "lisi").count() == 1
    user = User.get(User.username == "lisi")
    assert user.full_name == "李四" and user.role_names() == ["客户经理"]
    assert login(app.test_client(), "lisi", "first-pass-1").status_code == 302
