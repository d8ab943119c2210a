"""审计日志 (audit_entry, models/audit.py): one row per change, step, import, grant and
login event; and the permission to read it, 审计日志 (``security.audit``), for every
role that holds 权限分配 today (the administrators).

The log is append-only: a trigger refuses every UPDATE of an entry on either database,
whatever the path (the model refuses updates and deletes too). DELETE stays possible
for the database's owner only, outside the application (a retention policy is his).
"""
from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)

from models.reference import grant_where_held, revoke_everywhere

MESSAGE = "audit_entry is append-only"
SQLITE = [f"""CREATE TRIGGER audit_entry_append_only BEFORE UPDATE ON audit_entry
              BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""]
PG = [f"""CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""",
      """CREATE TRIGGER audit_entry_append_only BEFORE UPDATE ON audit_entry
         FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()"""]
PG_DROP = ["DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
           "DROP FUNCTION IF EXISTS audit_entry_append_only()"]


def up(migrator, db):
    db.create_tables([_frozen(db)])
    for statement in PG if isinstance(db, PostgresqlDatabase) else SQLITE:
        db.execute_sql(statement)
    grant_where_held(db, "security.permission", "security.audit")


def down(migrator, db):
    revoke_everywhere(db, "security.audit")
    if isinstance(db, PostgresqlDatabase):
        for statement in PG_DROP:
            db.execute_sql(statement)
    db.drop_tables([_frozen(db)])


def _frozen(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class AuditEntry(Model):
        at = DateTimeField(index=True)
        user = ForeignKeyField(User, null=True, on_delete="SET NULL")
        username = CharField(max_length=150, null=True)
        origin = CharField(max_length=60, null=True)
        action = CharField(max_length=20)
        step = CharField(max_length=30, null=True)
        entity = CharField(max_length=30, null=True)
        entity_id = IntegerField(null=True)
        label = CharField(max_length=200, null=True)
        changes = TextField(null=True)
        batch = IntegerField(null=True)
        note = TextField(null=True)

        class Meta:
            database = db
            table_name = "audit_entry"
            indexes = ((("entity", "entity_id", "at"), False), (("user", "at"), False),
                       (("action", "at"), False), (("batch",), False))

    return AuditEntry
