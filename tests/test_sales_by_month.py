"""公司月度回款汇总 (sales_month): the triggers keep it equal to the plain aggregate of the
paid orders per month (and 0009's customer_sales to its own, and 0021's order.manager_id
to the customer's manager) after any write — the ORM,
the ERP import, raw SQL, bulk inserts, status flips, dates moved across months and years —
and migration 0014 /
``rebuild_sales_by_month`` compute it from the orders. On the suite's kind of database
(SQLite, or PostgreSQL under TEST_DATABASE_URL)."""
import csv
import datetime
import itertools
import random
from collections import defaultdict
from decimal import Decimal

from peewee import PostgresqlDatabase

from models import (
    Customer,
    CustomerSales,
    Order,
    OrderLine,
    SalesMonth,
    db,
    open_database,
    schema,
)
from models.customers import rebuild_sales
from models.customers.orders import rebuild_sales_by_month, sales_by_month_sql
from tests.conftest import migration_before, scratch_database
from tests.test_sales_summary import (
    OLD_LINES,
    installation_with_orders,
    make_customers,
    product,
    random_price,
)
from tests.test_sales_summary import expected as expected_per_customer
from tests.test_sales_summary import summary as summary_per_customer

_numbers = itertools.count(1)
D = datetime.date


def expected():
    """{(year, month): (cents, orders, lines)} computed here, in Python, from the rows: the
    paid orders of each month, 数量 × 单价 in cents over their lines."""
    sums = defaultdict(lambda: [0, 0, 0])
    paid = {}
    for o in Order.select().where(Order.status == Order.PAID):
        paid[o.id] = (o.date.year, o.date.month)
        sums[paid[o.id]][1] += 1
    for line in OrderLine.select(OrderLine.order, OrderLine.quantity, OrderLine.price):
        month = paid.get(line.order_id)
        if month is not None:
            sums[month][0] += line.quantity * int(Decimal(line.price) * 100)
            sums[month][2] += 1
    return {key: tuple(value) for key, value in sums.items()}


def aggregate(database=None):
    """The same, by the plain SQL aggregate over orders and lines (a GROUP BY of year and
    month)."""
    database = database or db.obj
    return {(year, month): (int(cents), orders, lines) for year, month, cents, orders, lines
            in database.execute_sql(sales_by_month_sql(database)).fetchall()}


def summary(database=None):
    query = SalesMonth.select(SalesMonth.year, SalesMonth.month, SalesMonth.cents,
                              SalesMonth.orders, SalesMonth.lines)
    if database is not None:
        query = query.bind(database)
    return {(y, m): (int(cents), orders, lines) for y, m, cents, orders, lines in query.tuples()}


def order(customer, day, lines=(), status=Order.PAID):
    o = Order.create(customer=customer, number=f"DM{next(_numbers):09d}", date=day,
                     address="北京", status=status)
    for quantity, price in lines:
        OrderLine.create(order=o, product=product(), quantity=quantity, unit="台",
                         price=Decimal(price))
    return o


# -- the random sequence ------------------------------------------------------------------

def test_after_random_changes_through_every_write_path_the_months_are_the_aggregate(
        app, users, tmp_path):
    rng = random.Random(20261202)
    customers = make_customers(users, 3)
    managers = [users[name] for name in ("xiaoming", "supervisor", "admin")]
    item = product()
    pg = isinstance(db.obj, PostgresqlDatabase)

    def some_day():
        return D(rng.randint(2024, 2026), rng.randint(1, 12), rng.randint(1, 28))

    def new_order(status=None, lines=None):
        o = Order.create(customer=rng.choice(customers), number=f"DR{next(_numbers):09d}",
                         date=some_day(), address="北京",
                         status=status or rng.choice([Order.PAID, Order.UNPAID]))
        for _ in range(rng.randint(0, 4) if lines is None else lines):
            OrderLine.create(order=o, product=item, quantity=rng.randint(1, 50), unit="台",
                             price=random_price(rng))
        return o

    def some_order():
        return Order.select().order_by(Order.id).offset(
            rng.randrange(Order.select().count())).first()

    def some_line():
        count = OrderLine.select().count()
        return OrderLine.select().order_by(OrderLine.id).offset(rng.randrange(count)).first() \
            if count else None

    def add_line():
        OrderLine.create(order=some_order(), product=item, quantity=rng.randint(1, 9),
                         unit="台", price=random_price(rng))

    def change_line():
        line = some_line()
        if line:
            line.quantity, line.price = rng.randint(1, 99), random_price(rng)
            line.save()

    def move_line():  # to another order, of another month perhaps
        line = some_line()
        if line:
            OrderLine.update(order=some_order()).where(OrderLine.id == line.id).execute()

    def delete_line():
        line = some_line()
        if line:
            line.delete_instance()

    def toggle_paid():
        o = some_order()
        o.status = Order.UNPAID if o.status == Order.PAID else Order.PAID
        o.save()

    def redate():
        o = some_order()
        year, month, day = o.date.year, o.date.month, min(o.date.day, 28)
        o.date = rng.choice([
            D(rng.randint(2023, 2027), month, day),  # another year, the same month
            D(year, rng.randint(1, 12), day),  # another month, the same year
            D(year, month, rng.randint(1, 28)),  # within its month: nothing moves
            some_day()])
        o.save()

    def move_order():  # to another customer: no month changes
        Order.update(customer=rng.choice(customers)).where(Order.id == some_order().id).execute()

    def delete_order():
        # the lines first (as the ORM's recursive delete does), or by the FK's cascade
        some_order().delete_instance(recursive=rng.random() < 0.5)

    def hand_over():  # a customer to another 客户经理: his orders follow
        customer = rng.choice(customers)
        customer.manager = rng.choice(managers)
        customer.save()

    def hand_over_in_sql():
        db.execute_sql(f"UPDATE customer SET manager_id = {rng.choice(managers).id} "
                       f"WHERE id = {rng.choice(customers).id}")

    def stale_save():  # an order read before a hand-over, saved after it
        o = some_order()
        Customer.update(manager=rng.choice(managers)).where(Customer.id == o.customer_id) \
            .execute()
        o.address = "南京"
        o.save()

    def write_the_manager():  # the column written by hand: the database puts it right
        db.execute_sql(f'UPDATE "order" SET manager_id = {rng.choice(managers).id} '
                       f'WHERE id IN ({", ".join(str(some_order().id) for _ in range(2))})')

    def everything_at_once():
        Order.update(customer=rng.choice(customers), status=rng.choice([Order.PAID, Order.UNPAID]),
                     date=some_day()).where(Order.id == some_order().id).execute()

    def bulk_insert():
        with db.atomic():
            Order.insert_many([
                {"customer": rng.choice(customers).id, "number": f"DB{next(_numbers):09d}",
                 "date": some_day(), "address": "天津",
                 "status": rng.choice([Order.PAID, Order.UNPAID])} for _ in range(4)]).execute()
            ids = [o.id for o in Order.select(Order.id).order_by(Order.id.desc()).limit(4)]
            OrderLine.insert_many([{"order": i, "product": item.id, "quantity": rng.randint(1, 5),
                                    "unit": "台", "price": random_price(rng)}
                                   for i in ids for _ in range(rng.randint(0, 3))]
                                  or [{"order": ids[0], "product": item.id, "quantity": 1,
                                       "unit": "台", "price": Decimal("1.00")}]).execute()

    def raw_sql():
        def some(table):
            ids = [row[0] for row in db.execute_sql(f'SELECT id FROM "{table}"').fetchall()]
            return ", ".join(str(i) for i in rng.sample(ids, min(len(ids), 3)) or [0])
        later = "date + 31" if pg else "date(date, '+31 days')"
        earlier = "date - 400" if pg else "date(date, '-400 days')"
        statement = rng.choice([
            f"UPDATE order_line SET price = price + 1.25 WHERE id IN ({some('order_line')})",
            f"UPDATE order_line SET quantity = quantity + 1 WHERE id IN ({some('order_line')})",
            "UPDATE order_line SET unit = '件'",  # nothing counted changes
            f"UPDATE order_line SET order_id = (SELECT MIN(id) FROM \"order\") "
            f"WHERE id IN ({some('order_line')})",
            f"UPDATE \"order\" SET status = 'paid' WHERE id IN ({some('order')})",
            f"UPDATE \"order\" SET status = 'unpaid' WHERE id IN ({some('order')})",
            f"UPDATE \"order\" SET date = {later}",  # every order a month on
            f"UPDATE \"order\" SET date = {earlier} WHERE id IN ({some('order')})",
            "UPDATE \"order\" SET address = '广州'",
            f"DELETE FROM order_line WHERE id IN ({some('order_line')})",
            f"DELETE FROM \"order\" WHERE id IN ({some('order')})",  # lines by cascade
        ])
        db.execute_sql(statement)

    def import_file(rows):
        path = tmp_path / f"orders{next(_numbers)}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        result = app.test_cli_runner().invoke(args=["import-orders", str(path)])
        assert result.exit_code == 0, result.output

    def import_run():
        """The ERP's file, imported twice (the second time changes nothing); its known
        orders replaced (their lines deleted and inserted again)."""
        known = [o.number for o in Order.select(Order.number).limit(3)]
        rows = []
        for number in known + [f"DI{next(_numbers):09d}" for _ in range(2)]:
            header = {"订单编号": number, "客户编号": rng.choice(customers).number,
                      "日期": f"{rng.randint(2024, 2026)}-{rng.randint(1, 12):02d}-15",
                      "送货地址": "上海", "状态": rng.choice(["已回款", "未回款"])}
            for _ in range(rng.randint(1, 3)):
                rows.append({**header, "商品名称": "幸福牌电视机", "型号": "818 FFT",
                             "批次": "2388 EA03", "数量": str(rng.randint(1, 9)), "单位": "台",
                             "单价": str(random_price(rng))})
        import_file(rows)
        assert summary() == expected(), "after the first import"
        import_file(rows)

    for _ in range(6):
        new_order(status=Order.PAID, lines=3)
    steps = [new_order, add_line, change_line, move_line, delete_line, toggle_paid, redate,
             move_order, delete_order, everything_at_once, bulk_insert, raw_sql, import_run,
             hand_over, hand_over_in_sql, stale_save, write_the_manager]
    done = set()
    for number in range(200):
        step = steps[number] if number < len(steps) else rng.choice(steps)
        if Order.select().count() < 3:
            step = new_order
        step()
        done.add(step.__name__)
        wanted = expected()
        assert summary() == wanted, f"after step {number}: {step.__name__}"
        assert aggregate() == wanted
        # the same writes keep 0009's summary per customer and year too
        assert summary_per_customer() == expected_per_customer(), \
            f"customer_sales after step {number}: {step.__name__}"
        assert managers_of_orders() == expected_managers(), \
            f"order.manager_id after step {number}: {step.__name__}"
    assert done == {s.__name__ for s in steps}
    assert len(summary()) > 3  # something was left to compare

    # rebuild_sales_by_month and rebuild_sales compute the same tables from the orders
    before = summary()
    SalesMonth.update(cents=0, lines=0).execute()
    assert rebuild_sales_by_month(db.obj) == len(before)
    assert summary() == before
    before = summary_per_customer()
    CustomerSales.update(cents=0).execute()
    assert rebuild_sales(db.obj) == sum(1 for key in before if key[1] != CustomerSales.ALL_YEARS)
    assert summary_per_customer() == before


def managers_of_orders(database=None):
    """{order: manager_id} as the orders carry it (migration 0021)."""
    query = Order.select(Order.id, Order.manager).tuples()
    return dict(query.bind(database) if database is not None else query)


def expected_managers(database=None):
    """{order: its customer's manager}, by the plain join."""
    query = Order.select(Order.id, Customer.manager).join(Customer).tuples()
    return dict(query.bind(database) if database is not None else query)


# -- rules the sequence may not hit -----------------------------------------------------------

def test_a_month_counts_its_paid_orders_only_and_goes_with_the_last(users):
    c, = make_customers(users, 1)
    paid = order(c, D(2026, 1, 31), [(3, "10.00"), (1, "0.07")])
    order(c, D(2026, 1, 1), [(5, "100.00")], status=Order.UNPAID)
    empty = order(c, D(2026, 2, 1))  # paid, no lines: an order of no amount
    assert summary() == {(2026, 1): (3007, 1, 2), (2026, 2): (0, 1, 0)}
    empty.delete_instance()
    Order.update(status=Order.UNPAID).where(Order.id == paid.id).execute()
    assert summary() == {}


def test_the_last_day_of_a_month_is_that_month_and_a_year_is_not_another_years(users):
    c, = make_customers(users, 1)
    o = order(c, D(2025, 12, 31), [(1, "5.00")])
    assert summary() == {(2025, 12): (500, 1, 1)}
    Order.update(date=D(2026, 1, 1)).where(Order.id == o.id).execute()
    assert summary() == {(2026, 1): (500, 1, 1)}
    Order.update(date=D(2026, 12, 1)).where(Order.id == o.id).execute()
    assert summary() == {(2026, 12): (500, 1, 1)}


def test_amounts_are_exact_integer_cents(users):
    c, = make_customers(users, 1)
    o = order(c, D(2025, 1, 2), [(10, "9999999999.99")])
    OrderLine.insert_many([{"order": o.id, "product": product().id, "quantity": 1, "unit": "台",
                            "price": Decimal("0.07")}] * 1000).execute()
    assert summary() == {(2025, 1): (10000000006990, 1, 1001)}


def test_a_bulk_insert_touches_each_month_once_on_postgresql(users, database):
    """A COPY or insert_many of many lines updates each month's row once, not once per line
    (on PostgreSQL a row updated per line of a load slows the load down quadratically)."""
    c, = make_customers(users, 1)
    orders = [order(c, D(2026, month, 1)) for month in (3, 4)]
    if not isinstance(database, PostgresqlDatabase):
        # SQLite updates a row in place: a row trigger per line; the sums are all there is
        OrderLine.insert_many([{"order": o.id, "product": product().id, "quantity": 2,
                                "unit": "台", "price": Decimal("1.50")}
                               for o in orders for _ in range(500)]).execute()
        assert summary() == {(2026, 3): (150000, 1, 500), (2026, 4): (150000, 1, 500)}
        return
    touched = ("SELECT n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables "
               "WHERE relname = 'sales_month'")
    with database.atomic():
        before = database.execute_sql(touched).fetchone()[0]
        OrderLine.insert_many([{"order": o.id, "product": product().id, "quantity": 2,
                                "unit": "台", "price": Decimal("1.50")}
                               for o in orders for _ in range(500)]).execute()
        assert database.execute_sql(touched).fetchone()[0] - before == 2
        before = database.execute_sql(touched).fetchone()[0]
        database.execute_sql('UPDATE "order" SET date = date + 31')  # March → April → May
        # March loses, May gains; April loses one order and gains another, as large
        assert database.execute_sql(touched).fetchone()[0] - before == 2
    assert summary() == {(2026, 4): (150000, 1, 500), (2026, 5): (150000, 1, 500)}


# -- the migration --------------------------------------------------------------------------

def test_migration_0014_sums_the_orders_an_installation_already_has(tmp_path):
    previous = migration_before("0014_sales_by_month")
    old = open_database(scratch_database(tmp_path, "months"))
    try:
        installation_with_orders(old, previous, [
            (1, 1, "D1", D(2024, 12, 31), "paid"),
            (2, 2, "D2", D(2024, 12, 1), "paid"),
            (3, 2, "D3", D(2025, 1, 1), "unpaid"),
            (4, 1, "D4", D(2025, 1, 31), "paid"),
        ], OLD_LINES)

        assert "0014_sales_by_month" in schema.upgrade(old, target="0014_sales_by_month")
        assert summary(old) == {(2024, 12): (1503670, 2, 3), (2025, 1): (0, 1, 0)}
        assert summary(old) == aggregate(old)
        # and the triggers run from now on
        old.execute_sql("UPDATE \"order\" SET status = 'paid' WHERE id = 3")
        assert summary(old)[(2025, 1)] == (500, 2, 1)
    finally:
        getattr(old, "close_all", old.close)()


def test_migration_0021_gives_the_orders_an_installation_already_has_their_managers(tmp_path):
    previous = migration_before("0021_order_manager")
    old = open_database(scratch_database(tmp_path, "managers"))
    try:
        installation_with_orders(old, previous, [
            (1, 1, "D1", D(2024, 12, 31), "paid"), (2, 2, "D2", D(2025, 1, 1), "unpaid"),
            (3, 2, "D3", D(2025, 2, 1), "paid")], OLD_LINES)
        at = datetime.datetime(2025, 1, 1, 8)
        old.execute_sql('INSERT INTO "user" (id, username, full_name, active, fs_uniquifier, '
                        'created_at, failed_logins, must_change_password) '
                        'VALUES (2, %s, %s, %s, %s, %s, 0, %s)' % (
                            (old.param,) * 6), ("laoli", "老李", True, "u2", at, False))
        old.execute_sql("UPDATE customer SET manager_id = 2 WHERE id = 2")

        assert "0021_order_manager" in schema.upgrade(old, target="0021_order_manager")
        assert managers_of_orders(old) == {1: 1, 2: 2, 3: 2} == expected_managers(old)
        # and the triggers run from now on: a hand-over, a new order
        old.execute_sql("UPDATE customer SET manager_id = 1 WHERE id = 2")
        old.execute_sql('INSERT INTO "order" (id, customer_id, number, date, address, status) '
                        "VALUES (4, 2, 'D4', '2025-03-01', '北京', 'paid')")
        assert managers_of_orders(old) == {1: 1, 2: 1, 3: 1, 4: 1}
    finally:
        getattr(old, "close_all", old.close)()
