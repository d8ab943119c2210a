"""客户销售汇总 (customer_sales): paid order amounts per customer and year, kept by triggers;
indexes that let 客户构成分析 count 正常 customers without reading the table.

customer_sales(customer_id, year, cents, orders, lines), key (customer_id, year), index
(year, cents, lines): ``orders`` the number of a customer's orders of that year (paid or
not), ``cents`` the sum in integer cents of 数量 × ROUND(单价 × 100) over the lines of his
paid ones and ``lines`` their number; year 0 holds the sums over all years. Triggers on
order_line (insert, delete, update of order, quantity or price) and on "order" (insert,
delete, update of customer, date or status) apply each change as a delta, so every write
path — the ORM, the ERP import, raw SQL, bulk inserts — keeps it exact; a row goes when
its customer has no order that year.

SQLite has no functions: the one place that applies a delta is the INSTEAD OF trigger of
the view customer_sales_change (an insert into it adds to the year's row and to the
all-years row). PostgreSQL: the plpgsql function customer_sales_change. An order's
delete is counted BEFORE the row goes (its lines still there); the lines its delete
cascades to find no order any more and count nothing.

The trigger texts are frozen here; the existing orders are summed by
``rebuild_sales`` (models/customers/orders.py), the same function a bulk load calls.
"""
from peewee import (
    BigIntegerField,
    CompositeKey,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
)

from models.customers.orders import rebuild_sales

SQLITE_YEAR = "CAST(strftime('%Y', {0}.date) AS INTEGER)"
SQLITE_CENTS = "CAST({0}.quantity * ROUND({0}.price * 100) AS INTEGER)"

SQLITE = [
    """CREATE VIEW customer_sales_change (customer_id, year, cents, orders, lines) AS
       SELECT customer_id, year, cents, orders, lines FROM customer_sales WHERE 0""",
    """CREATE TRIGGER customer_sales_change INSTEAD OF INSERT ON customer_sales_change
       BEGIN
         INSERT INTO customer_sales (customer_id, year, cents, orders, lines)
         VALUES (NEW.customer_id, NEW.year, NEW.cents, NEW.orders, NEW.lines),
                (NEW.customer_id, 0, NEW.cents, NEW.orders, NEW.lines)
         ON CONFLICT (customer_id, year) DO UPDATE SET
           cents = cents + excluded.cents, orders = orders + excluded.orders,
           lines = lines + excluded.lines;
         DELETE FROM customer_sales WHERE customer_id = NEW.customer_id
           AND year IN (NEW.year, 0) AND orders <= 0;
       END""",
    # -- lines: their paid order's customer and year gain or lose the line
    f"""CREATE TRIGGER customer_sales_line_insert AFTER INSERT ON order_line
       BEGIN
         INSERT INTO customer_sales_change
         SELECT o.customer_id, {SQLITE_YEAR.format('o')}, {SQLITE_CENTS.format('NEW')}, 0, 1
         FROM "order" o WHERE o.id = NEW.order_id AND o.status = 'paid';
       END""",
    f"""CREATE TRIGGER customer_sales_line_delete AFTER DELETE ON order_line
       BEGIN
         INSERT INTO customer_sales_change
         SELECT o.customer_id, {SQLITE_YEAR.format('o')}, -{SQLITE_CENTS.format('OLD')}, 0, -1
         FROM "order" o WHERE o.id = OLD.order_id AND o.status = 'paid';
       END""",
    f"""CREATE TRIGGER customer_sales_line_update AFTER UPDATE OF order_id, quantity, price
       ON order_line
       BEGIN
         INSERT INTO customer_sales_change
         SELECT o.customer_id, {SQLITE_YEAR.format('o')}, -{SQLITE_CENTS.format('OLD')}, 0, -1
         FROM "order" o WHERE o.id = OLD.order_id AND o.status = 'paid';
         INSERT INTO customer_sales_change
         SELECT o.customer_id, {SQLITE_YEAR.format('o')}, {SQLITE_CENTS.format('NEW')}, 0, 1
         FROM "order" o WHERE o.id = NEW.order_id AND o.status = 'paid';
       END""",
    # -- orders: every order counts one, a paid one with all its lines
    f"""CREATE TRIGGER customer_sales_order_insert AFTER INSERT ON "order"
       BEGIN
         INSERT INTO customer_sales_change
         SELECT NEW.customer_id, {SQLITE_YEAR.format('NEW')}, cents, 1, lines
         FROM (SELECT COALESCE(SUM({SQLITE_CENTS.format('l')}), 0) AS cents, COUNT(*) AS lines
               FROM order_line l WHERE l.order_id = NEW.id AND NEW.status = 'paid');
       END""",
    f"""CREATE TRIGGER customer_sales_order_delete BEFORE DELETE ON "order"
       BEGIN
         INSERT INTO customer_sales_change
         SELECT OLD.customer_id, {SQLITE_YEAR.format('OLD')}, -cents, -1, -lines
         FROM (SELECT COALESCE(SUM({SQLITE_CENTS.format('l')}), 0) AS cents, COUNT(*) AS lines
               FROM order_line l WHERE l.order_id = OLD.id AND OLD.status = 'paid');
       END""",
    f"""CREATE TRIGGER customer_sales_order_update AFTER UPDATE OF customer_id, date, status
       ON "order"
       WHEN OLD.customer_id IS NOT NEW.customer_id OR OLD.status IS NOT NEW.status
         OR {SQLITE_YEAR.format('OLD')} IS NOT {SQLITE_YEAR.format('NEW')}
       BEGIN
         INSERT INTO customer_sales_change
         SELECT OLD.customer_id, {SQLITE_YEAR.format('OLD')}, -cents, -1, -lines
         FROM (SELECT COALESCE(SUM({SQLITE_CENTS.format('l')}), 0) AS cents, COUNT(*) AS lines
               FROM order_line l WHERE l.order_id = OLD.id AND OLD.status = 'paid');
         INSERT INTO customer_sales_change
         SELECT NEW.customer_id, {SQLITE_YEAR.format('NEW')}, cents, 1, lines
         FROM (SELECT COALESCE(SUM({SQLITE_CENTS.format('l')}), 0) AS cents, COUNT(*) AS lines
               FROM order_line l WHERE l.order_id = NEW.id AND NEW.status = 'paid');
       END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS customer_sales_order_update",
    "DROP TRIGGER IF EXISTS customer_sales_order_delete",
    "DROP TRIGGER IF EXISTS customer_sales_order_insert",
    "DROP TRIGGER IF EXISTS customer_sales_line_update",
    "DROP TRIGGER IF EXISTS customer_sales_line_delete",
    "DROP TRIGGER IF EXISTS customer_sales_line_insert",
    "DROP VIEW IF EXISTS customer_sales_change",
]

PG_CENTS = "({0}.quantity * ROUND({0}.price * 100))::bigint"
PG = [
    """CREATE OR REPLACE FUNCTION customer_sales_change(
         _customer integer, _year integer, _cents bigint, _orders integer, _lines integer)
       RETURNS void LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO customer_sales AS s (customer_id, year, cents, orders, lines)
         VALUES (_customer, _year, _cents, _orders, _lines), (_customer, 0, _cents, _orders, _lines)
         ON CONFLICT (customer_id, year) DO UPDATE SET
           cents = s.cents + EXCLUDED.cents, orders = s.orders + EXCLUDED.orders,
           lines = s.lines + EXCLUDED.lines;
         DELETE FROM customer_sales s WHERE s.customer_id = _customer
           AND s.year IN (_year, 0) AND s.orders <= 0;
       END $$""",
    f"""CREATE OR REPLACE FUNCTION customer_sales_order_line() RETURNS trigger
       LANGUAGE plpgsql AS $$
       DECLARE o record;
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           SELECT customer_id, date, status INTO o FROM "order" WHERE id = OLD.order_id;
           IF FOUND AND o.status = 'paid' THEN
             PERFORM customer_sales_change(o.customer_id, EXTRACT(YEAR FROM o.date)::integer,
                                           -{PG_CENTS.format('OLD')}, 0, -1);
           END IF;
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') THEN
           SELECT customer_id, date, status INTO o FROM "order" WHERE id = NEW.order_id;
           IF FOUND AND o.status = 'paid' THEN
             PERFORM customer_sales_change(o.customer_id, EXTRACT(YEAR FROM o.date)::integer,
                                           {PG_CENTS.format('NEW')}, 0, 1);
           END IF;
         END IF;
         RETURN NULL;
       END $$""",
    f"""CREATE OR REPLACE FUNCTION customer_sales_order() RETURNS trigger
       LANGUAGE plpgsql AS $$
       DECLARE total bigint; n integer;
       BEGIN
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           total := 0; n := 0;
           IF OLD.status = 'paid' THEN
             SELECT COALESCE(SUM({PG_CENTS.format('l')}), 0), COUNT(*) INTO total, n
             FROM order_line l WHERE l.order_id = OLD.id;
           END IF;
           PERFORM customer_sales_change(OLD.customer_id, EXTRACT(YEAR FROM OLD.date)::integer,
                                         -total, -1, -n);
         END IF;
         IF TG_OP IN ('INSERT', 'UPDATE') THEN
           total := 0; n := 0;
           IF NEW.status = 'paid' THEN
             SELECT COALESCE(SUM({PG_CENTS.format('l')}), 0), COUNT(*) INTO total, n
             FROM order_line l WHERE l.order_id = NEW.id;
           END IF;
           PERFORM customer_sales_change(NEW.customer_id, EXTRACT(YEAR FROM NEW.date)::integer,
                                         total, 1, n);
         END IF;
         IF TG_OP = 'DELETE' THEN
           RETURN OLD;
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER customer_sales_order_line
       AFTER INSERT OR DELETE OR UPDATE OF order_id, quantity, price ON order_line
       FOR EACH ROW EXECUTE FUNCTION customer_sales_order_line()""",
    """CREATE TRIGGER customer_sales_order_insert AFTER INSERT ON "order"
       FOR EACH ROW EXECUTE FUNCTION customer_sales_order()""",
    """CREATE TRIGGER customer_sales_order_delete BEFORE DELETE ON "order"
       FOR EACH ROW EXECUTE FUNCTION customer_sales_order()""",
    """CREATE TRIGGER customer_sales_order_update
       AFTER UPDATE OF customer_id, date, status ON "order" FOR EACH ROW
       WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id
             OR OLD.status IS DISTINCT FROM NEW.status
             OR EXTRACT(YEAR FROM OLD.date) IS DISTINCT FROM EXTRACT(YEAR FROM NEW.date))
       EXECUTE FUNCTION customer_sales_order()""",
]
PG_DROP = [
    'DROP TRIGGER IF EXISTS customer_sales_order_update ON "order"',
    'DROP TRIGGER IF EXISTS customer_sales_order_delete ON "order"',
    'DROP TRIGGER IF EXISTS customer_sales_order_insert ON "order"',
    "DROP TRIGGER IF EXISTS customer_sales_order_line ON order_line",
    "DROP FUNCTION IF EXISTS customer_sales_order()",
    "DROP FUNCTION IF EXISTS customer_sales_order_line()",
    "DROP FUNCTION IF EXISTS customer_sales_change(integer, integer, bigint, integer, integer)",
]

# 客户构成分析 counts the 正常 customers per level, credit or satisfaction.
COMPOSITION = ("level", "credit", "satisfaction")


def _frozen(db):
    class Customer(Model):
        class Meta:
            database = db
            table_name = "customer"

    class CustomerSales(Model):
        customer = ForeignKeyField(Customer, on_delete="CASCADE", index=False)
        year = IntegerField()
        cents = BigIntegerField(default=0)
        orders = IntegerField(default=0)
        lines = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "customer_sales"
            primary_key = CompositeKey("customer", "year")
            indexes = ((("year", "cents", "lines"), False),)

    return CustomerSales


def _is_pg(db):
    return isinstance(db, PostgresqlDatabase)


def up(migrator, db):
    db.create_tables([_frozen(db)])
    for statement in PG if _is_pg(db) else SQLITE:
        db.execute_sql(statement)
    migrator.migrate(*[migrator.add_index("customer", ("status", column), False)
                       for column in COMPOSITION])
    rebuild_sales(db)


def down(migrator, db):
    migrator.migrate(*[migrator.drop_index("customer", f"customer_status_{column}")
                       for column in COMPOSITION])
    for statement in PG_DROP if _is_pg(db) else SQLITE_DROP:
        db.execute_sql(statement)
    db.drop_tables([_frozen(db)])
