"""Remember each user's language choice; record every permission grant or revoke."""
from peewee import *  # noqa: F403


def up(migrator, db):
    class Role(Model):
        class Meta:
            database = db
            table_name = 'role'

    class User(Model):
        class Meta:
            database = db
            table_name = 'user'

    class PermissionChange(Model):
        role = ForeignKeyField(Role, on_delete='CASCADE')
        permission = CharField(max_length=60)
        before = CharField(max_length=10)
        after = CharField(max_length=10)
        changed_by = ForeignKeyField(User)
        changed_at = DateTimeField(index=True)
        class Meta:
            database = db
            table_name = 'permission_change'
    db.create_tables([PermissionChange])

    migrator.migrate(migrator.add_column('user', 'locale', CharField(null=True, max_length=16)))


def down(migrator, db):
    migrator.migrate(migrator.drop_column('user', 'locale'))
    migrator.migrate(migrator.drop_table('permission_change'))
