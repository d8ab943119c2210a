"""The database handle, the base model, the error every business rule raises and the
one clock (``now``: naive UTC; ``local``/``local_today``/``day_start``: the company's zone).

Nothing in ``models/`` imports Flask: rules are plain Python over Peewee and are
tested without HTTP.
"""
import datetime
import os
import re
import stat
import zlib
import zoneinfo
from decimal import Decimal

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase, TextField
from playhouse.db_url import connect
from playhouse.pool import PooledSqliteDatabase
from playhouse.signals import Model

db = DatabaseProxy()

CENT = Decimal("0.01")  # money is kept to the fen (分)

PG_PLANNER = "-c random_page_cost=1.1"  # see open_database

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never wait for the one writer
    "foreign_keys": 1,
    # 16 MB a connection: measured at 100,000 customers with the code before and after
    # side by side (bench/README), 8 MB made a 客户经理's customer and order lists and a
    # common search 30–50 % slower
    "cache_size": -16000,
    "synchronous": 1,  # NORMAL is safe with WAL
}


class Msgid(str):
    """A text marked for translation: shown through gettext in the user's language."""


def N_(message):
    """Mark a string for translation; it is translated where it is shown."""
    return Msgid(message)


class DomainError(Exception):
    """A business rule refused an operation.

    ``message`` is a translatable msgid (marked with ``N_``) and ``params`` its
    placeholders, so the view can show it in the user's language; ``field``
    names the input it is about, so a form can show it next to that field.
    """

    def __init__(self, message, field=None, **params):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.field = field


class DomainErrors(DomainError):
    """Several rules refused at once, e.g. every wrong field of a form: ``errors``.

    It reads as its first error (``message``, ``params``, ``field``), so code that
    handles one ``DomainError`` keeps working; a form shows each next to its field.
    """

    def __init__(self, errors):
        self.errors = [e for error in errors
                       for e in (error.errors if isinstance(error, DomainErrors) else [error])]
        first = self.errors[0]
        super().__init__(first.message, field=first.field, **first.params)

    def __str__(self):
        return "；".join(str(error) for error in self.errors)


class Refusals:
    """Collect the refusals of independent checks, to report them all at once.

    ::

        refusals = Refusals()
        with refusals:
            self.name = required_text(self.name, 50, "name", N_("姓名"))
        if self.gender not in self.GENDER:
            refusals.add(N_("性别须为男或女"), field="gender")
        refusals.raise_any()  # DomainErrors with every refusal, if there was one

    A ``with`` block records a ``DomainError`` raised inside it and goes on
    (the rest of that block is skipped); any other exception passes through.
    """

    def __init__(self):
        self.errors = []

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if isinstance(exc, DomainError):
            self.errors.append(exc)
            return True
        return False

    def add(self, message, field=None, **params):
        self.errors.append(DomainError(message, field=field, **params))

    def raise_any(self):
        if self.errors:
            raise DomainErrors(self.errors)


# -- input from requests: the one rule for text, keys and amounts ------------------------

# Control characters (Unicode category Cc: C0, DEL, C1) are invisible, break exports
# and PostgreSQL refuses NUL: no text holds them, except that a text of several lines
# (a TextField column, a textarea) keeps its line breaks and tabs.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_MESSAGE = N_("%(label)s含有不可见的控制字符")


def has_control_characters(text, multiline=False):
    """Whether ``text`` holds a character no text may hold (see CONTROL_CHARACTERS)."""
    pattern = CONTROL_CHARACTERS_BUT_LINES if multiline else CONTROL_CHARACTERS
    return isinstance(text, str) and pattern.search(text) is not None


def without_control_characters(text, replacement=""):
    """``text`` with every control character (line breaks and tabs too) replaced."""
    return CONTROL_CHARACTERS.sub(replacement, text) if isinstance(text, str) else text


def takes_lines(model, field):
    """Whether the column ``field`` of ``model`` holds several lines (a TextField)."""
    return isinstance(model._meta.fields.get(field), TextField)


def optional_text(value, limit, field, label, multiline=False):
    """The text stripped, None when blank; refused when longer than ``limit`` characters
    or holding a control character (line breaks and tabs only if ``multiline``)."""
    if has_control_characters(value, multiline):
        raise DomainError(CONTROL_CHARACTERS_MESSAGE, field=field, label=label)
    text = (value or "").strip()
    if len(text) > limit:
        raise DomainError(N_("%(label)s不能超过 %(limit)d 个字"), field=field, label=label,
                          limit=limit)
    return text or None


def required_text(value, limit, field, label, multiline=False):
    """The text stripped; refused when empty, longer than ``limit`` characters or holding
    a control character (line breaks and tabs only if ``multiline``)."""
    text = optional_text(value, limit, field, label, multiline)
    if text is None:
        raise DomainError(N_("请填写%(label)s"), field=field, label=label)
    return text


def check_texts(record, refusals, required=None, optional=None):
    """Strip ``record``'s texts in place, refusing a missing required one, a too long one
    or one holding a control character; ``required``/``optional`` are {field: (label,
    limit)}. A TextField column takes several lines."""
    for checks, check in ((required or {}, required_text), (optional or {}, optional_text)):
        for field, (label, limit) in checks.items():
            with refusals:
                setattr(record, field, check(getattr(record, field), limit, field, label,
                                             multiline=takes_lines(type(record), field)))


MAX_KEY = 2 ** 63 - 1  # the largest key either database stores (a signed 64-bit integer)
DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "１２"


def record_key(value):
    """A record's key: a record's id, an int or its decimal text ("7" as posted), within
    what the databases store; None for anything else (blank, text, negative, a bool,
    30 digits), so a crafted key is refused, never queried."""
    value = getattr(value, "id", value)
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if DIGITS.fullmatch(text) and len(text) <= 19 else None
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if 0 <= value <= MAX_KEY else None


def decimal_in_column(value, field, label):
    """``value`` as a Decimal the DecimalField ``field`` stores exactly, None when blank.

    Refused next to the field: anything that is not a finite number (NaN, sNaN,
    Infinity, 1e999) and anything beyond the column's precision (more integer digits
    than max_digits − decimal_places, e.g. 1e20 in a (14, 2) column; more decimals than
    decimal_places) — SQLite would store Infinity, PostgreSQL would refuse the row.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:
        number = None
    if number is None or not number.is_finite():
        raise DomainError(N_("%(label)s须为数字"), field=field.name, label=label)
    digits, places = field.max_digits - field.decimal_places, field.decimal_places
    exact = number.quantize(Decimal(1).scaleb(-places)) \
        if number == 0 or number.adjusted() < digits else None
    if exact is None or exact != number:
        raise DomainError(N_("%(label)s最多 %(digits)d 位整数、%(places)d 位小数"),
                          field=field.name, label=label, digits=digits, places=places)
    return exact


class BaseModel(Model):
    """Every table. Its writes are audited (models/audit.py): an instance's save and delete
    through ``playhouse.signals``, a conditional update by ``update_if``; each with its
    entry in one transaction. A table that is itself a record of changes, or a copy kept
    for speed, says ``audited = False``."""

    audited = True

    class Meta:
        database = db
        legacy_table_names = False

    def save(self, *args, **kwargs):
        self._audit_only = kwargs.get("only")  # the columns written, when not all
        with self._meta.database.atomic():
            return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        with self._meta.database.atomic():
            return super().delete_instance(*args, **kwargs)

    def update_if(self, condition, fields, step=None, note=None, by=None):
        """Write ``fields`` to this row only if ``condition`` still holds; whether it did.

        Every workflow step is such a conditional update, not read-then-write: of
        two users acting on the same row at once, exactly one succeeds. The update is
        audited as the workflow ``step`` (with the user's ``note``), else as a change.
        """
        from .audit import record_update, stored_row
        model = type(self)
        with self._meta.database.atomic():
            before = stored_row(self) if self.audited else None
            done = model.update(fields).where(model._meta.primary_key == self.get_id(),
                                              condition).execute() == 1
            if done and self.audited:
                record_update(self, before, fields, step=step, note=note, by=by)
        return done

    def delete_if(self, condition):
        """Delete this row only if ``condition`` still holds (a rule's conditional delete:
        未指派 only, no 执行效果 yet …); whether it did. Audited as the delete, with what
        the row held."""
        from .audit import DELETE, deleted_changes, record, stored_row
        model = type(self)
        with self._meta.database.atomic():
            before = stored_row(self) if self.audited else None
            done = model.delete().where(model._meta.primary_key == self.get_id(),
                                        condition).execute() == 1
            if done and self.audited:
                record(DELETE, self, changes=deleted_changes(self, before or {}))
        return done


def private_folder(path, narrow=False):
    """Create the folder ``path`` if missing, entered by its owner only (0700); with
    ``narrow``, an existing folder of ours that others may enter is narrowed to 0700
    (never done to a folder we merely use, such as /tmp)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if narrow and info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
    return path


def private_sqlite_file(path):
    """The SQLite file and its -wal/-shm read by their owner only (0600).

    The file is created here, empty, before SQLite would create it 0644; SQLite
    gives -wal and -shm the database file's mode. A file an older version left
    readable by others is narrowed.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            info = os.stat(name)
        except FileNotFoundError:
            continue
        if info.st_mode & 0o077 and info.st_uid == os.getuid():
            os.chmod(name, stat.S_IMODE(info.st_mode) & 0o600)


def open_database(url):
    """Open the database named by a URL: ``sqlite:///path`` or ``postgresql://…``."""
    if url.startswith("sqlite:"):
        path = url.split("sqlite:///", 1)[-1] if "///" in url else url[len("sqlite:"):]
        if path and path != ":memory:":
            private_folder(os.path.dirname(os.path.abspath(path)))
            private_sqlite_file(path)
        # IMMEDIATE: a write transaction takes the lock at BEGIN, so two writers
        # queue on the busy timeout instead of failing to upgrade a read lock.
        if not path or path == ":memory:":
            return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10,
                                  lock_type="IMMEDIATE")
        # Pooled, as PostgreSQL is: a new connection reads the whole schema (tables,
        # triggers, the search tables) at its first statement — 1.7 ms at 100,000
        # customers, and 0.3 ms to close — on every request. ``timeout`` is the pool's
        # wait for a free connection; SQLite's busy timeout is the pragma. A connection
        # serves one thread at a time, but not always the one that opened it.
        return PooledSqliteDatabase(path, pragmas={**SQLITE_PRAGMAS, "busy_timeout": 10000},
                                    lock_type="IMMEDIATE", max_connections=20,
                                    stale_timeout=300, timeout=10, check_same_thread=False)
    if url.startswith(("postgres://", "postgresql://")):
        # Pooled: a request returns its connection instead of opening a new one each time.
        scheme, rest = url.split("://", 1)
        url = f"postgresql+pool://{rest}"
        if "max_connections" not in url:
            url += ("&" if "?" in url else "?") + "max_connections=20&stale_timeout=300"
        database = connect(url)
        # The planner's cost of a random page read, for a database on an SSD or in RAM
        # (PostgreSQL's default, 4, is for spinning disks): with it, a report joins its
        # 2,000 churn records to their customers by key, not by hashing all 100,000
        # customers (28 ms → 5). An installation that sets it in the URL keeps its own.
        options = database.connect_params.get("options", "")
        if "random_page_cost" not in options:
            database.connect_params["options"] = f"{options} {PG_PLANNER}".strip()
        return database
    return connect(url)


def serialized(database, name):
    """Inside a transaction: wait until no other transaction serialized on ``name`` is
    running, and hold the others off until this one ends. PostgreSQL: a transaction
    advisory lock on ``name``'s CRC-32. SQLite needs none: its write transactions take
    the database's write lock at BEGIN (IMMEDIATE), one at a time."""
    if isinstance(database, DatabaseProxy):
        database = database.obj
    if isinstance(database, PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)",
                             (zlib.crc32(name.encode()),))


# -- one clock --------------------------------------------------------------------------
# Every time is stored as naive UTC, to the second: what ``now()`` answers, and what
# Flask-Security writes into its login times (app.py makes ``now`` its datetime factory).
# "Today", a 客户编号's day, a day range or a report's year are the company's days: the
# local date in the zone of the installation (TIMEZONE, set at start by app.py like
# ``db``). Every rule takes ``now``/``today`` (or ``zone``) as parameters, so tests pass
# their own; nothing here reads the process's TZ.

UTC = datetime.timezone.utc
DEFAULT_TIMEZONE = "Asia/Shanghai"
_zone = zoneinfo.ZoneInfo(DEFAULT_TIMEZONE)


def time_zone(name):
    """The zone called ``name`` (an IANA name such as Asia/Shanghai); ValueError if unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {name!r} (TIMEZONE takes a name such as "
                         f"Asia/Shanghai)") from exc


def set_time_zone(name):
    """Make ``name`` the company's zone (app.py, at start, from TIMEZONE)."""
    global _zone
    _zone = time_zone(name)
    return _zone


def now():
    """The current moment as every time is stored: naive UTC, to the second."""
    return datetime.datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def local(moment, zone=None):
    """A stored time (naive UTC; an aware one is taken as it is) as the company's clock
    shows it: a naive wall-clock time of ``zone`` (default: the company's). None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone or _zone).replace(tzinfo=None)


def local_today(zone=None, at=None):
    """The company's date now (or at the stored time ``at``): the day a 客户编号, a
    churn detection or a plan item counts in."""
    return local(at or now(), zone).date()


def stored(wall, zone=None):
    """A wall-clock time of ``zone`` (naive; default the company's) as stored: naive UTC.

    A time in a daylight-saving gap or overlap takes the offset before the change.
    Beyond the calendar (the first or last day of year 1 or 9999) it is clamped to
    ``datetime.min``/``datetime.max``, so a day range typed that far still filters.
    """
    try:
        return wall.replace(tzinfo=zone or _zone).astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return datetime.datetime.min if wall.year == datetime.MINYEAR else datetime.datetime.max


def day_start(day, zone=None):
    """The moment the company's ``day`` begins, as stored (naive UTC): the bound of a
    range of days on a stored time (``created_at >= day_start(first)``)."""
    return stored(datetime.datetime.combine(day, datetime.time()), zone)


def choices(mapping):
    """(code, label) pairs of a code → label mapping, in declaration order."""
    return list(mapping.items())
