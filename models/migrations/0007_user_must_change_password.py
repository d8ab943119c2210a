"""A password set by an administrator must be changed by its user at his next login."""
from peewee import BooleanField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('user', 'must_change_password', BooleanField(default=False)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('user', 'must_change_password'))
