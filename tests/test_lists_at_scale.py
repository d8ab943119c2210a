"""Lists at scale: counts up to a cap ("1000+") with a pager that goes on, sorting by a
user's name, one query for an order's lines, the list indexes, and the set-based churn
detection (its rule exactly as before, and one statement whatever the number)."""
import datetime
import html
import re
from decimal import Decimal

import pytest

from models import AuditEntry, ChurnRecord, Customer, Order, OrderLine, Product, ServiceRequest
from models.base import day_start
from models.customers import months_before
from tests.conftest import make_user

TODAY = datetime.date(2026, 11, 23)
NOW = datetime.datetime(2026, 11, 23, 2)


def many_customers(manager, count, start=0, **fields):
    """``count`` customers of ``manager`` in one statement (numbers from ``start``)."""
    Customer.insert_many([{"number": f"KH{start + i:09d}", "name": f"客户{start + i:05d}",
                           "manager": manager.id, "region": "北京", "level": 1, **fields}
                          for i in range(count)]).execute()


class Queries:
    """The SQL a block runs."""

    def __init__(self, database):
        self.database, self.seen = database, []

    def __enter__(self):
        real = self.real = self.database.execute_sql
        self.database.execute_sql = lambda sql, *a, **k: self.seen.append(sql) or real(sql, *a, **k)
        return self.seen

    def __exit__(self, *exc):
        self.database.execute_sql = self.real


def count_text(page):
    return re.search(r'class="nav-link active">[^<(]*\(([^)]*)\)', page).group(1)


def next_page(page):
    """The page number 下一页 leads to."""
    return int(re.search(r'crm-next-page" href="[^"]*[?&]page=(\d+)', page).group(1))


# -- counts up to a cap ------------------------------------------------------------

def test_a_big_list_counts_to_a_cap_and_pages_on_with_next(client_for, users, database):
    many_customers(users["xiaoming"], 1300)
    client = client_for("supervisor")
    with Queries(database) as seen:
        page = client.get("/admin/customer/").get_data(as_text=True)
    assert count_text(page) == "1000+"
    counts = [sql for sql in seen if "COUNT(" in sql.upper()]
    # the list's count reads at most cap + 1 rows: a LIMIT inside the count
    assert counts and all("LIMIT" in sql for sql in counts)
    assert "crm-capped-pager" in page and "下一页" in page
    assert next_page(page) == 1  # 下一页 leads to the second page
    # no last page (unknown): the pager shows the pages around this one only
    assert "?page=49" not in page

    deep = client.get("/admin/customer/?page=55").get_data(as_text=True)
    # counted to three pages past the page shown: 59 pages of 20 known, more follow
    assert count_text(deep) == f"{59 * 20}+"
    assert next_page(deep) == 56 and "客户01100" in deep


def test_past_the_cap_the_pages_end_with_the_exact_count(client_for, users):
    many_customers(users["xiaoming"], 1050)
    page = client_for("supervisor").get("/admin/customer/?page=51").get_data(as_text=True)
    assert count_text(page) == "1050"  # the end is within three pages: counted exactly
    assert "crm-capped-pager" not in page and "下一页" not in page


def test_a_small_list_shows_its_exact_count_and_the_usual_pager(client_for, users):
    many_customers(users["xiaoming"], 45)
    many_customers(users["wangcai"], 7, start=100)
    assert count_text(client_for("supervisor").get("/admin/customer/").get_data(
        as_text=True)) == "52"
    page = client_for("xiaoming").get("/admin/customer/").get_data(as_text=True)
    assert count_text(page) == "45"  # his own only
    assert "crm-capped-pager" not in page and "?page=2" in page


def test_a_list_counted_empty_reads_no_page(client_for, users, database):
    many_customers(users["wangcai"], 3)
    client = client_for("xiaoming")
    client.get("/admin/customer/")
    with Queries(database) as seen:
        page = client.get("/admin/customer/").get_data(as_text=True)
    assert 'class="col-number"' not in page  # no row
    assert [sql for sql in seen if '"customer"' in sql and "COUNT" in sql]
    assert not [sql for sql in seen if '"customer"' in sql and "ORDER BY" in sql]
    many_customers(users["xiaoming"], 1, start=10)
    page = client.get("/admin/customer/").get_data(as_text=True)
    assert count_text(page) == "1" and 'class="col-number"' in page


def test_the_cap_counts_the_filtered_rows(client_for, users):
    many_customers(users["xiaoming"], 1010)
    many_customers(users["wangcai"], 30, start=5000)
    client = client_for("supervisor")
    manager = users["wangcai"].id
    page = client.get(f"/admin/customer/?flt0_2={manager}").get_data(as_text=True)
    assert count_text(page) == "30"
    assert count_text(client.get(f"/admin/customer/?flt0_2={users['xiaoming'].id}")
                      .get_data(as_text=True)) == "1000+"


# -- sorting by a user's name ------------------------------------------------------

@pytest.fixture
def named_managers(app, users):
    """Three 客户经理 whose names sort the other way round from their ids."""
    return [make_user(app, username, full_name, ["manager"])
            for username, full_name in (("m1", "C经理"), ("m2", "A经理"), ("m3", "B经理"))]


def names_in_order(page, names):
    positions = {name: page.index(name) for name in names if name in page}
    return sorted(positions, key=positions.get)


BY_NAME = ["A经理的客户", "B经理的客户", "C经理的客户"]  # ids run C, A, B


def customer_each(managers):
    for i, manager in enumerate(managers):
        many_customers(manager, 1, start=i, name=f"{manager.full_name}的客户")


def test_customers_sort_by_their_managers_name_not_id(client_for, named_managers):
    customer_each(named_managers)
    client = client_for("supervisor")
    column = ["number", "name", "region", "manager", "level"].index("manager")
    page = client.get(f"/admin/customer/?sort={column}").get_data(as_text=True)
    assert names_in_order(page, BY_NAME) == BY_NAME
    desc = client.get(f"/admin/customer/?sort={column}&desc=1").get_data(as_text=True)
    assert names_in_order(desc, BY_NAME) == BY_NAME[::-1]


def test_churn_records_sort_by_the_manager_of_their_customer(client_for, named_managers,
                                                             database):
    customer_each(named_managers)
    ChurnRecord.insert_many([{"customer": c.id, "status": ChurnRecord.WARNING, "created_at": NOW}
                             for c in Customer.select()]).execute()
    client = client_for("supervisor")
    with Queries(database) as seen:
        assert names_in_order(client.get("/admin/churn/?sort=2").get_data(as_text=True),
                              BY_NAME) == BY_NAME
    # the records carry the manager (0024): the users join INNER, walked in name order
    page = next(sql for sql in seen if "ORDER BY" in sql and '"churn_record"' in sql)
    assert "LEFT OUTER" not in page and "INNER JOIN \"user\"" in page
    assert names_in_order(client.get("/admin/churn/?sort=2&desc=1").get_data(as_text=True),
                          BY_NAME) == BY_NAME[::-1]


def test_a_list_sorted_by_a_user_keeps_its_count_and_scope(client_for, users, named_managers):
    many_customers(users["xiaoming"], 3)
    many_customers(named_managers[0], 2, start=10)
    assert count_text(client_for("xiaoming").get("/admin/customer/?sort=3").get_data(
        as_text=True)) == "3"
    assert count_text(client_for("supervisor").get("/admin/customer/?sort=3").get_data(
        as_text=True)) == "5"


def header_link(page, label):
    """Where the list's column header ``label`` leads (its sort link)."""
    return html.unescape(re.search(r'<a href="([^"]+)"[^>]*>\s*' + re.escape(label) + r"\s*<",
                                   page).group(1))


def pager_link(page, number):
    """Where the pager's page ``number`` leads."""
    return html.unescape(re.search(r'class="page-link" href="([^"]+)">' + str(number) + "<",
                                   page).group(1))


def test_services_sorted_by_assignee_keep_the_unassigned_ones_after_them(
        client_for, users, named_managers):
    """服务归档 sorted by 分配给: the assigned services by their assignee's name, those not
    assigned yet after them (before them descending), every row once across the pages,
    and the count of them all (the unassigned rows are read apart: NullsApart)."""
    customer = Customer.create(number="KH-SVC", name="服务客户", manager=users["xiaoming"])
    at = datetime.datetime(2026, 11, 1, 2)
    rows = [{"summary": f"{m.full_name}的服务{i}", "assigned_to": m.id, "assigned_at": at,
             "status": ServiceRequest.ASSIGNED} for i in range(5) for m in named_managers]
    rows += [{"summary": f"未分配的服务{i}", "assigned_to": None, "assigned_at": None,
              "status": ServiceRequest.NEW} for i in range(15)]
    ServiceRequest.insert_many([{**row, "service_type": "咨询", "customer": customer.id,
                                 "request": "-", "created_by": users["supervisor"].id,
                                 "created_at": at} for row in rows]).execute()
    client = client_for("supervisor")

    def summaries(url):
        page = client.get(url).get_data(as_text=True)
        assert count_text(page) == "30"
        return re.findall(r">([^<>]+的服务\d+)</td>", page), page

    ascending = header_link(client.get("/admin/service_archive/").get_data(as_text=True), "分配给")
    first, page = summaries(ascending)
    second, _ = summaries(pager_link(page, 2))
    shown = first + second
    assert len(first) == 20 and sorted(shown) == sorted(row["summary"] for row in rows)
    owners = [name.split("的")[0] for name in shown]
    assert owners == ["A经理"] * 5 + ["B经理"] * 5 + ["C经理"] * 5 + ["未分配"] * 15
    descending = header_link(page, "分配给")
    first, page = summaries(descending)
    second, _ = summaries(pager_link(page, 2))
    owners = [name.split("的")[0] for name in first + second]
    assert owners == ["未分配"] * 15 + ["C经理"] * 5 + ["B经理"] * 5 + ["A经理"] * 5


def test_a_managers_orders_sorted_by_customer_are_his_in_customer_number_order(
        client_for, users, database):
    """Sorted by 客户 through the header's link, a 客户经理's order list holds his customers'
    orders, in 客户编号 order both ways, and counts them (the sort joins the customer on
    him as its manager too: RelatedSort, ``owner_key``), a customer handed over to him
    included."""
    for start, name in ((3, "丙"), (2, "乙"), (1, "甲")):  # ids run against the numbers
        many_customers(users["xiaoming"], 1, start=start, name=f"{name}客户")
    many_customers(users["wangcai"], 1, start=0, name="丁客户")
    for customer in Customer.select():
        for n in range(2):
            Order.create(customer=customer, number=f"DD{customer.number}-{n}", date=TODAY,
                         address="北京")
    handed = Customer.get(Customer.name == "丁客户")
    handed.manager = users["xiaoming"]
    handed.save()
    client = client_for("xiaoming")
    first = client.get("/admin/order/").get_data(as_text=True)
    link = re.search(r'<a href="([^"]*sort=0[^"]*)"[^>]*>\s*客户', first).group(1)
    with Queries(database) as seen:
        page = client.get(html.unescape(link)).get_data(as_text=True)
    ordered = ["丁客户", "甲客户", "乙客户", "丙客户"]
    assert names_in_order(page, ordered) == ordered
    assert count_text(page) == "8"
    # counted without the sort's join (the same rows): PostgreSQL walked every customer
    counted = [sql for sql in seen if "COUNT" in sql and '"order"' in sql]
    assert counted and all("JOIN" not in sql for sql in counted)
    desc = re.search(r'<a href="([^"]*sort=0[^"]*desc=1[^"]*)"', page).group(1)
    assert names_in_order(client.get(html.unescape(desc)).get_data(as_text=True),
                          ordered) == ordered[::-1]
    assert "丁客户" not in client_for("wangcai").get(html.unescape(link)).get_data(as_text=True)


# -- the order's details: one query for its lines ----------------------------------

def test_an_order_detail_reads_its_lines_with_their_products_once(client_for, users, database):
    customer = Customer.create(number="KH261123001", name="甲", manager=users["xiaoming"])
    order = Order.create(customer=customer, number="DD1", date=TODAY, address="北京")
    for i, (quantity, price) in enumerate([(2, "7500.00"), (3, "36.50"), (1, "1.25")]):
        product = Product.create(name=f"商品{i}", model="M", batch="B", unit="台",
                                 price=Decimal(price))
        OrderLine.create(order=order, product=product, quantity=quantity, unit="台",
                         price=Decimal(price))
    client = client_for("xiaoming")
    client.get(f"/admin/order/details/?id={order.id}")  # warm: the user, his roles
    with Queries(database) as seen:
        page = client.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert all(f"商品{i}" in page for i in range(3)) and "15,110.75" in page
    line_queries = [sql for sql in seen if "order_line" in sql]
    assert len(line_queries) == 1 and "product" in line_queries[0]
    assert not [sql for sql in seen if sql.startswith('SELECT') and '"product" AS' in sql
                and "order_line" not in sql]  # no product read on its own


# -- the indexes -------------------------------------------------------------------

def test_the_list_indexes_exist(database):
    def indexes(table):
        return {tuple(i.columns) for i in database.get_indexes(table)}
    assert ("customer_id", "date", "status") in indexes("order")
    assert ("customer_id", "date") in indexes("activity")
    assert ("full_name",) in indexes("user")
    # the plan items not executed yet, by date (计划项到期): 0026
    assert "plan_item_open_date" in {i.name for i in database.get_indexes("plan_item")}
    # a 客户经理's services (created by him or assigned to him) of one status by 创建时间:
    # 0025
    assert {("created_by_id", "status", "created_at"),
            ("assigned_to_id", "status", "created_at")} <= indexes("service_request")


# -- churn detection: the rule, set-based ------------------------------------------

def silent_since(users, name, last_order=None, created=None, status=Customer.ACTIVE,
                 orders=()):
    customer = Customer.create(number=f"KH{abs(hash(name)) % 10 ** 9:09d}", name=name,
                               manager=users["xiaoming"], status=status,
                               created_at=created or datetime.datetime(2020, 1, 1))
    for i, day in enumerate([*orders, *([last_order] if last_order else [])]):
        Order.create(customer=customer, number=f"DD-{customer.id}-{i}", date=day,
                     address="北京")
    return customer


def test_detection_keeps_the_rule_at_every_boundary(users):
    cutoff = months_before(TODAY, 6)
    day = datetime.timedelta(days=1)
    expected = {
        silent_since(users, "前一天下单", cutoff - day).id: cutoff - day,
        silent_since(users, "早有订单", cutoff - day * 40,
                     orders=[cutoff - day * 400, cutoff - day * 90]).id: cutoff - day * 40,
        silent_since(users, "从未下单，早于截止日创建",
                     created=day_start(cutoff) - datetime.timedelta(seconds=1)).id: None,
    }
    silent_since(users, "截止日当天下单", cutoff)
    silent_since(users, "旧订单之后又下单", cutoff + day, orders=[cutoff - day * 300])
    silent_since(users, "从未下单，截止日创建", created=day_start(cutoff))
    silent_since(users, "已删除", cutoff - day * 10, status=Customer.DELETED)
    silent_since(users, "已流失", cutoff - day * 10, status=Customer.LOST)
    assert ChurnRecord.detect(TODAY, at=NOW) == len(expected)
    opened = {r.customer_id: r for r in ChurnRecord.select()}
    assert {k: r.last_order_date for k, r in opened.items()} == expected  # the last order
    assert {(r.status, r.created_at, r.measures, r.reason, r.confirmed_at)
            for r in opened.values()} == {(ChurnRecord.WARNING, NOW, None, None, None)}


def test_detection_opens_none_beside_an_open_record_and_again_after_a_confirmed_one(users):
    warned, postponed, confirmed = (silent_since(users, name, datetime.date(2025, 1, 1))
                                    for name in ("预警中", "暂缓中", "已确认"))
    for customer, status in ((warned, ChurnRecord.WARNING), (postponed, ChurnRecord.POSTPONED),
                             (confirmed, ChurnRecord.CONFIRMED)):
        ChurnRecord.create(customer=customer, status=status, created_at=NOW)
    assert ChurnRecord.detect(TODAY, at=NOW) == 1
    assert ChurnRecord.select().where(ChurnRecord.customer == confirmed).count() == 2
    assert ChurnRecord.detect(TODAY, at=NOW) == 0


def test_detection_is_one_statement_whatever_the_number(users, database):
    many_customers(users["xiaoming"], 2500, created_at=datetime.datetime(2020, 1, 1))
    with Queries(database) as seen:
        assert ChurnRecord.detect(TODAY, at=NOW) == 2500
    writes = [sql for sql in seen if sql.lstrip().upper().startswith("INSERT")]
    # the warnings, and their audit entries: each one INSERT … SELECT
    assert [sql.split("(")[0].strip() for sql in writes] == [
        'INSERT INTO "churn_record"', 'INSERT INTO "audit_entry"']
    assert all("SELECT" in sql for sql in writes)
    assert ChurnRecord.select().where(ChurnRecord.status == ChurnRecord.WARNING).count() == 2500
    # each written with its customer's 客户经理 (the trigger of 0024 has nothing to set)
    assert ChurnRecord.select().where(ChurnRecord.manager == users["xiaoming"]).count() == 2500
    assert AuditEntry.select().where(AuditEntry.entity == "churn_record").count() == 2500


def test_the_command_reports_how_many_it_opened(app, users):
    silent_since(users, "久未下单", datetime.date(2020, 1, 1))
    result = app.test_cli_runner().invoke(args=["detect-churn", "--today", "2026-11-23"])
    assert result.exit_code == 0, result.output
    assert "1 churn warning(s) opened" in result.output

