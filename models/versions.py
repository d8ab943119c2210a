"""Data versions (migration 0016): a number per kind of rows that moves whenever one of
those rows changes — from anywhere: a page, another server process, a command, an import,
raw SQL, since triggers move it. What a page computes from such rows is kept, per process,
under the number, and computed again only once it moved.

- ``WORK``: the rows the home page's panels count (and the navbar badge on every page).
- ``REFERENCE``: users, roles, the dictionary, who manages customers — the lists' filter
  options.
"""
import time

from peewee import PostgresqlDatabase

WORK, REFERENCE = "work", "reference"
NAMES = (WORK, REFERENCE)


def current(database):
    """{name: its number now} of every version, in one statement."""
    if isinstance(database, PostgresqlDatabase):
        row = database.execute_sql("SELECT " + ", ".join(
            f"(SELECT last_value FROM {name}_version)" for name in NAMES)).fetchone()
        return dict(zip(NAMES, row))
    return dict(database.execute_sql("SELECT name, n FROM data_version").fetchall())


class Kept:
    """Values computed from the rows of one version, kept until it moves. ``who`` names
    whatever a value depends on besides those rows (a user, his grants, the company's day,
    the language). An entry also expires after SECONDS: on PostgreSQL the version may move
    a moment before the writer's rows are visible, and a value computed in that moment
    would otherwise be kept until the next change."""

    SECONDS = 60

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.version, self.kept = None, {}

    def get(self, version, who, key, compute):
        """The value ``key`` for ``who`` at ``version``: kept, or ``compute()``."""
        if version is None:
            return compute()
        if version != self.version:
            self.version, self.kept = version, {}
        now = self.clock()
        kept = self.kept.get((who, key))
        if kept is None or now - kept[0] > self.SECONDS:
            kept = self.kept[(who, key)] = (now, compute())
        return kept[1]
