"""Account lockout: each user's failed logins and how long his account stays locked."""
from peewee import DateTimeField, IntegerField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('user', 'failed_logins', IntegerField(default=0)),
        migrator.add_column('user', 'last_failed_login_at', DateTimeField(null=True)),
        migrator.add_column('user', 'locked_until', DateTimeField(null=True)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column('user', 'locked_until'),
        migrator.drop_column('user', 'last_failed_login_at'),
        migrator.drop_column('user', 'failed_logins'),
    )
