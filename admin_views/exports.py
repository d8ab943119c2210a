"""Exports of any size: a CSV or XLSX file streamed to the browser in bounded memory.

``response(kind, filename, header, rows)`` is the one way a list or a report answers
with a file: ``rows`` is any iterable of cell lists, read once, row by row, so a list of
100,000 customers is never held in memory. CSV is written as it is read; XLSX goes
through openpyxl's write-only workbook into a temporary file (a ZIP is complete only
at its end), which is then streamed and removed. ``chunks`` reads a query in bounded
pieces (a server-side cursor on PostgreSQL, whose driver would otherwise fetch every
row at once), so related labels are read per chunk, not per row.
"""
import csv
import itertools
import tempfile
import uuid
from decimal import Decimal
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from peewee import PostgresqlDatabase
from playhouse.postgres_ext import FetchManyCursor
from werkzeug.utils import secure_filename

from .base import FORMULA_START, spreadsheet_safe, spreadsheet_text

KINDS = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHUNK = 1000  # rows read, labelled and written at a time
BLOCK = 64 * 1024  # bytes of a temporary XLSX file sent at a time
MONEY_FORMAT = "#,##0.00"


def response(kind, filename, header, rows, money_columns=(), fallback=None):
    """A streamed download of ``rows`` under ``header`` as ``kind`` ("csv" or "xlsx").

    Every text cell goes through ``spreadsheet_safe`` (never a formula, no control
    character); in XLSX it is stored as text, and the cells of ``money_columns``
    (indexes) are numbers shown with two decimals. CSV is UTF-8 with a byte order
    mark, as Excel on a Chinese Windows needs. ``filename`` may be Chinese: old
    clients get an ASCII fallback.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    body = _csv(header, rows) if kind == "csv" else _xlsx(header, rows, set(money_columns))
    answer = Response(stream_with_context(body), content_type=KINDS[kind])
    answer.headers["Content-Disposition"] = disposition(filename, fallback)
    return answer


def disposition(filename, fallback=None):
    """``attachment`` naming ``filename``: ``fallback`` (else what is ASCII in it) for old
    clients, UTF-8 (RFC 5987) for the others."""
    fallback = secure_filename(fallback or filename) or f"export{filename[filename.rfind('.'):]}"
    return (f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


class _Line:
    """What ``csv.writer`` writes to: it hands back each line instead of storing it."""

    def write(self, line):
        return line


def _csv(header, rows):
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow([_text(cell) for cell in header])
    for row in rows:
        yield writer.writerow([_text(cell) for cell in row])


def _text(cell):
    if cell is None:
        return ""
    return spreadsheet_safe(cell if isinstance(cell, str | int | float | Decimal) else str(cell))


def _xlsx(header, rows, money_columns):
    """Write the workbook into a temporary file first (before anything is sent, so a
    failure is an error page, not half a file), then send it in blocks."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append([_cell(sheet, cell) for cell in header])
    for row in rows:
        sheet.append([_cell(sheet, cell, index in money_columns)
                      for index, cell in enumerate(row)])
    file = tempfile.TemporaryFile()  # no name: gone when closed, even if never sent
    try:
        book.save(file)
        file.seek(0)
    except BaseException:
        file.close()
        raise

    def send():
        with file:
            while block := file.read(BLOCK):
                yield block
    return send()


def _cell(sheet, value, money=False):
    """A plain value where it can be (openpyxl writes those fastest). A text is kept as it
    is, without control characters; one that would read as a formula ("=…") is written as
    a typed text cell, so nothing runs and nothing is added to it (CSV, untyped, quotes it)."""
    if money and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = MONEY_FORMAT
        return cell
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = spreadsheet_text(str(value))
    if text.startswith(FORMULA_START):
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    return text


def chunks(query, size=CHUNK):
    """``query``'s rows (model instances) in lists of at most ``size``, read as they go."""
    rows = _stream(query, size)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _stream(query, size):
    database = query.model._meta.database
    database = getattr(database, "obj", database)  # the models' DatabaseProxy
    if not isinstance(database, PostgresqlDatabase):
        yield from query.iterator()  # SQLite hands over rows as they are stepped
        return
    # psycopg fetches a whole result at once; a named (server-side) cursor fetches
    # ``size`` rows a time. WITH HOLD: peewee's connections are in autocommit, where a
    # plain named cursor is refused; the server keeps the result until it is closed.
    sql, params = query.sql()
    cursor = database.connection().cursor(name=f"crm_export_{uuid.uuid4().hex}",
                                          withhold=True)
    try:
        cursor.execute(sql, params)
        yield from query._get_cursor_wrapper(FetchManyCursor(cursor, size)).iterator()
    finally:
        cursor.close()

__all__ = ["KINDS", "chunks", "disposition", "response"]
