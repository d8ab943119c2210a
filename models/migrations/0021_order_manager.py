"""Each order carries its customer's 客户经理 (order.manager_id), kept by triggers, so that
a 客户经理's orders are one index range (issue 9).

A 客户经理's order list was ``customer_id IN (his customers)``: his 20,000–44,000 orders
of 1,000,000 read through order (customer_id) and sorted whole for each page (40–58 ms
sorted by 订单编号 on SQLite, 131 ms for page 200 on PostgreSQL). With the manager on the
order, (manager_id, date) and (manager_id, number) hand a page in order from the index;
sorted by 客户 (客户编号), his customers are walked from customer (manager_id, number) —
the sort joins the customer on his being its manager too (RelatedSort, ``owner_key``),
so the order's scope reaches the customer's index (60 → 0.1 ms for the first page).

The column is never written by the application; the database keeps it equal to the
customer's ``manager_id`` on every write path (the ORM, the ERP import, raw SQL, bulk
loads, a customer handed to another 客户经理):

- an order inserted, or its customer (or the column itself) changed: the order takes
  its customer's manager (SQLite: AFTER, an UPDATE of the row when it differs;
  PostgreSQL: BEFORE, NEW.manager_id set);
- a customer's manager changed: his orders follow, in the same statement.

The trigger texts are frozen here; the existing orders are given their managers by one
UPDATE.
"""
from peewee import ForeignKeyField, Model, PostgresqlDatabase

OWNER = '(SELECT c.manager_id FROM customer c WHERE c.id = NEW.customer_id)'

SQLITE = [
    f"""CREATE TRIGGER order_manager_insert AFTER INSERT ON "order"
       WHEN NEW.manager_id IS NOT {OWNER}
       BEGIN
         UPDATE "order" SET manager_id = {OWNER} WHERE id = NEW.id;
       END""",
    f"""CREATE TRIGGER order_manager_update AFTER UPDATE OF customer_id, manager_id ON "order"
       WHEN NEW.manager_id IS NOT {OWNER}
       BEGIN
         UPDATE "order" SET manager_id = {OWNER} WHERE id = NEW.id;
       END""",
    """CREATE TRIGGER customer_manager_orders AFTER UPDATE OF manager_id ON customer
       WHEN OLD.manager_id IS NOT NEW.manager_id
       BEGIN
         UPDATE "order" SET manager_id = NEW.manager_id WHERE customer_id = NEW.id;
       END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS customer_manager_orders",
               "DROP TRIGGER IF EXISTS order_manager_update",
               "DROP TRIGGER IF EXISTS order_manager_insert"]

PG = [
    f"""CREATE OR REPLACE FUNCTION order_manager() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         NEW.manager_id := {OWNER};
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER order_manager BEFORE INSERT OR UPDATE OF customer_id, manager_id
       ON "order" FOR EACH ROW EXECUTE FUNCTION order_manager()""",
    """CREATE OR REPLACE FUNCTION customer_manager_orders() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE "order" SET manager_id = NEW.manager_id WHERE customer_id = NEW.id;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER customer_manager_orders AFTER UPDATE OF manager_id ON customer
       FOR EACH ROW WHEN (OLD.manager_id IS DISTINCT FROM NEW.manager_id)
       EXECUTE FUNCTION customer_manager_orders()""",
]
PG_DROP = ["DROP TRIGGER IF EXISTS customer_manager_orders ON customer",
           "DROP FUNCTION IF EXISTS customer_manager_orders()",
           'DROP TRIGGER IF EXISTS order_manager ON "order"',
           "DROP FUNCTION IF EXISTS order_manager()"]

INDEXES = (("order", ("manager_id", "date")), ("order", ("manager_id", "number")),
           ("customer", ("manager_id", "number")))


def _user(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    return User


def up(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    user = _user(db)
    manager = ForeignKeyField(user, field=user.id, null=True, index=False, on_delete="RESTRICT")
    migrator.migrate(migrator.add_column("order", "manager_id", manager))
    db.execute_sql('UPDATE "order" SET manager_id = (SELECT c.manager_id FROM customer c '
                   'WHERE c.id = "order".customer_id)')
    for statement in PG if pg else SQLITE:
        db.execute_sql(statement)
    migrator.migrate(*[migrator.add_index(table, columns, False) for table, columns in INDEXES])


def down(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                       for table, columns in INDEXES])
    for statement in PG_DROP if pg else SQLITE_DROP:
        db.execute_sql(statement)
    migrator.migrate(migrator.drop_column("order", "manager_id"))
