"""Exports of any size: a CSV or XLSX file streamed to the browser in bounded memory.

``response(kind, filename, header, rows)`` is the one way a list or a report answers
with a file: ``rows`` is any iterable of cell lists, read once, row by row, so a list of
100,000 customers is never held in memory. CSV is written as it is read; XLSX goes
through openpyxl's write-only workbook into a temporary file (a ZIP is complete only
at its end), which is then streamed and removed. ``chunks`` reads a query in bounded
pieces (a server-side cursor on PostgreSQL, whose driver would otherwise fetch every
row at once), so related labels are read per chunk, not per row.

What Excel on a Chinese Windows opens right: XLSX cells typed (numbers, amounts with two
decimals, dates, times in the company's zone), the sheet named after the screen, columns
as wide as their Chinese text, the header frozen under an autofilter; CSV in UTF-8 with a
byte order mark. ``file_names`` names the file after the screen and the local time.
"""
import csv
import datetime
import itertools
import re
import tempfile
import unicodedata
import uuid
from decimal import Decimal
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from peewee import PostgresqlDatabase
from playhouse.postgres_ext import FetchManyCursor
from werkzeug.utils import secure_filename

from models.base import local, now, without_control_characters

from .base import FORMULA_START, spreadsheet_safe, spreadsheet_text

KINDS = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHUNK = 1000  # rows read, labelled and written at a time; the rows an XLSX is measured by
BLOCK = 64 * 1024  # bytes of a temporary XLSX file sent at a time
MONEY_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"  # as every screen shows a time (formats.shown_time)
CSV_DATE, CSV_TIME = "%Y-%m-%d", "%Y-%m-%d %H:%M"
MAX_WIDTH, MIN_WIDTH = 60, 6  # column widths, in Excel's character widths
SHEET_TITLE_LIMIT = 31  # characters Excel allows in a sheet's name
NOT_IN_SHEET_TITLE = re.compile(r"[\[\]:*?/\\]")  # refused by Excel in a sheet's name
NOT_IN_FILE_NAME = re.compile(r'[<>:"/\\|?*]')  # refused by Windows in a file's name
STAMP = "%Y%m%d_%H%M"  # the local time in a file's name: 客户信息_20261201_0930.xlsx
BOLD = Font(bold=True)


def response(kind, filename, header, rows, money_columns=(), fallback=None, title=None):
    """A streamed download of ``rows`` under ``header`` as ``kind`` ("csv" or "xlsx").

    Every text cell goes through ``spreadsheet_safe`` (never a formula, no control
    character); in XLSX it is stored as text. Numbers are numbers; a ``Decimal`` is an
    amount (every one the models store is), shown with two decimals (in CSV too), as are
    the numbers of ``money_columns`` (indexes). A date is a date; a ``datetime`` is a stored time
    (naive UTC, models/base.py), written in the company's zone to the minute. CSV is
    UTF-8 with a byte order mark, as Excel on a Chinese Windows needs. The sheet is
    called ``title`` (the screen; default: the file's name). ``filename`` may be
    Chinese: old clients get ``fallback``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    if kind == "csv":
        body = _csv(header, rows)
    else:
        body = _xlsx(header, rows, set(money_columns),
                     sheet_title(title or filename.rsplit(".", 1)[0]) or "Sheet1")
    answer = Response(stream_with_context(body), content_type=KINDS[kind])
    answer.headers["Content-Disposition"] = disposition(filename, fallback)
    return answer


def disposition(filename, fallback=None):
    """``attachment`` naming ``filename``: ``fallback`` (else what is ASCII in it) for old
    clients, UTF-8 (RFC 5987) for the others."""
    fallback = secure_filename(fallback or filename) or f"export{filename[filename.rfind('.'):]}"
    return (f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(filename, safe='')}")


def screen_title(name):
    """What a screen's export is called: its menu name in the user's language, less a
    trailing 管理 (客户信息管理 → 客户信息, 销售机会管理 → 销售机会: the data, not the
    screen that manages it), without characters a sheet's or a file's name cannot hold."""
    text = str(name).strip()
    if text.endswith("管理") and len(text) > 2:
        text = text[:-2]
    text = without_control_characters(text, " ")
    return NOT_IN_FILE_NAME.sub(" ", NOT_IN_SHEET_TITLE.sub(" ", text)).strip()


def sheet_title(name):
    """``name`` as Excel takes a sheet's name: none of []:*?/\\, no quote at its ends, at
    most 31 characters."""
    return NOT_IN_SHEET_TITLE.sub(" ", spreadsheet_text(str(name)))[:SHEET_TITLE_LIMIT] \
        .strip(" '")


def file_names(screen, ascii_name, kind, at=None):
    """(file name, ASCII fallback) of an export of ``screen`` (a menu or report name) at
    ``at`` (default now), in the company's time: ``客户信息_20261201_0930.xlsx`` and
    ``customer_20261201_0930.xlsx`` (``ascii_name``: the endpoint)."""
    stamp = local(at or now()).strftime(STAMP)
    title = screen_title(screen) or ascii_name
    return f"{title}_{stamp}.{kind}", f"{ascii_name}_{stamp}.{kind}"


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
    if isinstance(cell, datetime.datetime):
        return local(cell).strftime(CSV_TIME)
    if isinstance(cell, datetime.date):
        return cell.strftime(CSV_DATE)
    if isinstance(cell, Decimal):
        return f"{cell:.2f}"  # an amount as stored, two decimals (SQLite drops trailing 0s)
    return spreadsheet_safe(cell if isinstance(cell, str | int | float | Decimal) else str(cell))


def _xlsx(header, rows, money_columns, title):
    """Write the workbook into a temporary file first (before anything is sent, so a
    failure is an error page, not half a file), then send it in blocks.

    A write-only sheet writes its column widths and frozen pane before its first row:
    they are measured on the header and the first ``CHUNK`` rows, held until then. The
    autofilter, written at the end, covers every row."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title)
    rows = iter(rows)
    first = list(itertools.islice(rows, CHUNK))
    columns = max([len(header), *(len(row) for row in first)])
    for index, width in enumerate(column_widths(header, first, money_columns), 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_header_cell(sheet, cell) for cell in header])
    rows, count = itertools.chain(first, rows), 0
    del first  # let go of the held rows once written
    for row in rows:
        cells = [_cell(sheet, cell, index in money_columns) for index, cell in enumerate(row)]
        sheet.append(cells)
        columns = max(columns, len(cells))
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(columns, 1))}{count + 1}"
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


def _header_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value=spreadsheet_text(str(value)))
    cell.data_type = "s"  # a label is never a formula
    cell.font = BOLD
    return cell


def _cell(sheet, value, money=False):
    """A plain value where it can be (openpyxl writes those fastest). A text is kept as it
    is, without control characters; one that would read as a formula ("=…") is written as
    a typed text cell, so nothing runs and nothing is added to it (CSV, untyped, quotes it).
    Amounts, dates and times carry their number format."""
    if isinstance(value, Decimal) or (money and isinstance(value, int | float)
                                      and not isinstance(value, bool)):
        return _formatted(sheet, value, MONEY_FORMAT)
    if isinstance(value, datetime.datetime):
        return _formatted(sheet, local(value), TIME_FORMAT)
    if isinstance(value, datetime.date):
        return _formatted(sheet, value, DATE_FORMAT)
    if value is None or value == "":
        return None  # blank (a list's formatters show nothing as an empty text)
    if isinstance(value, int | float):
        return value
    text = spreadsheet_text(str(value))
    if text.startswith(FORMULA_START):
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    return text


def _formatted(sheet, value, number_format):
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


def display_width(text):
    """Columns ``text`` takes in a worksheet: a Chinese (wide or fullwidth) character two,
    any other one; a text of several lines, its longest."""
    return max((sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line)
                for line in text.splitlines()), default=0)


def _shown(value, money):
    """``value`` as the cell shows it, to measure it."""
    if value is None:
        return ""
    if isinstance(value, Decimal) or (money and isinstance(value, int | float)
                                      and not isinstance(value, bool)):
        return f"{value:,.2f}"
    if isinstance(value, datetime.datetime):
        return "0000-00-00 00:00"
    if isinstance(value, datetime.date):
        return "0000-00-00"
    return str(value)


def column_widths(header, rows, money_columns=()):
    """The width of each column: its widest cell among ``header`` and ``rows`` (a Chinese
    character counts two), with room for the header's bold and its filter button;
    at most MAX_WIDTH, wrapped beyond."""
    widths = [display_width(str(label)) + 4 for label in header]
    for row in rows:
        for index, value in enumerate(row):
            width = display_width(_shown(value, index in money_columns)) + 2
            if index >= len(widths):
                widths.append(width)
            elif width > widths[index]:
                widths[index] = width
    return [min(max(width, MIN_WIDTH), MAX_WIDTH) for width in widths]


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

__all__ = ["KINDS", "chunks", "column_widths", "disposition", "display_width", "file_names",
           "response", "screen_title", "sheet_title"]
