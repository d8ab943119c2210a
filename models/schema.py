"""Creating and upgrading the schema with peewee's migration runner.

Migrations are the numbered scripts in ``models/migrations``; each declares
frozen copies of the tables it touches, so an old database upgrades in order
without losing data.
"""
import os

from peewee import SqliteDatabase
from playhouse.migrations import Runner

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def runner(database):
    return Runner(database, MIGRATIONS_DIR)


def is_new(database):
    """True when no migration has been applied yet (an empty database)."""
    return not runner(database).applied()


def upgrade(database, target=None):
    """Apply the pending migrations (up to ``target``); return their names."""
    return runner(database).up(target)


def optimize(database):
    """Let SQLite's planner know the data: a full ANALYZE (under a second at 100,000
    customers and 2,500,000 order lines). Without statistics — or with sampled ones
    (``analysis_limit``), which guessed 667 customers per 状态 where there are 88,000 —
    it sorts a whole list through the wrong index (the customer list took 60 ms instead
    of 1). Run after every upgrade (``init-db``) and daily (``detect-churn``).
    PostgreSQL's autovacuum keeps its statistics itself."""
    if isinstance(database, SqliteDatabase):
        database.execute_sql("PRAGMA analysis_limit = 0")
        database.execute_sql("ANALYZE")


def compact_summaries(database, models):
    """Rewrite the summaries (the ``derived`` models, kept by row triggers) after a bulk
    load on PostgreSQL: each order of the load updated its customer's and its month's rows,
    and every update leaves a row version that VACUUM frees for reuse but does not give
    back — at 1,000,000 orders customer_sales took 143 MB and its index 201 MB for 12 MB
    and 9 MB of rows, and 客户贡献分析's total read them all (33 ms, 11 after). VACUUM
    FULL rewrites them (a second, the tables locked: a copy into a new database, the
    bench's build); a plain VACUUM then marks their pages all-visible, so that a total
    reads the index alone (VACUUM FULL leaves the visibility map empty, and autovacuum
    has no reason to come back until the rows change: 客户贡献分析's total, 77,000 rows,
    read the table too, 18 ms against 13). SQLite reuses freed pages in place: nothing to
    do there."""
    if isinstance(database, SqliteDatabase):
        return
    for model in models:
        if getattr(model._meta, "derived", False):
            table = model._meta.table_name
            database.execute_sql(f'VACUUM FULL "{table}"')
            database.execute_sql(f'VACUUM ANALYZE "{table}"')


def pending(database):
    return [m.name for m in runner(database).status() if m.path and not m.applied]


def empty(database, models):
    """Delete every row of ``models``' tables, in reverse order (the copy of a database
    into a new one, the tests): maintenance below the models, so the audit log, which
    its model refuses to delete, is emptied too. DELETE, not TRUNCATE: on small tables
    PostgreSQL deletes many times faster."""
    with database.atomic():
        for model in reversed(models):
            database.execute_sql(f'DELETE FROM "{model._meta.table_name}"')
