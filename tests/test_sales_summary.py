"""客户销售汇总 (customer_sales): the triggers keep it equal to the plain aggregate of the
orders after any write — the ORM, the ERP import, raw SQL, bulk inserts — and migration
0009 / ``rebuild_sales`` compute it from the orders. On the suite's kind of database
(SQLite, or PostgreSQL under TEST_DATABASE_URL)."""
import datetime
import itertools
from collections import defaultdict
from decimal import Decimal

from peewee import Table

from models import Customer, CustomerSales, Order, OrderLine, Product, open_database, schema
from tests.conftest import scratch_database

ALL = CustomerSales.ALL_YEARS
_numbers = itertools.count(1)


def expected():
    """{(customer, year): (cents, orders, lines)} computed here, in Python, from the rows:
    every order counted, 数量 × 单价 in cents over the lines of the paid ones, year 0 the
    sum over the years."""
    sums = defaultdict(lambda: [0, 0, 0])
    paid = {}
    for o in Order.select():
        for key in ((o.customer_id, o.date.year), (o.customer_id, ALL)):
            sums[key][1] += 1
        if o.status == Order.PAID:
            paid[o.id] = o
    for line in OrderLine.select(OrderLine.order, OrderLine.quantity, OrderLine.price):
        o = paid.get(line.order_id)
        if o is None:
            continue
        cents = line.quantity * int(Decimal(line.price) * 100)
        for key in ((o.customer_id, o.date.year), (o.customer_id, ALL)):
            sums[key][0] += cents
            sums[key][2] += 1
    return {key: tuple(value) for key, value in sums.items()}


def summary(database=None):
    query = CustomerSales.select(CustomerSales.customer, CustomerSales.year, CustomerSales.cents,
                                 CustomerSales.orders, CustomerSales.lines)
    if database is not None:
        query = query.bind(database)
    return {(c, y): (int(cents), orders, lines) for c, y, cents, orders, lines in query.tuples()}


def make_customers(users, n):
    return [Customer.create(number=f"KHS{next(_numbers):08d}", name=f"汇总客户{i}",
                            manager=users["xiaoming"]) for i in range(n)]


def product():
    return Product.get_or_none() or Product.create(name="幸福牌电视机", model="818 FFT",
                                                   batch="2388 EA03", unit="台", price=7500)


def random_price(rng):
    return Decimal(rng.choice(["0.07", "0.01", "36.00", "7500.00", "9800.50", "0.00",
                               "12345678.99", "16800.00"]))


# The random sequence of writes through every path is test_sales_by_month's: it checks this
# summary after each step too.


# -- rules the sequence may not hit -----------------------------------------------------------

def test_a_paid_order_without_lines_counts_as_an_order_of_no_amount(users):
    c, = make_customers(users, 1)
    o = Order.create(customer=c, number="DE1", date=datetime.date(2025, 5, 5), address="北京",
                     status=Order.PAID)
    assert summary() == {(c.id, 2025): (0, 1, 0), (c.id, ALL): (0, 1, 0)}
    o.delete_instance()
    assert summary() == {}


def test_an_unpaid_order_counts_no_amount_and_a_row_goes_with_its_last_order(users):
    c, = make_customers(users, 1)
    item = product()
    orders = []
    for year, price in ((2024, "10.00"), (2025, "0.07")):
        o = Order.create(customer=c, number=f"DY{year}", date=datetime.date(year, 12, 31),
                         address="北京", status=Order.PAID)
        OrderLine.create(order=o, product=item, quantity=3, unit="台", price=Decimal(price))
        orders.append(o)
    assert summary() == {(c.id, 2024): (3000, 1, 1), (c.id, 2025): (21, 1, 1),
                         (c.id, ALL): (3021, 2, 2)}
    Order.update(status=Order.UNPAID).where(Order.id == orders[0].id).execute()
    assert summary() == {(c.id, 2024): (0, 1, 0), (c.id, 2025): (21, 1, 1),
                         (c.id, ALL): (21, 2, 1)}
    orders[0].delete_instance(recursive=True)
    assert summary() == {(c.id, 2025): (21, 1, 1), (c.id, ALL): (21, 1, 1)}


def test_amounts_are_exact_integer_cents(users):
    c, = make_customers(users, 1)
    o = Order.create(customer=c, number="DX1", date=datetime.date(2025, 1, 2), address="北京",
                     status=Order.PAID)
    OrderLine.create(order=o, product=product(), quantity=10, unit="台",
                     price=Decimal("9999999999.99"))
    OrderLine.insert_many([{"order": o.id, "product": product().id, "quantity": 1, "unit": "台",
                            "price": Decimal("0.07")}] * 1000).execute()
    assert summary()[(c.id, 2025)] == (10000000006990, 1, 1001)


# -- the migration --------------------------------------------------------------------------

# The tables an installation before a summary migration holds, and the columns they had.
OLD_COLUMNS = {
    "user": ("id", "username", "full_name", "active", "fs_uniquifier", "created_at",
             "failed_logins", "must_change_password"),
    "customer": ("id", "number", "name", "manager_id", "status", "created_at"),
    "product": ("id", "name", "model", "batch", "unit", "price"),
    "order": ("id", "customer_id", "number", "date", "address", "status"),
    "order_line": ("id", "order_id", "product_id", "quantity", "unit", "price"),
}


def installation_with_orders(old, target, orders, lines):
    """``old`` upgraded to ``target`` and given one user, two customers, a product, and
    ``orders`` (id, customer, number, date, status) with their ``lines`` (id, order,
    quantity, price) — written as rows, as the version before wrote them."""
    schema.upgrade(old, target=target)

    def insert(name, *rows):
        Table(name, OLD_COLUMNS[name]).bind(old).insert(
            [dict(zip(OLD_COLUMNS[name], row)) for row in rows]).execute()

    at = datetime.datetime(2025, 1, 1, 8)
    insert("user", (1, "laowang", "老王", True, "u1", at, 0, False))
    insert("customer", *[(i, f"KH{i}", f"客户{i}", 1, "active", at) for i in (1, 2)])
    insert("product", (1, "电视机", "A", "1", "台", Decimal("1")))
    insert("order", *[(i, c, n, day, "北京", status) for i, c, n, day, status in orders])
    insert("order_line", *[(i, o, 1, q, "台", Decimal(price)) for i, o, q, price in lines])


OLD_LINES = [(1, 1, 2, "7500.00"), (2, 1, 10, "0.07"), (3, 2, 1, "36.00"), (4, 3, 5, "1.00")]


def test_migration_0009_sums_the_orders_an_installation_already_has(tmp_path):
    old = open_database(scratch_database(tmp_path, "sales"))
    try:
        installation_with_orders(old, "0008_times_in_utc", [
            (1, 1, "D1", datetime.date(2024, 12, 31), "paid"),
            (2, 1, "D2", datetime.date(2025, 1, 1), "paid"),
            (3, 2, "D3", datetime.date(2025, 6, 1), "unpaid"),
            (4, 2, "D4", datetime.date(2025, 7, 1), "paid"),
        ], OLD_LINES)

        assert schema.upgrade(old, target="0009_customer_sales") == ["0009_customer_sales"]
        assert summary(old) == {(1, 2024): (1500070, 1, 2), (1, 2025): (3600, 1, 1),
                                (1, ALL): (1503670, 2, 3), (2, 2025): (0, 2, 0),
                                (2, ALL): (0, 2, 0)}
        # and the triggers run from now on
        old.execute_sql("UPDATE \"order\" SET status = 'paid' WHERE id = 3")
        assert summary(old)[(2, 2025)] == (500, 2, 1)
        indexes = {i.name for i in old.get_indexes("customer")}
        assert {"customer_status_level", "customer_status_credit",
                "customer_status_satisfaction"} <= indexes
    finally:
        getattr(old, "close_all", old.close)()
