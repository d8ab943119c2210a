"""工作台's version (work_version): a number that moves whenever a row the home page's panels
count may have changed, so the panels' counts — and the navbar badge on every page — are
counted again only then (models/work.py, ``WorkCache``).

Counted rows: opportunities, plan items, services, churn records, interaction records
(交往记录, for "N 天无交往"), and customers coming, going or changing 状态 or 客户经理 (a
客户经理's scope of churn warnings and silent customers follows his customers).

SQLite: a one-row table, bumped by a row trigger in the writer's own transaction, so the
new number becomes visible exactly with the rows it stands for.

PostgreSQL: a sequence, bumped once per statement (``nextval`` takes no lock: writers to
these tables never queue behind each other for it). A sequence is not transactional — a
reader may see the new number a moment before the writer commits — which is why a cached
count also expires after ``WorkCache.SECONDS``.
"""
from peewee import PostgresqlDatabase

# table: the changes that bump the version (SQLite: one trigger each; PG: one per table)
WATCHED = {
    "opportunity": ("INSERT", "UPDATE", "DELETE"),
    "plan_item": ("INSERT", "UPDATE", "DELETE"),
    "service_request": ("INSERT", "UPDATE", "DELETE"),
    "churn_record": ("INSERT", "UPDATE", "DELETE"),
    "activity": ("INSERT", "UPDATE", "DELETE"),
    "customer": ("INSERT", "UPDATE OF manager_id, status", "DELETE"),
}


def _name(table, event):
    return f"work_version_{table}_{event.split()[0].lower()}"


SQLITE = ["CREATE TABLE work_version (id INTEGER PRIMARY KEY CHECK (id = 1), "
          "n INTEGER NOT NULL)",
          "INSERT INTO work_version (id, n) VALUES (1, 1)"] + [
    f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
    f"BEGIN UPDATE work_version SET n = n + 1; END"
    for table, events in WATCHED.items() for event in events]

PG = ["CREATE SEQUENCE work_version",
      """CREATE FUNCTION work_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM nextval('work_version'); RETURN NULL; END $$"""] + [
    f"CREATE TRIGGER work_version_{table} AFTER {' OR '.join(events)} OR TRUNCATE "
    f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION work_version_bump()"
    for table, events in WATCHED.items()]


def up(migrator, db):
    for statement in PG if isinstance(db, PostgresqlDatabase) else SQLITE:
        db.execute_sql(statement)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        for table in WATCHED:
            db.execute_sql(f"DROP TRIGGER work_version_{table} ON {table}")
        db.execute_sql("DROP FUNCTION work_version_bump()")
        db.execute_sql("DROP SEQUENCE work_version")
        return
    for table, events in WATCHED.items():
        for event in events:
            db.execute_sql(f"DROP TRIGGER {_name(table, event)}")
    db.execute_sql("DROP TABLE work_version")
