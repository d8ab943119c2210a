"""Copying an installation's data into another database (SQLite → PostgreSQL): plain Python.

The target gets its schema from the migrations (``schema.upgrade``, so its
``schema_migration`` history is the source's), then every table of
``ALL_MODELS`` in dependency order, row by row through the models (so SQLite's
0/1 and date texts arrive as PostgreSQL booleans and timestamps), in one
transaction; keys keep their values, and PostgreSQL's sequences are moved past
the copied keys so the next insert does not collide. The copy is verified by
the row count of every table.
"""
from peewee import AutoField, PostgresqlDatabase, chunked

from models import ALL_MODELS, schema

BATCH = 500


class CopyError(Exception):
    """The copy was refused or did not arrive whole."""


def row_counts(database, models=ALL_MODELS):
    """{table name: number of rows} of ``database``."""
    return {m._meta.table_name: m.select().bind(database).count() for m in models}


def copy_database(source, target, models=ALL_MODELS):
    """Copy every table of ``source`` into the empty database ``target``; the row counts,
    {table: count}, equal on both sides (else CopyError, and the target keeps nothing)."""
    pending = schema.pending(source)
    if pending:
        raise CopyError(f"the source database is not up to date ({', '.join(pending)}): "
                        "run flask init-db on it first")
    if not schema.is_new(target) and any(row_counts(target, models).values()):
        raise CopyError("the target database already holds data: copy into an empty one")
    schema.upgrade(target)
    if schema.pending(target) or set(schema.runner(target).applied()) != set(
            schema.runner(source).applied()):
        raise CopyError("the target's migrations differ from the source's")

    with target.bind_ctx(models, bind_refs=False, bind_backrefs=False):
        with target.atomic():
            schema.empty(target, models)  # rows a migration may have seeded
            for model in models:
                if getattr(model._meta, "derived", False):
                    continue  # a summary the target's triggers fill as the rows arrive
                fields = model._meta.sorted_fields
                rows = model.select(*fields).order_by(model._meta.primary_key).bind(
                    source).tuples().iterator()
                for batch in chunked(rows, BATCH):
                    model.insert_many(batch, fields=fields).execute()
            if isinstance(target, PostgresqlDatabase):
                _move_sequences(target, models)

    expected, copied = row_counts(source, models), row_counts(target, models)
    if expected != copied:
        raise CopyError(f"row counts differ: {expected} → {copied}")
    schema.compact_summaries(target, models)  # filled row by row by the triggers
    return copied


def _move_sequences(database, models):
    """Set each serial key's sequence to continue after the largest copied key."""
    for model in models:
        key = model._meta.primary_key
        if not isinstance(key, AutoField):
            continue
        table, column = model._meta.table_name, key.column_name
        database.execute_sql(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), "
            f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)',
            (f'"{table}"', column))
