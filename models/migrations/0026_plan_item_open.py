"""An index of the plan items not executed yet, by date (issue 9).

计划项到期 (a development with a plan item due and no 执行效果) asked each of the 6,000
developments for its items: 7–12 ms of SQL on SQLite to find 38, for the list's page and
again for its count, and for the home page's panel. The open items are the few hundred
of the 60,000 ever planned; a partial index of them hands the due ones at once.
"""

NAME = "plan_item_open_date"


def up(migrator, db):
    db.execute_sql(f"CREATE INDEX {NAME} ON plan_item (date, opportunity_id) "
                   "WHERE result IS NULL OR result = ''")


def down(migrator, db):
    db.execute_sql(f"DROP INDEX IF EXISTS {NAME}")
