"""The database handle, the base model and the error every business rule raises.

Nothing in ``models/`` imports Flask: rules are plain Python over Peewee and are
tested without HTTP.
"""
import datetime
import os

from peewee import DatabaseProxy, Model, SqliteDatabase
from playhouse.db_url import connect

db = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers never wait for the one writer
    "foreign_keys": 1,
    "cache_size": -16000,  # 16 MB
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


def optional_text(value, limit, field, label):
    """The text stripped, None when blank; refused when longer than ``limit`` characters."""
    text = (value or "").strip()
    if len(text) > limit:
        raise DomainError(N_("%(label)s不能超过 %(limit)d 个字"), field=field, label=label,
                          limit=limit)
    return text or None


def required_text(value, limit, field, label):
    """The text stripped; refused when empty or longer than ``limit`` characters."""
    text = optional_text(value, limit, field, label)
    if text is None:
        raise DomainError(N_("请填写%(label)s"), field=field, label=label)
    return text


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False

    def update_if(self, condition, fields):
        """Write ``fields`` to this row only if ``condition`` still holds; whether it did.

        Every workflow step is such a conditional update, not read-then-write: of
        two users acting on the same row at once, exactly one succeeds.
        """
        model = type(self)
        return model.update(fields).where(model._meta.primary_key == self.get_id(),
                                          condition).execute() == 1


def open_database(url):
    """Open the database named by a URL: ``sqlite:///path`` or ``postgresql://…``."""
    if url.startswith("sqlite:"):
        path = url.split("sqlite:///", 1)[-1] if "///" in url else url[len("sqlite:"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # IMMEDIATE: a write transaction takes the lock at BEGIN, so two writers
        # queue on the busy timeout instead of failing to upgrade a read lock.
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    if url.startswith(("postgres://", "postgresql://")):
        # Pooled: a request returns its connection instead of opening a new one each time.
        scheme, rest = url.split("://", 1)
        url = f"postgresql+pool://{rest}"
        if "max_connections" not in url:
            url += ("&" if "?" in url else "?") + "max_connections=20&stale_timeout=300"
    return connect(url)


def now():
    """The current local time, to the second (stored times carry no micro-seconds)."""
    return datetime.datetime.now().replace(microsecond=0)


def choices(mapping):
    """(code, label) pairs of a code → label mapping, in declaration order."""
    return list(mapping.items())
