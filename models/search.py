"""Text search: "one of these columns contains this word", through an index where one helps.

The rule is ``column.contains(word)``: LIKE (SQLite) / ILIKE (PostgreSQL) '%word%', case
folded as those do, a ``%`` or ``_`` typed in the word being a character like any other.
``containing`` answers exactly that for any columns; for the columns of ``INDEXES`` — the
customer's 客户编号, 名称 and 地区 (migration 0010), the service's 服务类型 and 概要 and the
opportunity's 客户名称, 概要 and 联系人 (0018) — it asks a table's structures instead of
reading every row (ARCHITECTURE.md, "Search"):

- for a word of 2 characters, each lowercased 2-character substring of each column:
  ``<table>_bigram`` on SQLite, ``<table>_search.grams`` on PostgreSQL;
- ``<table>_search`` for 3 or more: SQLite's FTS5 trigram index over the table,
  PostgreSQL's copy of the columns with a GIN trigram index each (``pg_trgm``).

The answer is ``Model.id IN (…)``, which a list's page and its count both carry: the ids
themselves when at most ``FEW`` rows match (read once, here), else the sub-select. Handing
over the ids is what lets PostgreSQL answer a search over two tables — a service's own
texts OR its customer's name, ``id IN (…) OR customer_id IN (…)`` — through two index
scans: with two sub-selects it read every service against both ("华顺酒店" on 服务归档:
22 ms, with its 28 customers' ids 0.4). A word of 1 character reads the rows (every name
holds a common character). On SQLite a word at least ``COMMON`` rows hold reads the rows
too: the page and the capped count then stop after a few thousand rows, while the index
would first list and sort every match (PostgreSQL's planner makes that choice itself, from
the statistics).
"""
import contextlib
import contextvars
import logging
import operator
import weakref
from functools import reduce

from peewee import SQL, NodeList, PostgresqlDatabase, Table, fn

from .base import db
from .customers import Customer
from .marketing import Opportunity
from .service import ServiceRequest

log = logging.getLogger("crm.search")

FEW = 1000  # a word this few rows hold is answered with their ids
COMMON = 10000  # SQLite: a word this many rows hold is matched row by row
# (at 100,000 customers, "酒店" — 3,296 of them —: the list's capped count read 30,000 rows
# by LIKE, 35 ms, where the index's matches, sorted, take 5; a service list searching the
# customer's name: 22 ms read, 7 by index)


class TextIndex:
    """The search structures of one table: ``columns`` maps each indexed column to its
    code among the grams; ``key`` is the bigram table's column naming the row."""

    def __init__(self, model, columns, key="row_id"):
        self.model, self.columns = model, columns
        self.name = name = model._meta.table_name
        self.bigrams = Table(f"{name}_bigram", ("gram", "field", key))  # SQLite
        self.bigram_key = getattr(self.bigrams, key)
        self.search_table = search = f"{name}_search"
        self.copy = Table(search, ("id", *columns, "grams"))  # PostgreSQL
        self.fts = Table(search, ("rowid", search, *columns))  # SQLite (FTS5)

    def rows_containing(self, word, columns):
        """The ids of the rows one of whose ``columns`` contains ``word``: a list when
        ``FEW`` or fewer, else a sub-select; None where reading the rows answers as fast
        (see the module). Within ``remembered()``, asked once per word."""
        memo = _remembered.get()
        if memo is None:
            return self._rows_containing(word, columns)
        key = (self.name, word, tuple(columns))
        if key not in memo:
            memo[key] = self._rows_containing(word, columns)
        return memo[key]

    def _rows_containing(self, word, columns):
        if len(word) < 2:
            return None
        pg = isinstance(db.obj, PostgresqlDatabase)
        candidates, found = self._postgresql(word, columns) if pg else self._sqlite(word, columns)
        if found is None:
            return None
        rows = [row[0] for row in found.limit(FEW + 1).bind(db.obj).tuples()]
        if len(rows) <= FEW:
            return list(dict.fromkeys(rows))  # a row whose two columns hold the word: once
        if not pg and candidates.limit(COMMON).bind(db.obj).count() >= COMMON:
            return None
        return found

    def _postgresql(self, word, columns):
        copy = self.copy
        if len(word) == 2:  # a gram of one of the columns: its code, then the word
            grams = [NodeList((SQL(f"'{self.columns[c]}' ||"), fn.lower(word)))
                     for c in columns]
            found = copy.select(copy.id).where(NodeList((
                copy.grams, SQL("&& ARRAY["), NodeList(grams, glue=", "), SQL("]::text[]"))))
        elif not self.trigram_index(db.obj):
            return None, None
        else:
            found = copy.select(copy.id).where(
                reduce(operator.or_, [getattr(copy, c).contains(word) for c in columns]))
        return found, found

    def _sqlite(self, word, columns):
        if len(word) == 2:
            bigrams = self.bigrams
            found = candidates = bigrams.select(self.bigram_key).where(
                (bigrams.gram == fn.lower(word))
                & bigrams.field.in_([self.columns[c] for c in columns]))
        elif not self.trigram_index(db.obj):
            return None, None
        else:
            # The trigram index folds case as Unicode does, LIKE only A–Z: its candidates
            # are checked by LIKE itself (a few rows: a common word is read row by row).
            fts = self.fts
            phrase = '"' + word.replace('"', '""') + '"'
            query = "{%s} : %s" % (" ".join(columns), phrase)  # those columns hold the phrase
            candidates = fts.select(fts.rowid).where(
                NodeList((getattr(fts, self.search_table), SQL("MATCH"), query)))
            found = candidates.where(
                reduce(operator.or_, [getattr(fts, c).contains(word) for c in columns]))
        return candidates, found

    def trigram_index(self, database):
        """Whether ``database`` has this table's trigram index of 3+ character words; when
        not (an old SQLite, or pg_trgm refused to the upgrade) such words read every row,
        and this is said once."""
        known = _trigram.setdefault(database, {})
        if self.name not in known:
            table = self.search_table
            if isinstance(database, PostgresqlDatabase):
                present = database.execute_sql(
                    "SELECT count(*) FROM pg_indexes WHERE tablename = %s "
                    "AND indexdef LIKE %s", (table, "%gin_trgm_ops%")).fetchone()[0] \
                    == len(self.columns)
            else:
                present = database.table_exists(table)
            if not present:
                log.warning("%s search: no trigram index in this database; words of 3 or "
                            "more characters are matched by reading every row "
                            "(ARCHITECTURE.md, Search)", self.name)
            known[self.name] = present
        return known[self.name]


INDEXES = {index.model: index for index in (
    TextIndex(Customer, {"number": 1, "name": 2, "region": 3}, key="customer_id"),
    TextIndex(ServiceRequest, {"service_type": 1, "summary": 2}),
    TextIndex(Opportunity, {"customer_name": 1, "summary": 2, "contact": 3}),
)}

_trigram = weakref.WeakKeyDictionary()  # database → {table: whether its trigram index is there}
_remembered = contextvars.ContextVar("crm_search_remembered", default=None)


@contextlib.contextmanager
def remembered():
    """Within it, the index is read once per word: a report builds its total, its page
    and its chart each with the same name filter (three look-ups of 1.2 ms on
    PostgreSQL). For one reading of the data: nothing written meanwhile is seen."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def containing(fields, word, key=None):
    """The condition "one of ``fields`` contains ``word``" (see the module's rule).
    ``key``: for fields of a related table, the column referring to its rows (a service's
    ``customer``): the index's ids are then matched there, so that the condition stays on
    one table, which SQLite answers through each index of an OR (not by reading every
    service to probe both answers)."""
    indexed, clauses = {}, []
    for field in fields:  # (a peewee field's == builds SQL: no ``in`` on fields)
        index = INDEXES.get(field.model)
        if index is not None and field.name in index.columns:
            indexed.setdefault(index, []).append(field)
        else:
            clauses.append(field.contains(word))
    for index, columns in indexed.items():
        ids = index.rows_containing(word, [f.name for f in columns])
        if ids is None:
            clauses += [f.contains(word) for f in columns]
        else:
            clauses.append((key or index.model._meta.primary_key).in_(
                id_list(ids) if isinstance(ids, list) else ids))
    return reduce(operator.or_, clauses)


def id_list(ids):
    """``(1, 2, 3)`` as SQL, the ids (whole numbers, read from the index) written into the
    statement: a list of up to ``FEW`` that the page and its count both carry costs one
    node, not a bound parameter each (1,400 of them took peewee 5 ms a page). Empty, it is
    ``(NULL)``: it matches nothing, yet unlike peewee's "0 = 1" for an empty IN it leaves
    SQLite an index for each term of the OR that a list searching two tables builds (with
    "0 = 1" it read every service)."""
    return SQL("(%s)" % (", ".join(str(int(i)) for i in ids) or "NULL"))
