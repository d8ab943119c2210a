"""导入批次 (import_batch, models/imports.py): one row per import of customers — who, when,
the file's name, the mode, the counts, done or undone (by whom, when), and what an undo
needs (the ids created, the fields updated with their values before and after). The
audit entries of an import and of its undo carry its id (audit_entry.batch).
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField


def up(migrator, db):
    db.create_tables([_frozen(db)])


def down(migrator, db):
    db.drop_tables([_frozen(db)])


def _frozen(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class ImportBatch(Model):
        entity = CharField(max_length=30)
        user = ForeignKeyField(User, null=True, backref="import_batches", on_delete="SET NULL")
        at = DateTimeField()
        file_name = CharField(max_length=255)
        mode = CharField(max_length=20)
        created = IntegerField(default=0)
        updated = IntegerField(default=0)
        skipped = IntegerField(default=0)
        status = CharField(max_length=10, default="done")
        undone_by = ForeignKeyField(User, null=True, backref="undone_imports",
                                    on_delete="SET NULL")
        undone_at = DateTimeField(null=True)
        changes = TextField(null=True)

        class Meta:
            database = db
            table_name = "import_batch"
            indexes = ((("entity", "at"), False),)

    return ImportBatch
