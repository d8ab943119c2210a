"""Search customers through an index (issue 9): 客户编号, 名称 and 地区 by any substring.

Two structures, kept in step with ``customer`` by triggers (so every write path — the
ORM, the imports, raw SQL, a bulk load — keeps them exact), filled here for the
customers already stored:

- 3+ characters: SQLite, an FTS5 table with the trigram tokenizer (external content:
  ``content='customer'``, nothing copied); PostgreSQL, ``customer_search``, a copy of
  the three columns with a GIN trigram index (``pg_trgm``) on each. Without the
  tokenizer or the extension (an old SQLite, no privilege) the upgrade still succeeds
  and such searches read the text without an index (``models/search.py`` warns).
- 2 characters (common in Chinese names: 河畔, 电器), which neither trigram index
  answers: each distinct lowercased 2-character substring of each column. SQLite:
  ``customer_bigram`` (gram, field, customer), one row each; its triggers cannot hold a
  recursive CTE, so they read the positions from ``search_number`` (1…LONGEST) and
  refuse a longer value (PostgreSQL refuses anything over the columns' 100 characters
  anyway). PostgreSQL: ``customer_search.grams``, the array of a customer's bigrams each
  behind its column's code ('2电器'), under a GIN index (compressed: a fifth of the size
  of a table of rows).

Everything is frozen here: the columns and their codes are those of this step.
"""
import logging

from peewee import PostgresqlDatabase

log = logging.getLogger("crm.schema")

COLUMNS = {"number": 1, "name": 2, "region": 3}  # customer column → its code in customer_bigram
LONGEST = 10000  # SQLite: the characters of one value the bigram triggers reach
TOKENIZER = "trigram"  # SQLite ≥ 3.34 (FTS5)


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        _up_postgresql(db)
    else:
        _up_sqlite(db)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP TRIGGER IF EXISTS customer_search_sync ON customer")
        db.execute_sql("DROP TRIGGER IF EXISTS customer_search_truncate ON customer")
        db.execute_sql("DROP TABLE IF EXISTS customer_search")
        db.execute_sql("DROP FUNCTION IF EXISTS customer_search_sync(), "
                       "customer_search_truncate(), search_grams(text, text, text), "
                       "search_bigrams(text)")
        return
    for event in ("insert", "update", "delete"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS customer_search_{event}")
    for table in ("customer_search", "customer_bigram", "search_number"):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")


# -- SQLite ---------------------------------------------------------------------------------

def _sqlite_fts(db):
    """Create the FTS5 trigram table; False when this SQLite has no trigram tokenizer."""
    columns = ", ".join(COLUMNS)
    try:
        with db.atomic():
            db.execute_sql(f"CREATE VIRTUAL TABLE customer_search USING fts5({columns}, "
                           f"content='customer', content_rowid='id', tokenize='{TOKENIZER}')")
    except Exception as exc:  # no FTS5, or SQLite < 3.34 (no trigram tokenizer)
        log.warning("customer search: no FTS5 trigram index on this SQLite (%s); searches "
                    "of 3 or more characters will read every customer", exc)
        return False
    return True


def _up_sqlite(db):
    for event in ("insert", "update", "delete"):  # a database left half-built
        db.execute_sql(f"DROP TRIGGER IF EXISTS customer_search_{event}")
    for table in ("customer_search", "customer_bigram", "search_number"):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")
    fts = _sqlite_fts(db)
    db.execute_sql("CREATE TABLE search_number (n INTEGER PRIMARY KEY)")
    db.execute_sql(f"WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k "
                   f"WHERE n < {LONGEST}) INSERT INTO search_number SELECT n FROM k")
    db.execute_sql("CREATE TABLE customer_bigram (gram TEXT NOT NULL, field INTEGER NOT NULL, "
                   "customer_id INTEGER NOT NULL, PRIMARY KEY (gram, field, customer_id)) "
                   "WITHOUT ROWID")

    def grams(row, action):
        """The statements adding (or removing) the bigrams of ``row`` (new or old)."""
        parts = []
        for column, code in COLUMNS.items():
            pick = (f"SELECT substr(lower({row}.{column}), n, 2) AS g FROM search_number "
                    f"WHERE n < length({row}.{column})")
            parts.append(
                f"INSERT OR IGNORE INTO customer_bigram (gram, field, customer_id) "
                f"SELECT g, {code}, {row}.id FROM ({pick});" if action == "add" else
                f"DELETE FROM customer_bigram WHERE field = {code} AND "
                f"customer_id = {row}.id AND gram IN ({pick});")
        return " ".join(parts)

    values = ", ".join(COLUMNS)
    new = ", ".join(f"new.{c}" for c in COLUMNS)
    old = ", ".join(f"old.{c}" for c in COLUMNS)
    too_long = " OR ".join(f"length(new.{c}) > {LONGEST}" for c in COLUMNS)
    refuse = (f"SELECT RAISE(ABORT, 'customer text longer than {LONGEST} characters') "
              f"WHERE {too_long};")
    fts_add = f"INSERT INTO customer_search (rowid, {values}) VALUES (new.id, {new});" \
        if fts else ""
    fts_remove = (f"INSERT INTO customer_search (customer_search, rowid, {values}) "
                  f"VALUES ('delete', old.id, {old});") if fts else ""
    db.execute_sql(f"CREATE TRIGGER customer_search_insert AFTER INSERT ON customer BEGIN "
                   f"{refuse} {fts_add} {grams('new', 'add')} END")
    db.execute_sql(f"CREATE TRIGGER customer_search_delete AFTER DELETE ON customer BEGIN "
                   f"{fts_remove} {grams('old', 'remove')} END")
    db.execute_sql(f"CREATE TRIGGER customer_search_update AFTER UPDATE OF id, {values} "
                   f"ON customer BEGIN {refuse} {fts_remove} {grams('old', 'remove')} "
                   f"{fts_add} {grams('new', 'add')} END")

    if fts:
        db.execute_sql("INSERT INTO customer_search (customer_search) VALUES ('rebuild')")
    longer = db.execute_sql(f"SELECT id FROM customer WHERE {too_long.replace('new.', '')} "
                            "LIMIT 1").fetchone()
    if longer:
        raise ValueError(f"customer {longer[0]} holds a text longer than {LONGEST} characters")
    for column, code in COLUMNS.items():
        db.execute_sql(
            f"INSERT OR IGNORE INTO customer_bigram (gram, field, customer_id) "
            f"SELECT substr(lower(c.{column}), s.n, 2), {code}, c.id FROM customer AS c "
            f"JOIN search_number AS s ON s.n < length(c.{column})")


# -- PostgreSQL -----------------------------------------------------------------------------

def _pg_trgm(db):
    """Create the pg_trgm extension if missing; False when this role may not."""
    try:
        with db.atomic():  # a savepoint: the failure must not abort the upgrade
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:
        log.warning("customer search: pg_trgm could not be created (%s); searches of 3 or "
                    "more characters will read every customer (docs/ARCHITECTURE.md, "
                    "Search, says how to add the indexes later)",
                    str(exc).strip().splitlines()[0])
        return False
    return True


def _up_postgresql(db):
    trigram = _pg_trgm(db)
    db.execute_sql("DROP TRIGGER IF EXISTS customer_search_sync ON customer")
    db.execute_sql("DROP TRIGGER IF EXISTS customer_search_truncate ON customer")
    db.execute_sql("DROP TABLE IF EXISTS customer_search")
    db.execute_sql("CREATE TABLE customer_search (id integer PRIMARY KEY, "
                   + ", ".join(f"{c} text" for c in COLUMNS) + ", grams text[] NOT NULL)")
    # The distinct 2-character substrings of a lowercased text (ILIKE compares lower()).
    db.execute_sql(
        "CREATE OR REPLACE FUNCTION search_bigrams(value text) RETURNS SETOF text "
        "LANGUAGE sql IMMUTABLE STRICT ROWS 20 AS $$ SELECT DISTINCT substr(t, i, 2) "
        "FROM (SELECT lower(value) AS t) AS v, generate_series(1, length(t) - 1) AS i $$")
    # A customer's grams: each bigram of each column behind the column's code ('2电器').
    arguments = ", ".join(f"{c} text" for c in COLUMNS)
    grams = " UNION ALL ".join(f"SELECT '{code}' || g FROM search_bigrams({column}) AS g"
                               for column, code in COLUMNS.items())
    db.execute_sql(f"CREATE OR REPLACE FUNCTION search_grams({arguments}) RETURNS text[] "
                   f"LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY({grams}) $$")
    values = ", ".join(COLUMNS)
    new = ", ".join(f"NEW.{c}" for c in COLUMNS)
    db.execute_sql(
        "CREATE OR REPLACE FUNCTION customer_search_sync() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN "
        "IF TG_OP <> 'INSERT' THEN DELETE FROM customer_search WHERE id = OLD.id; END IF; "
        f"IF TG_OP <> 'DELETE' THEN INSERT INTO customer_search (id, {values}, grams) "
        f"VALUES (NEW.id, {new}, search_grams({new})); END IF; "
        "RETURN NULL; END $$")
    db.execute_sql(
        "CREATE OR REPLACE FUNCTION customer_search_truncate() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN TRUNCATE customer_search; RETURN NULL; END $$")
    db.execute_sql(f"CREATE TRIGGER customer_search_sync AFTER INSERT OR DELETE OR UPDATE OF "
                   f"id, {values} ON customer FOR EACH ROW EXECUTE FUNCTION "
                   "customer_search_sync()")
    db.execute_sql("CREATE TRIGGER customer_search_truncate AFTER TRUNCATE ON customer "
                   "FOR EACH STATEMENT EXECUTE FUNCTION customer_search_truncate()")

    db.execute_sql(f"INSERT INTO customer_search (id, {values}, grams) "
                   f"SELECT id, {values}, search_grams({values}) FROM customer")
    db.execute_sql("CREATE INDEX customer_search_grams ON customer_search USING gin (grams)")
    if trigram:
        for column in COLUMNS:
            db.execute_sql(f"CREATE INDEX customer_search_{column}_trgm ON customer_search "
                           f"USING gin ({column} gin_trgm_ops)")
    db.execute_sql("ANALYZE customer_search")
