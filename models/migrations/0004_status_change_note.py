"""A status change carries what the user wrote with it (服务处理, 反馈): every round stays."""
from peewee import TextField


def up(migrator, db):
    migrator.migrate(migrator.add_column('status_change', 'note', TextField(null=True)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('status_change', 'note'))
