"""Text search: "one of these columns contains this word", through an index where one helps.

The rule is ``column.contains(word)``: LIKE (SQLite) / ILIKE (PostgreSQL) '%word%', case
folded as those do, a ``%`` or ``_`` typed in the word being a character like any other.
``containing`` answers exactly that for any columns; for the customer's 客户编号, 名称 and
地区 (``INDEXED``) it asks the structures of migration 0010 instead of reading every
customer (ARCHITECTURE.md, "Search"):

- for a word of 2 characters, each lowercased 2-character substring of each column:
  ``customer_bigram`` on SQLite, ``customer_search.grams`` on PostgreSQL;
- ``customer_search`` for 3 or more: SQLite's FTS5 trigram index over the customer table,
  PostgreSQL's copy of the columns with a GIN trigram index each (``pg_trgm``).

The answer is ``Customer.id IN (sub-select)``, which a list's page and its count both
carry. A word of 1 character reads the rows (every name holds a common character). On
SQLite a word at least ``COMMON`` customers hold reads the rows too: the page and the
capped count then stop after a few hundred rows, while the index would first list every
match (PostgreSQL's planner makes that choice itself, from the statistics).
"""
import logging
import operator
import weakref
from functools import reduce

from peewee import SQL, NodeList, PostgresqlDatabase, Table, fn

from .base import db
from .customers import Customer

log = logging.getLogger("crm.search")

INDEXED = {"number": 1, "name": 2, "region": 3}  # Customer column → its code among the grams
COMMON = 2000  # SQLite: a word this many customers hold is matched row by row

BIGRAMS = Table("customer_bigram", ("gram", "field", "customer_id"))  # SQLite
COPY = Table("customer_search", ("id", *INDEXED, "grams"))  # PostgreSQL
FTS = Table("customer_search", ("rowid", "customer_search", *INDEXED))  # SQLite (FTS5)

_trigram = weakref.WeakKeyDictionary()  # database → whether its trigram index is there


def containing(fields, word):
    """The condition "one of ``fields`` contains ``word``" (see the module's rule)."""
    indexed, clauses = [], []
    for field in fields:  # (a peewee field's == builds SQL: no ``in`` on fields)
        if field.model is Customer and field.name in INDEXED:
            indexed.append(field)
        else:
            clauses.append(field.contains(word))
    if indexed:
        ids = customers_containing(word, [f.name for f in indexed])
        if ids is None:
            clauses += [f.contains(word) for f in indexed]
        else:
            clauses.append(Customer.id.in_(ids))
    return reduce(operator.or_, clauses)


def customers_containing(word, columns):
    """A sub-select of the ids of the customers one of whose ``columns`` (of ``INDEXED``)
    contains ``word``; None where reading the customers answers as fast (see above)."""
    if len(word) < 2:
        return None
    if isinstance(db.obj, PostgresqlDatabase):
        return _postgresql(word, columns)
    return _sqlite(word, columns)


def _postgresql(word, columns):
    if len(word) == 2:  # a gram of one of the columns: its code, then the word
        grams = [NodeList((SQL(f"'{INDEXED[c]}' ||"), fn.lower(word))) for c in columns]
        return COPY.select(COPY.id).where(NodeList((
            COPY.grams, SQL("&& ARRAY["), NodeList(grams, glue=", "), SQL("]::text[]"))))
    if not trigram_index(db.obj):
        return None
    return COPY.select(COPY.id).where(
        reduce(operator.or_, [getattr(COPY, c).contains(word) for c in columns]))


def _sqlite(word, columns):
    if len(word) == 2:
        found = candidates = BIGRAMS.select(BIGRAMS.customer_id).where(
            (BIGRAMS.gram == fn.lower(word)) & BIGRAMS.field.in_([INDEXED[c] for c in columns]))
    elif not trigram_index(db.obj):
        return None
    else:
        # The trigram index folds case as Unicode does, LIKE only A–Z: its candidates
        # are checked by LIKE itself (a few rows: a common word is read row by row).
        phrase = '"' + word.replace('"', '""') + '"'
        query = "{%s} : %s" % (" ".join(columns), phrase)  # those columns hold the phrase
        candidates = FTS.select(FTS.rowid).where(
            NodeList((FTS.customer_search, SQL("MATCH"), query)))
        found = candidates.where(
            reduce(operator.or_, [getattr(FTS, c).contains(word) for c in columns]))
    if candidates.limit(COMMON).bind(db.obj).count() >= COMMON:
        return None
    return found


def trigram_index(database):
    """Whether ``database`` has the trigram index of 3+ character words; when not (an old
    SQLite, or pg_trgm refused to the upgrade) such words read every customer, and this is
    said once."""
    if database not in _trigram:
        if isinstance(database, PostgresqlDatabase):
            present = database.execute_sql(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'customer_search' "
                "AND indexdef LIKE %s", ("%gin_trgm_ops%",)).fetchone()[0] == len(INDEXED)
        else:
            present = database.table_exists("customer_search")
        if not present:
            log.warning("customer search: no trigram index in this database; words of 3 or "
                        "more characters are matched by reading every customer "
                        "(ARCHITECTURE.md, Search)")
        _trigram[database] = present
    return _trigram[database]
