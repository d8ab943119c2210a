"""Data versions: numbers that move whenever rows of some kind change, so what a page
computes from them is computed again only then (models/versions.py, ``Kept``).

- ``work``: what the home page's panels count — opportunities, plan items, services,
  churn records, interaction records (交往记录, for "N 天无交往"), and customers coming,
  going or changing 状态 or 客户经理 (a 客户经理's scope follows his customers).
- ``reference``: what the lists offer as filter options — users (their names, whether
  active), their roles, the dictionary, and which users manage customers.

SQLite: a table of one row per version, bumped by row triggers in the writer's own
transaction, so a new number becomes visible exactly with the rows it stands for.

PostgreSQL: a sequence per version, bumped once per statement (``nextval`` takes no lock:
writers never queue behind each other for it). A sequence is not transactional — a reader
may see the new number a moment before the writer commits — which is why a kept value also
expires after ``Kept.SECONDS``.
"""
from peewee import PostgresqlDatabase

# version: {table: the changes that bump it}
WATCHED = {
    "work": {
        "opportunity": ("INSERT", "UPDATE", "DELETE"),
        "plan_item": ("INSERT", "UPDATE", "DELETE"),
        "service_request": ("INSERT", "UPDATE", "DELETE"),
        "churn_record": ("INSERT", "UPDATE", "DELETE"),
        "activity": ("INSERT", "UPDATE", "DELETE"),
        "customer": ("INSERT", "UPDATE OF manager_id, status", "DELETE"),
    },
    "reference": {
        "user": ("INSERT", "UPDATE OF username, full_name, active", "DELETE"),
        "user_roles": ("INSERT", "UPDATE", "DELETE"),
        "role": ("INSERT", "UPDATE", "DELETE"),
        "dictionary_entry": ("INSERT", "UPDATE", "DELETE"),
        "customer": ("INSERT", "UPDATE OF manager_id", "DELETE"),
    },
}


def _triggers():
    """(version, table, events, SQLite trigger name) of every watched change."""
    for version, tables in WATCHED.items():
        for table, events in tables.items():
            yield version, table, events, [
                f"{version}_version_{table}_{event.split()[0].lower()}" for event in events]


def _sqlite():
    yield ("CREATE TABLE data_version (name VARCHAR(20) NOT NULL PRIMARY KEY, "
           "n INTEGER NOT NULL)")
    for version in WATCHED:
        yield f"INSERT INTO data_version (name, n) VALUES ('{version}', 1)"
    for version, table, events, names in _triggers():
        for event, name in zip(events, names):
            yield (f'CREATE TRIGGER {name} AFTER {event} ON "{table}" BEGIN '
                   f"UPDATE data_version SET n = n + 1 WHERE name = '{version}'; END")


def _pg():
    yield """CREATE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM nextval(TG_ARGV[0]); RETURN NULL; END $$"""
    for version in WATCHED:
        yield f"CREATE SEQUENCE {version}_version"
    for version, table, events, _ in _triggers():
        yield (f'CREATE TRIGGER {version}_version AFTER {" OR ".join(events)} OR TRUNCATE '
               f'ON "{table}" FOR EACH STATEMENT '
               f"EXECUTE FUNCTION data_version_bump('{version}_version')")


def up(migrator, db):
    for statement in _pg() if isinstance(db, PostgresqlDatabase) else _sqlite():
        db.execute_sql(statement)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        for version, table, _, _ in _triggers():
            db.execute_sql(f'DROP TRIGGER {version}_version ON "{table}"')
        db.execute_sql("DROP FUNCTION data_version_bump()")
        for version in WATCHED:
            db.execute_sql(f"DROP SEQUENCE {version}_version")
        return
    for _, _, _, names in _triggers():
        for name in names:
            db.execute_sql(f"DROP TRIGGER {name}")
    db.execute_sql("DROP TABLE data_version")
