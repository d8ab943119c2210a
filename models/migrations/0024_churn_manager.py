"""流失记录 carry their customer's 客户经理 too (churn_record.manager_id), kept by the
triggers of 0023 (issue 9).

A 客户经理's churn records were ``customer_id IN (his customers)`` and the list sorted
by 客户经理 joined every record to its customer and his user, then sorted the 10,000
(10 ms of SQL on SQLite; a 客户经理's list filtered by 状态 17 ms on PostgreSQL). With the
manager on the row, (manager_id, status) hands a 客户经理's records from one index range,
and the sort by 客户经理 walks the users by name and each one's records by that index.

The rules, the trigger texts and the way the stored rows get their managers are 0023's,
for one more table: they are read from that (frozen) migration, not copied.
"""
import importlib.util
import os

from peewee import ForeignKeyField, PostgresqlDatabase

TABLE, INDEXES = "churn_record", (("manager_id", "status"),)


def _records_migration():
    path = os.path.join(os.path.dirname(__file__), "0023_contact_activity_manager.py")
    spec = importlib.util.spec_from_file_location("crm_migration_0023", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def up(migrator, db):
    records = _records_migration()
    pg = isinstance(db, PostgresqlDatabase)
    user = records._user(db)
    manager = ForeignKeyField(user, field=user.id, null=True, index=False, on_delete="RESTRICT")
    migrator.migrate(migrator.add_column(TABLE, "manager_id", manager))
    db.execute_sql(f"UPDATE {TABLE} SET manager_id = (SELECT c.manager_id FROM customer c "
                   f"WHERE c.id = {TABLE}.customer_id)")
    for statement in records.pg_statements(TABLE) if pg else records.sqlite_statements(TABLE):
        db.execute_sql(statement)
    migrator.migrate(*[migrator.add_index(TABLE, columns, False) for columns in INDEXES])


def down(migrator, db):
    records = _records_migration()
    pg = isinstance(db, PostgresqlDatabase)
    migrator.migrate(*[migrator.drop_index(TABLE, "_".join((TABLE, *columns)))
                       for columns in INDEXES])
    for statement in records.pg_drops(TABLE) if pg else records.sqlite_drops(TABLE):
        db.execute_sql(statement)
    migrator.migrate(migrator.drop_column(TABLE, "manager_id"))
