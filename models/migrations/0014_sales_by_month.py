"""公司月度回款汇总 (sales_month): paid order amounts per month of the company, kept by
triggers, for the 高管's home page figure (已回款金额, this year so far against the same
months of last year).

sales_month(year, month, cents, orders, lines), key (year, month): ``cents`` the sum in
integer cents of 数量 × ROUND(单价 × 100) over the lines of the paid orders dated in that
month, ``orders`` the number of those orders, ``lines`` of their lines. A row goes when its
month has no paid order. An order's 日期 is a DATE, so its month is the company's. The
customer of an order does not matter here: moving an order to another customer changes
nothing.

SQLite (row triggers only): as in 0009, the one place that applies a delta that may empty
a month is the INSTEAD OF trigger of the view sales_month_change; order_line (delete,
update of order, quantity or price) and "order" (delete, update of date or status) insert
their deltas into it. An insert of a line or an order only adds: its trigger upserts the
month directly (a third less work per row of a bulk load). An order's delete is counted
BEFORE the row goes (its lines still there); the lines its delete cascades to find no
order any more and count nothing.

PostgreSQL: every month of the company is one row, so a row trigger would update the same
row once per line of a bulk load — in one transaction a chain of row versions that each
next update walks (20,000 updates of one row: seconds). Inserts and updates are therefore
counted once per statement, from its transition tables (one grouped upsert per statement:
a COPY or an insert_many of any size touches each month once), only the rows whose counted
values changed; an order's delete stays a row trigger BEFORE the row goes, for the reason
above (a statement's AFTER trigger would find its lines deleted by the cascade). The upsert
takes the months in order, so two transactions never lock them in opposite orders.

The trigger texts are frozen here; the existing orders are summed by
``rebuild_sales_by_month`` (models/customers/orders.py), which a bulk load may call too.
"""
from peewee import BigIntegerField, CompositeKey, IntegerField, Model, PostgresqlDatabase

from models.customers.orders import rebuild_sales_by_month

SQLITE_YEAR = "CAST(strftime('%Y', {0}.date) AS INTEGER)"
SQLITE_MONTH = "CAST(strftime('%m', {0}.date) AS INTEGER)"
SQLITE_CENTS = "CAST({0}.quantity * ROUND({0}.price * 100) AS INTEGER)"


def _sqlite_month(row):
    return f"{SQLITE_YEAR.format(row)}, {SQLITE_MONTH.format(row)}"


# An insert only adds: straight into the table (a bulk load's path), no row to drop.
SQLITE_ADD = """INSERT INTO sales_month (year, month, cents, orders, lines)"""
SQLITE_ADDED = """ON CONFLICT (year, month) DO UPDATE SET
           cents = cents + excluded.cents, orders = orders + excluded.orders,
           lines = lines + excluded.lines"""


def _sqlite_order(row, sign, into="INSERT INTO sales_month_change", then=""):
    """The delta of order ``row`` (NEW or OLD) when it is paid: its lines, itself."""
    return f"""{into}
         SELECT {_sqlite_month(row)}, {sign}cents, {sign}1, {sign}lines
         FROM (SELECT COALESCE(SUM({SQLITE_CENTS.format('l')}), 0) AS cents, COUNT(*) AS lines
               FROM order_line l WHERE l.order_id = {row}.id)
         WHERE {row}.status = 'paid' {then};"""


def _sqlite_line(row, sign, into="INSERT INTO sales_month_change", then=""):
    """The delta of line ``row`` (NEW or OLD) when its order is paid."""
    return f"""{into}
         SELECT {_sqlite_month('o')}, {sign}{SQLITE_CENTS.format(row)}, 0, {sign}1
         FROM "order" o WHERE o.id = {row}.order_id AND o.status = 'paid' {then};"""


SQLITE = [
    """CREATE VIEW sales_month_change (year, month, cents, orders, lines) AS
       SELECT year, month, cents, orders, lines FROM sales_month WHERE 0""",
    """CREATE TRIGGER sales_month_change INSTEAD OF INSERT ON sales_month_change
       BEGIN
         INSERT INTO sales_month (year, month, cents, orders, lines)
         VALUES (NEW.year, NEW.month, NEW.cents, NEW.orders, NEW.lines)
         ON CONFLICT (year, month) DO UPDATE SET
           cents = cents + excluded.cents, orders = orders + excluded.orders,
           lines = lines + excluded.lines;
         DELETE FROM sales_month WHERE year = NEW.year AND month = NEW.month AND orders <= 0;
       END""",
    f"""CREATE TRIGGER sales_month_line_insert AFTER INSERT ON order_line
       BEGIN {_sqlite_line('NEW', '', SQLITE_ADD, SQLITE_ADDED)} END""",
    f"""CREATE TRIGGER sales_month_line_delete AFTER DELETE ON order_line
       BEGIN {_sqlite_line('OLD', '-')} END""",
    f"""CREATE TRIGGER sales_month_line_update AFTER UPDATE OF order_id, quantity, price
       ON order_line
       BEGIN {_sqlite_line('OLD', '-')} {_sqlite_line('NEW', '')} END""",
    f"""CREATE TRIGGER sales_month_order_insert AFTER INSERT ON "order"
       WHEN NEW.status = 'paid'
       BEGIN {_sqlite_order('NEW', '', SQLITE_ADD, SQLITE_ADDED)} END""",
    f"""CREATE TRIGGER sales_month_order_delete BEFORE DELETE ON "order"
       WHEN OLD.status = 'paid'
       BEGIN {_sqlite_order('OLD', '-')} END""",
    f"""CREATE TRIGGER sales_month_order_update AFTER UPDATE OF date, status ON "order"
       WHEN (OLD.status = 'paid' OR NEW.status = 'paid')
         AND (OLD.status IS NOT NEW.status
              OR strftime('%Y-%m', OLD.date) IS NOT strftime('%Y-%m', NEW.date))
       BEGIN {_sqlite_order('OLD', '-')} {_sqlite_order('NEW', '')} END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS sales_month_order_update",
    "DROP TRIGGER IF EXISTS sales_month_order_delete",
    "DROP TRIGGER IF EXISTS sales_month_order_insert",
    "DROP TRIGGER IF EXISTS sales_month_line_update",
    "DROP TRIGGER IF EXISTS sales_month_line_delete",
    "DROP TRIGGER IF EXISTS sales_month_line_insert",
    "DROP VIEW IF EXISTS sales_month_change",
]

PG_CENTS = "({0}.quantity * ROUND({0}.price * 100))::bigint"
PG_MONTH = ("EXTRACT(YEAR FROM {0}.date)::integer AS year, "
            "EXTRACT(MONTH FROM {0}.date)::integer AS month")


def _pg_apply(deltas):
    """Add the grouped ``deltas`` (SELECTs of year, month, cents, orders, lines) to their
    months, in the months' order; drop the months left without a paid order."""
    return f"""INSERT INTO sales_month AS s (year, month, cents, orders, lines)
         SELECT year, month, SUM(cents)::bigint, SUM(orders)::integer, SUM(lines)::integer
         FROM ({' UNION ALL '.join(deltas)}) d
         GROUP BY year, month
         HAVING SUM(cents) <> 0 OR SUM(orders) <> 0 OR SUM(lines) <> 0
         ORDER BY year, month
         ON CONFLICT (year, month) DO UPDATE SET
           cents = s.cents + EXCLUDED.cents, orders = s.orders + EXCLUDED.orders,
           lines = s.lines + EXCLUDED.lines;
         IF FOUND THEN
           DELETE FROM sales_month WHERE orders <= 0;
         END IF;"""


def _pg_lines(rows, sign, other=None):
    """The delta of the lines of transition table ``rows`` whose order is paid; with
    ``other`` (an UPDATE's other table), only the lines not there unchanged."""
    unchanged = "" if other is None else f"""AND NOT EXISTS (SELECT 1 FROM {other} x
           WHERE x.id = l.id AND x.order_id = l.order_id AND x.quantity = l.quantity
             AND x.price = l.price)"""
    return f"""SELECT {PG_MONTH.format('o')}, {sign}SUM({PG_CENTS.format('l')}) AS cents,
           0 AS orders, {sign}COUNT(*) AS lines
         FROM {rows} l JOIN "order" o ON o.id = l.order_id
         WHERE o.status = 'paid' {unchanged}
         GROUP BY 1, 2"""


def _pg_orders(rows, sign, other=None):
    """The delta of the paid orders of transition table ``rows`` with their lines; with
    ``other``, only the orders not there paid in the same month."""
    unchanged = "" if other is None else f"""AND NOT EXISTS (SELECT 1 FROM {other} x
           WHERE x.id = o.id AND x.status = 'paid'
             AND date_trunc('month', x.date) = date_trunc('month', o.date))"""
    return f"""SELECT {PG_MONTH.format('o')},
           {sign}COALESCE(SUM({PG_CENTS.format('l')}), 0) AS cents,
           {sign}COUNT(DISTINCT o.id) AS orders, {sign}COUNT(l.id) AS lines
         FROM {rows} o LEFT JOIN order_line l ON l.order_id = o.id
         WHERE o.status = 'paid' {unchanged}
         GROUP BY 1, 2"""


def _pg_function(name, body):
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         {body}
         RETURN NULL;
       END $$"""


# (trigger and its function, table, event, transition tables, body)
PG_STATEMENT_TRIGGERS = [
    ("sales_month_line_insert", "order_line", "INSERT", "NEW TABLE AS new_rows",
     _pg_apply([_pg_lines("new_rows", "")])),
    ("sales_month_line_delete", "order_line", "DELETE", "OLD TABLE AS old_rows",
     _pg_apply([_pg_lines("old_rows", "-")])),
    ("sales_month_line_update", "order_line", "UPDATE",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows",
     _pg_apply([_pg_lines("old_rows", "-", "new_rows"), _pg_lines("new_rows", "", "old_rows")])),
    ("sales_month_order_insert", '"order"', "INSERT", "NEW TABLE AS new_rows",
     _pg_apply([_pg_orders("new_rows", "")])),
    ("sales_month_order_update", '"order"', "UPDATE",
     "OLD TABLE AS old_rows NEW TABLE AS new_rows",
     _pg_apply([_pg_orders("old_rows", "-", "new_rows"),
                _pg_orders("new_rows", "", "old_rows")])),
]

PG = [
    *[statement for name, table, event, tables, body in PG_STATEMENT_TRIGGERS
      for statement in (
          _pg_function(name, body),
          f"""CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables}
              FOR EACH STATEMENT EXECUTE FUNCTION {name}()""")],
    f"""CREATE OR REPLACE FUNCTION sales_month_order_delete() RETURNS trigger
       LANGUAGE plpgsql AS $$
       DECLARE total bigint; n integer;
       BEGIN
         IF OLD.status = 'paid' THEN
           SELECT COALESCE(SUM({PG_CENTS.format('l')}), 0), COUNT(*) INTO total, n
           FROM order_line l WHERE l.order_id = OLD.id;
           UPDATE sales_month SET cents = cents - total, orders = orders - 1, lines = lines - n
           WHERE year = EXTRACT(YEAR FROM OLD.date) AND month = EXTRACT(MONTH FROM OLD.date);
           DELETE FROM sales_month
           WHERE year = EXTRACT(YEAR FROM OLD.date) AND month = EXTRACT(MONTH FROM OLD.date)
             AND orders <= 0;
         END IF;
         RETURN OLD;
       END $$""",
    """CREATE TRIGGER sales_month_order_delete BEFORE DELETE ON "order"
       FOR EACH ROW EXECUTE FUNCTION sales_month_order_delete()""",
]
PG_DROP = [
    'DROP TRIGGER IF EXISTS sales_month_order_delete ON "order"',
    "DROP FUNCTION IF EXISTS sales_month_order_delete()",
    *[statement for name, table, *_ in reversed(PG_STATEMENT_TRIGGERS)
      for statement in (f"DROP TRIGGER IF EXISTS {name} ON {table}",
                        f"DROP FUNCTION IF EXISTS {name}()")],
]


def _frozen(db):
    class SalesMonth(Model):
        year = IntegerField()
        month = IntegerField()
        cents = BigIntegerField(default=0)
        orders = IntegerField(default=0)
        lines = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "sales_month"
            primary_key = CompositeKey("year", "month")

    return SalesMonth


def _is_pg(db):
    return isinstance(db, PostgresqlDatabase)


def up(migrator, db):
    db.create_tables([_frozen(db)])
    for statement in PG if _is_pg(db) else SQLITE:
        db.execute_sql(statement)
    rebuild_sales_by_month(db)


def down(migrator, db):
    for statement in PG_DROP if _is_pg(db) else SQLITE_DROP:
        db.execute_sql(statement)
    db.drop_tables([_frozen(db)])
