"""Search services and opportunities through an index, as 0010 does customers (issue 9).

The service lists search a service's 服务类型 and 概要, the opportunity lists an
opportunity's 客户名称, 概要 and 联系人 (besides the customer's name, which 0010 indexes);
each was a LIKE over every row (服务归档, "华顺酒店": 233 ms at 50,000 services). For each
of the two tables, the structures of 0010, kept in step by triggers and filled here:

- 3+ characters: SQLite, ``<table>_search``, an FTS5 table with the trigram tokenizer
  (external content, nothing copied); PostgreSQL, ``<table>_search``, a copy of the
  columns with a GIN trigram index on each (``pg_trgm``, created by 0010 where it could
  be). Without either the upgrade still succeeds and such words read the rows.
- 2 characters: SQLite, ``<table>_bigram`` (gram, field, row_id), each distinct lowercased
  2-character substring of each column, its triggers reading the positions from 0010's
  ``search_number``; PostgreSQL, ``<table>_search.grams``, the bigrams each behind its
  column's code, under a GIN index (0010's ``search_bigrams``).

Everything is frozen here: the tables, columns and codes are those of this step.
"""
import logging

from peewee import PostgresqlDatabase

log = logging.getLogger("crm.schema")

TABLES = {"service_request": {"service_type": 1, "summary": 2},
          "opportunity": {"customer_name": 1, "summary": 2, "contact": 3}}
LONGEST = 10000  # SQLite: the characters of one value the bigram triggers reach (0010)
TOKENIZER = "trigram"  # SQLite ≥ 3.34 (FTS5)


def up(migrator, db):
    for table, columns in TABLES.items():
        if isinstance(db, PostgresqlDatabase):
            _up_postgresql(db, table, columns)
        else:
            _up_sqlite(db, table, columns)


def down(migrator, db):
    for table in TABLES:
        if isinstance(db, PostgresqlDatabase):
            _down_postgresql(db, table)
        else:
            _down_sqlite(db, table)


# -- SQLite ---------------------------------------------------------------------------------

def _down_sqlite(db, table):
    for event in ("insert", "update", "delete"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_search_{event}")
    for suffix in ("search", "bigram"):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}_{suffix}")


def _sqlite_fts(db, table, columns):
    """Create the FTS5 trigram table; False when this SQLite has no trigram tokenizer."""
    try:
        with db.atomic():
            db.execute_sql(f"CREATE VIRTUAL TABLE {table}_search USING fts5({', '.join(columns)}, "
                           f"content='{table}', content_rowid='id', tokenize='{TOKENIZER}')")
    except Exception as exc:  # no FTS5, or SQLite < 3.34 (no trigram tokenizer)
        log.warning("%s search: no FTS5 trigram index on this SQLite (%s); searches of 3 or "
                    "more characters will read every row", table, exc)
        return False
    return True


def _up_sqlite(db, table, columns):
    _down_sqlite(db, table)  # a database left half-built
    fts = _sqlite_fts(db, table, columns)
    bigram = f"{table}_bigram"
    db.execute_sql(f"CREATE TABLE {bigram} (gram TEXT NOT NULL, field INTEGER NOT NULL, "
                   "row_id INTEGER NOT NULL, PRIMARY KEY (gram, field, row_id)) WITHOUT ROWID")

    def grams(row, action):
        """The statements adding (or removing) the bigrams of ``row`` (new or old)."""
        parts = []
        for column, code in columns.items():
            pick = (f"SELECT substr(lower({row}.{column}), n, 2) AS g FROM search_number "
                    f"WHERE n < length({row}.{column})")
            parts.append(
                f"INSERT OR IGNORE INTO {bigram} (gram, field, row_id) "
                f"SELECT g, {code}, {row}.id FROM ({pick});" if action == "add" else
                f"DELETE FROM {bigram} WHERE field = {code} AND row_id = {row}.id "
                f"AND gram IN ({pick});")
        return " ".join(parts)

    values = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    too_long = " OR ".join(f"length(new.{c}) > {LONGEST}" for c in columns)
    refuse = f"SELECT RAISE(ABORT, '{table} text longer than {LONGEST} characters') " \
             f"WHERE {too_long};"
    fts_add = f"INSERT INTO {table}_search (rowid, {values}) VALUES (new.id, {new});" \
        if fts else ""
    fts_remove = (f"INSERT INTO {table}_search ({table}_search, rowid, {values}) "
                  f"VALUES ('delete', old.id, {old});") if fts else ""
    db.execute_sql(f"CREATE TRIGGER {table}_search_insert AFTER INSERT ON {table} BEGIN "
                   f"{refuse} {fts_add} {grams('new', 'add')} END")
    db.execute_sql(f"CREATE TRIGGER {table}_search_delete AFTER DELETE ON {table} BEGIN "
                   f"{fts_remove} {grams('old', 'remove')} END")
    db.execute_sql(f"CREATE TRIGGER {table}_search_update AFTER UPDATE OF id, {values} "
                   f"ON {table} BEGIN {refuse} {fts_remove} {grams('old', 'remove')} "
                   f"{fts_add} {grams('new', 'add')} END")

    if fts:
        db.execute_sql(f"INSERT INTO {table}_search ({table}_search) VALUES ('rebuild')")
    longer = db.execute_sql(f"SELECT id FROM {table} WHERE {too_long.replace('new.', '')} "
                            "LIMIT 1").fetchone()
    if longer:
        raise ValueError(f"{table} {longer[0]} holds a text longer than {LONGEST} characters")
    for column, code in columns.items():
        db.execute_sql(
            f"INSERT OR IGNORE INTO {bigram} (gram, field, row_id) "
            f"SELECT substr(lower(t.{column}), s.n, 2), {code}, t.id FROM {table} AS t "
            f"JOIN search_number AS s ON s.n < length(t.{column})")


# -- PostgreSQL -----------------------------------------------------------------------------

def _down_postgresql(db, table):
    db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_search_sync ON {table}")
    db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_search_truncate ON {table}")
    db.execute_sql(f"DROP TABLE IF EXISTS {table}_search")
    db.execute_sql(f"DROP FUNCTION IF EXISTS {table}_search_sync, {table}_search_truncate, "
                   f"{table}_grams")


def _up_postgresql(db, table, columns):
    trigram = db.execute_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() is not None
    if not trigram:
        log.warning("%s search: no pg_trgm (see 0010); searches of 3 or more characters "
                    "will read every row", table)
    _down_postgresql(db, table)
    db.execute_sql(f"CREATE TABLE {table}_search (id integer PRIMARY KEY, "
                   + ", ".join(f"{c} text" for c in columns) + ", grams text[] NOT NULL)")
    # A row's grams: each bigram of each column behind the column's code ('2电器').
    arguments = ", ".join(f"{c} text" for c in columns)
    grams = " UNION ALL ".join(f"SELECT '{code}' || g FROM search_bigrams({column}) AS g"
                               for column, code in columns.items())
    db.execute_sql(f"CREATE FUNCTION {table}_grams({arguments}) RETURNS text[] "
                   f"LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY({grams}) $$")
    values = ", ".join(columns)
    new = ", ".join(f"NEW.{c}" for c in columns)
    db.execute_sql(
        f"CREATE FUNCTION {table}_search_sync() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' THEN DELETE FROM {table}_search WHERE id = OLD.id; END IF; "
        f"IF TG_OP <> 'DELETE' THEN INSERT INTO {table}_search (id, {values}, grams) "
        f"VALUES (NEW.id, {new}, {table}_grams({new})); END IF; "
        "RETURN NULL; END $$")
    db.execute_sql(
        f"CREATE FUNCTION {table}_search_truncate() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN TRUNCATE {table}_search; RETURN NULL; END $$")
    db.execute_sql(f"CREATE TRIGGER {table}_search_sync AFTER INSERT OR DELETE OR UPDATE OF "
                   f"id, {values} ON {table} FOR EACH ROW EXECUTE FUNCTION "
                   f"{table}_search_sync()")
    db.execute_sql(f"CREATE TRIGGER {table}_search_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_search_truncate()")

    db.execute_sql(f"INSERT INTO {table}_search (id, {values}, grams) "
                   f"SELECT id, {values}, {table}_grams({values}) FROM {table}")
    db.execute_sql(f"CREATE INDEX {table}_search_grams ON {table}_search USING gin (grams)")
    if trigram:
        for column in columns:
            db.execute_sql(f"CREATE INDEX {table}_search_{column}_trgm ON {table}_search "
                           f"USING gin ({column} gin_trgm_ops)")
    db.execute_sql(f"ANALYZE {table}_search")
