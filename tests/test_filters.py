"""List filters by label (admin_views/filters.py), driven as a user drives them.

A test reads the filter's options from the rendered page (the JSON Flask-Admin's
filters.js builds the filter row from), picks one by its label and opens the URL
the filter form then submits: ``flt<position>_<filter arg>=<option value>``.
"""
import datetime
import json
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from models import (
    ChurnRecord,
    Customer,
    DictionaryEntry,
    Order,
    OrderLine,
    Product,
    Role,
    ServiceRequest,
    User,
    UserRoles,
    versions,
)
from models.base import now, stored
from tests.conftest import make_user

GROUPS = re.compile(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', re.S)


def text(response):
    return response.get_data(as_text=True)


def filter_groups(page):
    """{filter label: [{arg, operation, options, type}, …]} as the page hands it to filters.js."""
    match = GROUPS.search(page)
    assert match, "the list offers no filters"
    return json.loads(match.group(1))


def offered(client, list_url, label):
    """The option labels the filter ``label`` offers on ``list_url``."""
    [choice] = [f for f in filter_groups(text(client.get(list_url)))[label] if f["options"]]
    return [option_label for _, option_label in choice["options"]]


def chosen(client, list_url, label, option=None, value=None, position=1):
    """The list URL the filter form produces when the user adds the filter ``label`` and
    picks ``option`` (by its label) or types ``value``. filters.js names the first filter
    row added to an unfiltered page ``flt1_<arg>``."""
    groups = filter_groups(text(client.get(list_url)))
    assert label in groups, f"no filter {label} on {list_url}: {list(groups)}"
    [flt] = groups[label]
    if option is not None:
        values = [v for v, option_label in flt["options"] or () if option_label == option]
        assert values, f"{label} offers no {option}: {flt['options']}"
        value = values[0]
    query = urlencode({f"flt{position}_{flt['arg']}": value})
    return f"{list_url}{'&' if '?' in list_url else '?'}{query}"


def customer(users, name, manager="xiaoming", **fields):
    return Customer.create_numbered(datetime.datetime(2026, 11, 2, 9), name=name,
                                    manager=users[manager], **fields)


@pytest.fixture
def book(users):
    """Customers of 小明 and 旺财 in several levels and regions, each with an order."""
    made = {
        "京大客户": customer(users, "京大客户", "xiaoming", level=3, region="北京"),
        "京普通客户": customer(users, "京普通客户", "xiaoming", level=1, region="北京"),
        "西部大客户": customer(users, "西部大客户", "wangcai", level=3, region="西部"),
        "华北伙伴": customer(users, "华北伙伴", "wangcai", level=4, region="华北"),
    }
    for day, name in enumerate(made, start=1):
        Order.create(customer=made[name], number=f"DD-{name}", address="北京",
                     date=datetime.date(2026, 10, day * 5))
    return made


def listed(page, names):
    return {name for name in names if name in page}


# -- 客户信息管理 -------------------------------------------------------------------

def test_the_customer_list_offers_levels_regions_and_managers_by_label(client_for, users):
    client = client_for("supervisor")
    assert offered(client, "/admin/customer/", "客户等级") == [
        "普通客户", "重点开发客户", "大客户", "合作伙伴", "战略合作伙伴"]
    assert sorted(offered(client, "/admin/customer/", "地区")) == sorted(
        ["北京", "华北", "中南", "东北", "西部"])
    managers = offered(client, "/admin/customer/", "客户经理")
    assert managers == ["旺财（wangcai）", "小明（xiaoming）"]  # no supervisor, no admin


@pytest.mark.parametrize("label, option, expected", [
    ("客户等级", "大客户", {"京大客户", "西部大客户"}),
    ("客户等级", "合作伙伴", {"华北伙伴"}),
    ("客户等级", "战略合作伙伴", set()),
    ("地区", "北京", {"京大客户", "京普通客户"}),
    ("地区", "西部", {"西部大客户"}),
    ("客户经理", "旺财（wangcai）", {"西部大客户", "华北伙伴"}),
])
def test_choosing_a_label_lists_exactly_the_matching_customers(client_for, book, label, option,
                                                               expected):
    client = client_for("supervisor")
    response = client.get(chosen(client, "/admin/customer/", label, option))
    assert response.status_code == 200
    assert listed(text(response), book) == expected


def test_a_manager_sees_only_his_customers_whatever_he_chooses(client_for, book):
    client = client_for("xiaoming")
    other = text(client.get(chosen(client, "/admin/customer/", "客户经理", "旺财（wangcai）")))
    assert listed(other, book) == set()
    level = text(client.get(chosen(client, "/admin/customer/", "客户等级", "大客户")))
    assert listed(level, book) == {"京大客户"}  # not 旺财's 西部大客户
    region = text(client.get(chosen(client, "/admin/customer/", "地区", "西部")))
    assert listed(region, book) == set()


def test_options_follow_every_change_at_once(app, client_for, users, book):
    client = client_for("supervisor")
    assert "华东" not in offered(client, "/admin/customer/", "地区")
    DictionaryEntry.create(category="地区", item="华东", value="华东")
    customer(users, "沪上客户", region="华东")
    assert "华东" in offered(client, "/admin/customer/", "地区")
    page = text(client.get(chosen(client, "/admin/customer/", "地区", "华东")))
    assert listed(page, list(book) + ["沪上客户"]) == {"沪上客户"}
    make_user(app, "qiuqiu", "球球", ["manager"])
    assert "球球（qiuqiu）" in offered(client, "/admin/customer/", "客户经理")
    User.update(full_name="秋秋").where(User.username == "qiuqiu").execute()
    assert "秋秋（qiuqiu）" in offered(client, "/admin/customer/", "客户经理")
    DictionaryEntry.update(item="顶级客户").where(
        DictionaryEntry.category == "企业客户等级", DictionaryEntry.value == "3").execute()
    page = text(client.get("/admin/customer/"))
    assert "顶级客户" in offered(client, "/admin/customer/", "客户等级") and "顶级客户" in page


def test_every_change_to_users_roles_or_the_dictionary_moves_the_reference_version(
        app, users, book, database):
    def moved(change):
        before = versions.current(database)[versions.REFERENCE]
        change()
        return versions.current(database)[versions.REFERENCE] != before

    role = Role.get(Role.code == "manager")
    counted = {
        "user created": lambda: make_user(app, "qiuqiu", "球球", ["manager"]),
        "user renamed": lambda: User.update(full_name="秋秋").where(
            User.username == "qiuqiu").execute(),
        "user disabled": lambda: User.update(active=False).where(
            User.username == "qiuqiu").execute(),
        "role taken away": lambda: UserRoles.delete().where(
            UserRoles.user == users["wangcai"].id).execute(),
        "role renamed": lambda: Role.update(code="manager2").where(Role.id == role.id).execute(),
        "entry added": lambda: DictionaryEntry.create(category="地区", item="华东", value="华东"),
        "entry deleted": lambda: DictionaryEntry.delete().where(
            DictionaryEntry.item == "华东").execute(),
        "customer handed over": lambda: Customer.update(manager=users["supervisor"]).where(
            Customer.id == book["京大客户"].id).execute(),
        "customer created": lambda: customer(users, "新客户"),
    }
    for name, change in counted.items():
        assert moved(change), name
    assert not moved(lambda: User.update(last_login_at=now(), login_count=3).where(
        User.id == users["xiaoming"].id).execute())
    assert not moved(lambda: Customer.update(phone="010-1").where(
        Customer.id == book["京大客户"].id).execute())


def test_options_are_read_again_only_when_users_roles_or_the_dictionary_changed(
        client_for, book, users, database):
    client = client_for("supervisor")
    client.get("/admin/customer/")
    seen = []
    real = database.execute_sql
    database.execute_sql = lambda sql, *a, **k: seen.append(sql) or real(sql, *a, **k)
    try:
        assert client.get("/admin/customer/").status_code == 200
    finally:
        database.execute_sql = real
    assert not [sql for sql in seen if "dictionary_entry" in sql or "user_roles" in sql and
                "DISTINCT" in sql]


def test_a_disabled_manager_is_still_offered_while_he_has_customers(app, client_for, book):
    leaving = make_user(app, "zhoujie", "周洁轮", ["manager"], active=False)
    client = client_for("supervisor")
    assert "周洁轮（zhoujie）" not in offered(client, "/admin/customer/", "客户经理")
    customer({"zhoujie": leaving}, "交接中的客户", "zhoujie")
    assert "周洁轮（zhoujie）" in offered(client, "/admin/customer/", "客户经理")
    page = text(client.get(chosen(client, "/admin/customer/", "客户经理", "周洁轮（zhoujie）")))
    assert listed(page, list(book) + ["交接中的客户"]) == {"交接中的客户"}


# -- 历史订单 ---------------------------------------------------------------------

def orders_in(page, book):
    return {name for name in book if f"DD-{name}" in page}


def test_the_order_list_is_filtered_by_the_customers_manager(client_for, book):
    client = client_for("supervisor")
    assert offered(client, "/admin/order/", "客户经理") == ["旺财（wangcai）", "小明（xiaoming）"]
    page = text(client.get(chosen(client, "/admin/order/", "客户经理", "小明（xiaoming）")))
    assert orders_in(page, book) == {"京大客户", "京普通客户"}


def test_a_manager_choosing_another_manager_sees_no_order(client_for, book):
    client = client_for("xiaoming")
    page = text(client.get(chosen(client, "/admin/order/", "客户经理", "旺财（wangcai）")))
    assert orders_in(page, book) == set()
    everything = text(client.get("/admin/order/"))
    assert orders_in(everything, book) == {"京大客户", "京普通客户"}


def test_orders_are_filtered_by_a_range_of_days_both_included(client_for, book):
    # the orders are dated 10-05, 10-10, 10-15 and 10-20, in the order of ``book``
    client = client_for("supervisor")
    [flt] = filter_groups(text(client.get("/admin/order/")))["日期"]
    assert flt["type"] == "daterangepicker"  # Flask-Admin's range picker, not a text box
    page = text(client.get(chosen(client, "/admin/order/", "日期",
                                  value="2026-10-10 to 2026-10-15")))
    assert orders_in(page, book) == {"京普通客户", "西部大客户"}


def test_the_filtered_order_list_of_one_customer_stays_that_customers(client_for, book):
    client = client_for("supervisor")
    url = f"/admin/order/?customer={book['京大客户'].id}"
    page = text(client.get(chosen(client, url, "客户经理", "小明（xiaoming）")))
    assert orders_in(page, book) == {"京大客户"}


# -- 客户流失管理 and 服务 ------------------------------------------------------------

def test_churn_is_filtered_by_manager_chosen_by_name(client_for, book):
    for name in book:
        ChurnRecord.create(customer=book[name], status=ChurnRecord.WARNING)
    client = client_for("supervisor")
    page = text(client.get(chosen(client, "/admin/churn/", "客户经理", "旺财（wangcai）")))
    assert listed(page, book) == {"西部大客户", "华北伙伴"}
    mine = client_for("xiaoming")
    page = text(mine.get(chosen(mine, "/admin/churn/", "客户经理", "旺财（wangcai）")))
    assert listed(page, book) == set()


def test_services_are_filtered_by_type_label_and_creation_days(client_for, users, book):
    at = stored(datetime.datetime(2026, 11, 20, 23, 30))  # late on the 20th, in Beijing
    for kind, summary in (("投诉", "晚到的投诉"), ("咨询", "价格咨询")):
        ServiceRequest.open(by=users["xiaoming"], at=at, service_type=kind, summary=summary,
                            customer=book["京大客户"], request="请回电")
    client = client_for("supervisor")
    assert offered(client, "/admin/service_assign/", "服务类型") == ["咨询", "建议", "投诉"]
    page = text(client.get(chosen(client, "/admin/service_assign/", "服务类型", "投诉")))
    assert "晚到的投诉" in page and "价格咨询" not in page
    [flt] = filter_groups(text(client.get("/admin/service_assign/")))["创建日期"]
    assert flt["type"] == "daterangepicker"
    for days, found in (("2026-11-20 to 2026-11-20", True), ("2026-11-21 to 2026-11-30", False),
                        ("2026-11-01 to 9999-12-31", True)):
        page = text(client.get(chosen(client, "/admin/service_assign/", "创建日期",
                                      value=days)))
        assert ("晚到的投诉" in page) is found, days


# -- a crafted value is refused with a message, never a 500 --------------------------

BAD_VALUES = ["大客户", "abc", "99999", "", " ", "1 OR 1=1", "３", "1.5", "-1", "\x00",
              "2026-13-01 to 2026-13-02", "2026-10-20 to 2026-10-01", "9999-12-31 to 9999-12-31",
              "0001-01-01 to 0001-01-01", "x" * 5000]
LISTS = ["/admin/customer/", "/admin/order/", "/admin/churn/", "/admin/service_assign/",
         "/admin/service_archive/"]


@pytest.mark.parametrize("url", LISTS)
def test_bad_filter_values_never_crash_a_list(client_for, book, url):
    client = client_for("supervisor")
    groups = filter_groups(text(client.get(url)))
    args = [f["arg"] for subfilters in groups.values() for f in subfilters] + ["99", "x"]
    for arg in args:
        for value in BAD_VALUES:
            response = client.get(url, query_string={f"flt1_{arg}": value})
            assert response.status_code == 200, (url, arg, value)


def test_an_unknown_option_is_refused_with_a_message_and_filters_nothing(client_for, book):
    client = client_for("supervisor")
    [level] = filter_groups(text(client.get("/admin/customer/")))["客户等级"]
    page = text(client.get("/admin/customer/", query_string={f"flt1_{level['arg']}": "大客户"}))
    assert "无效的筛选器值" in page
    assert listed(page, book) == set(book)
    [region] = filter_groups(text(client.get("/admin/customer/")))["地区"]
    page = text(client.get("/admin/customer/", query_string={f"flt1_{region['arg']}": "火星"}))
    assert "无效的筛选器值" in page and listed(page, book) == set(book)


# -- money: one format everywhere --------------------------------------------------

def test_prices_show_two_decimals_and_thousands_separators(client_for, book):
    tv = Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                        price=7500)
    laptop = Product.create(name="海龙笔记本电脑", model="i61", batch="2689 6688", unit="台",
                            price=Decimal("16800"))
    order = Order.get(Order.number == "DD-京大客户")
    OrderLine.create(order=order, product=tv, quantity=2, unit="台", price=7500)
    OrderLine.create(order=order, product=laptop, quantity=1, unit="台", price=16800)
    products = text(client_for("xiaoming").get("/admin/product/"))
    assert "7,500.00" in products and "16,800.00" in products
    assert not re.search(r">\s*7500(\.0+)?\s*<", products)
    details = text(client_for("supervisor").get(f"/admin/order/details/?id={order.id}"))
    assert "7,500.00" in details and "16,800.00" in details
    assert "15,000.00" in details and "31,800.00" in details  # 金额 and 总金额
    listing = text(client_for("supervisor").get("/admin/order/"))
    assert "31,800.00" in listing
