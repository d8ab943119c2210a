"""Creating and upgrading the schema with peewee's migration runner.

Migrations are the numbered scripts in ``models/migrations``; each declares
frozen copies of the tables it touches, so an old database upgrades in order
without losing data.
"""
import os

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


def pending(database):
    return [m.name for m in runner(database).status() if m.path and not m.applied]
