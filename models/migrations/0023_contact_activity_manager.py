"""联系人 and 交往记录 carry their customer's 客户经理 too (contact.manager_id and
activity.manager_id), kept by triggers as 0021 keeps the order's (issue 9).

A 客户经理's contacts and 交往记录 were ``customer_id IN (his customers)``: his 3,000–
13,000 rows read through that list and sorted for each page (7–12 ms of SQL on SQLite
sorted by 姓名, 概要 or 客户; page 200 of his 交往记录 27 ms on PostgreSQL). With the
manager on the row, (manager_id, name), (manager_id, date) and (manager_id, summary) hand
a page in order from the index.

The same rules as 0021, per table: a row inserted, or its customer (or the column itself)
written, takes its customer's manager; a customer handed to another 客户经理 takes his
contacts and 交往记录 along in the same statement. The application never writes the
column. The trigger texts are frozen here; the existing rows get their managers by one
UPDATE each.
"""
from peewee import ForeignKeyField, Model, PostgresqlDatabase

TABLES = {"contact": (("manager_id", "name"),),
          "activity": (("manager_id", "date"), ("manager_id", "summary"))}
OWNER = "(SELECT c.manager_id FROM customer c WHERE c.id = NEW.customer_id)"


def sqlite_statements(table):
    return [
        f"""CREATE TRIGGER {table}_manager_insert AFTER INSERT ON {table}
           WHEN NEW.manager_id IS NOT {OWNER}
           BEGIN
             UPDATE {table} SET manager_id = {OWNER} WHERE id = NEW.id;
           END""",
        f"""CREATE TRIGGER {table}_manager_update AFTER UPDATE OF customer_id, manager_id
           ON {table} WHEN NEW.manager_id IS NOT {OWNER}
           BEGIN
             UPDATE {table} SET manager_id = {OWNER} WHERE id = NEW.id;
           END""",
        f"""CREATE TRIGGER customer_manager_{table} AFTER UPDATE OF manager_id ON customer
           WHEN OLD.manager_id IS NOT NEW.manager_id
           BEGIN
             UPDATE {table} SET manager_id = NEW.manager_id WHERE customer_id = NEW.id;
           END""",
    ]


def sqlite_drops(table):
    return [f"DROP TRIGGER IF EXISTS customer_manager_{table}",
            f"DROP TRIGGER IF EXISTS {table}_manager_update",
            f"DROP TRIGGER IF EXISTS {table}_manager_insert"]


def pg_statements(table):
    # order_manager() of 0021 sets NEW.manager_id from NEW.customer_id: any such table
    return [
        f"""CREATE TRIGGER {table}_manager BEFORE INSERT OR UPDATE OF customer_id, manager_id
           ON {table} FOR EACH ROW EXECUTE FUNCTION order_manager()""",
        f"""CREATE OR REPLACE FUNCTION customer_manager_{table}() RETURNS trigger
           LANGUAGE plpgsql AS $$
           BEGIN
             UPDATE {table} SET manager_id = NEW.manager_id WHERE customer_id = NEW.id;
             RETURN NULL;
           END $$""",
        f"""CREATE TRIGGER customer_manager_{table} AFTER UPDATE OF manager_id ON customer
           FOR EACH ROW WHEN (OLD.manager_id IS DISTINCT FROM NEW.manager_id)
           EXECUTE FUNCTION customer_manager_{table}()""",
    ]


def pg_drops(table):
    return [f"DROP TRIGGER IF EXISTS customer_manager_{table} ON customer",
            f"DROP FUNCTION IF EXISTS customer_manager_{table}()",
            f"DROP TRIGGER IF EXISTS {table}_manager ON {table}"]


def _user(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    return User


def up(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    user = _user(db)
    for table, indexes in TABLES.items():
        manager = ForeignKeyField(user, field=user.id, null=True, index=False,
                                  on_delete="RESTRICT")
        migrator.migrate(migrator.add_column(table, "manager_id", manager))
        db.execute_sql(f"UPDATE {table} SET manager_id = (SELECT c.manager_id FROM customer c "
                       f"WHERE c.id = {table}.customer_id)")
        for statement in pg_statements(table) if pg else sqlite_statements(table):
            db.execute_sql(statement)
        migrator.migrate(*[migrator.add_index(table, columns, False) for columns in indexes])


def down(migrator, db):
    pg = isinstance(db, PostgresqlDatabase)
    for table, indexes in TABLES.items():
        migrator.migrate(*[migrator.drop_index(table, "_".join((table, *columns)))
                           for columns in indexes])
        for statement in pg_drops(table) if pg else sqlite_drops(table):
            db.execute_sql(statement)
        migrator.migrate(migrator.drop_column(table, "manager_id"))
