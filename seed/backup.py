"""Backups of an installation and their restore: plain Python, no Flask.

One backup is one archive, ``crm-backup-<UTC time>.tar.gz``, readable by its
owner only (it holds the secrets), in a folder only its owner can enter:

- ``database.sqlite3`` — SQLite's online backup API copies the live file page by
  page in one step, so the copy is consistent while the application writes; it is
  then checked with ``PRAGMA integrity_check``. Or ``database.pgdump`` —
  ``pg_dump --format=custom`` (a consistent snapshot by PostgreSQL's own rules),
  checked by ``pg_restore --list`` reading it back.
- ``secrets.json`` — the SECRET_KEY and SECURITY_PASSWORD_SALT the installation
  runs with, wherever they came from: the password hashes in the database are
  useless without that salt.
- ``manifest.json`` — when, which kind of database, which migrations it had and
  how many rows each table held.

A restore checks the whole archive before it touches anything. Into SQLite it
copies through the same backup API into the live file, so a running server reads
either the old or the restored database, never half of each; into PostgreSQL
``pg_restore --clean --single-transaction`` replaces the tables in one transaction.
Retention keeps the newest ``keep`` backups and deletes older ones, only after a
new backup was written and verified.
"""
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from models.base import private_folder

PREFIX = "crm-backup-"
SUFFIX = ".tar.gz"
NAME = re.compile(r"^crm-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz$")
FORMAT = 1
SQLITE_MEMBER, PG_MEMBER = "database.sqlite3", "database.pgdump"
SECRETS_MEMBER, MANIFEST_MEMBER = "secrets.json", "manifest.json"
SECRETS = ("SECRET_KEY", "SECURITY_PASSWORD_SALT")
# Query parameters of our database URLs that belong to peewee's pool, not to libpq.
PEEWEE_PARAMETERS = {"max_connections", "stale_timeout", "timeout"}


class BackupError(Exception):
    """A backup could not be written, or an archive cannot be restored."""


# -- names and retention -----------------------------------------------------------

def backup_name(at, taken=()):
    """The archive name for a backup made at ``at`` (an aware datetime), unique among
    ``taken``: the UTC time to the second, ``-2``, ``-3`` … for a second one that second."""
    stamp = at.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, number = f"{PREFIX}{stamp}{SUFFIX}", 1
    while name in taken:
        number += 1
        name = f"{PREFIX}{stamp}-{number}{SUFFIX}"
    return name


def _order(name):
    match = NAME.match(name)
    return match.group(1), int(match.group(2) or 1)


def backups(names):
    """The backup archives among ``names`` (other files are ignored), oldest first."""
    return sorted((n for n in names if NAME.match(n)), key=_order)


def expired(names, keep):
    """The backups to delete so that the newest ``keep`` remain (``keep`` ≥ 1)."""
    if keep < 1:
        raise BackupError("at least one backup must be kept")
    found = backups(names)
    return found[:-keep]


# -- files only their owner reads ---------------------------------------------------

def _private_file(path):
    """A new file at ``path``, mode 0600 from its creation (never readable by others)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


# -- database kinds ------------------------------------------------------------------

def database_kind(url):
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "postgresql"
    raise BackupError(f"cannot back up a database of kind {scheme!r}")


def sqlite_path(url):
    """The file of a ``sqlite:///path`` URL."""
    path = url.split("sqlite:///", 1)[-1] if "///" in url else url[len("sqlite:"):]
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return os.path.abspath(path)


def pg_environment(url):
    """libpq's environment for a ``postgresql://`` URL: the password travels in
    PGPASSWORD, never on a command line another user's ``ps`` shows."""
    parts = urlsplit(url)
    env = {"PGDATABASE": unquote(parts.path.lstrip("/")) or "postgres"}
    for key, value in (("PGHOST", parts.hostname), ("PGPORT", parts.port),
                       ("PGUSER", parts.username), ("PGPASSWORD", parts.password)):
        if value:
            env[key] = unquote(str(value))
    # Other libpq parameters (sslmode, options …) pass as a conninfo URI without secrets.
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in PEEWEE_PARAMETERS]
    env["CRM_PG_CONNINFO"] = "postgresql:///" + env["PGDATABASE"] + (
        "?" + urlencode(query) if query else "")
    return env


def _run(command, url):
    env = pg_environment(url)
    conninfo = env.pop("CRM_PG_CONNINFO")
    command = [part.replace("{conninfo}", conninfo) for part in command]
    try:
        result = subprocess.run(command, env={**os.environ, **env}, capture_output=True,
                                text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed "
                          "(Debian: apt-get install postgresql-client)") from None
    if result.returncode:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")
    return result.stdout


def sqlite_copy(source, target):
    """Copy the SQLite database file ``source`` into ``target`` (created or replaced
    in place) with the online backup API: one consistent snapshot, in one step."""
    if not os.path.exists(source):
        raise BackupError(f"no database file at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def sqlite_check(path):
    """Refuse a SQLite file that fails ``PRAGMA integrity_check``."""
    connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
    try:
        result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{os.path.basename(path)} is not a usable database: {exc}") from None
    finally:
        connection.close()
    if result != ["ok"]:
        raise BackupError(f"integrity_check failed: {'; '.join(result[:5])}")


def _standalone_sqlite(path):
    """Turn a copied WAL-mode file into one that needs no -wal/-shm beside it."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()


def pg_check(path):
    """Refuse a pg_dump archive that pg_restore cannot read."""
    listing = _run(["pg_restore", "--list", path], "postgresql:///")
    if "TABLE DATA" not in listing:
        raise BackupError("the PostgreSQL dump holds no table data")


# -- making a backup ------------------------------------------------------------------

def create_backup(url, folder, secrets, manifest, at=None):
    """Back up the database at ``url`` and ``secrets`` ({name: value}) into a new archive
    in ``folder``; its path. ``manifest`` (migrations, row counts …) is stored with it."""
    at = at or datetime.datetime.now(datetime.timezone.utc)
    kind = database_kind(url)
    private_folder(folder, narrow=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".backup-") as work:
        if kind == "sqlite":
            member = os.path.join(work, SQLITE_MEMBER)
            _private_file(member).close()  # 0600 before SQLite writes into it
            sqlite_copy(sqlite_path(url), member)
            _standalone_sqlite(member)
            sqlite_check(member)
        else:
            member = os.path.join(work, PG_MEMBER)
            _run(["pg_dump", "--format=custom", "--file", member, "--dbname", "{conninfo}"],
                 url)
            pg_check(member)
        meta = {**manifest, "format": FORMAT, "database": kind,
                "created": at.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")}
        _write_json(os.path.join(work, MANIFEST_MEMBER), meta)
        _write_json(os.path.join(work, SECRETS_MEMBER),
                    {k: v for k, v in secrets.items() if k in SECRETS and v})
        partial = os.path.join(work, "archive.partial")
        with _private_file(partial) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name in (MANIFEST_MEMBER, SECRETS_MEMBER, os.path.basename(member)):
                tar.add(os.path.join(work, name), arcname=name)
        taken = set(os.listdir(folder))
        while True:  # linked whole into place, under a name no other backup holds
            path = os.path.join(folder, backup_name(at, taken))
            try:
                os.link(partial, path)
                break
            except FileExistsError:  # another backup took that name this second
                taken.add(os.path.basename(path))
            except OSError:  # a file system without hard links (some network shares)
                os.replace(partial, path)
                break
    read_backup(path, check=True).cleanup()  # what was written reads back whole
    return path


def prune(folder, keep):
    """Delete the backups of ``folder`` beyond the newest ``keep``; their names."""
    doomed = expired(os.listdir(folder), keep)
    for name in doomed:
        os.unlink(os.path.join(folder, name))
    return doomed


def _write_json(path, data):
    with _private_file(path) as fh:
        fh.write(json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))


# -- reading and restoring -------------------------------------------------------------

class Backup:
    """An archive unpacked into a private temporary folder: ``manifest``, ``secrets``,
    ``database`` (the path of the database member). ``cleanup()`` removes the folder."""

    def __init__(self, folder, manifest, secrets, database):
        self.folder, self.manifest, self.secrets, self.database = (
            folder, manifest, secrets, database)

    @property
    def kind(self):
        return self.manifest["database"]

    def cleanup(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def read_backup(path, check=True):
    """Unpack the archive at ``path`` and check it (``check``: integrity_check or
    pg_restore --list) before anything is restored from it."""
    folder = tempfile.mkdtemp(prefix="crm-restore-")
    try:
        try:
            tar = tarfile.open(path, mode="r:gz")
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"{path} is not a backup archive: {exc}") from None
        with tar:
            names = set(tar.getnames())
            if MANIFEST_MEMBER not in names:
                raise BackupError(f"{path} is not a backup archive (no {MANIFEST_MEMBER})")
            manifest = json.loads(tar.extractfile(MANIFEST_MEMBER).read())
            if manifest.get("format") != FORMAT or manifest.get("database") not in (
                    "sqlite", "postgresql"):
                raise BackupError(f"{path}: unknown backup format")
            secrets = (json.loads(tar.extractfile(SECRETS_MEMBER).read())
                       if SECRETS_MEMBER in names else {})
            member = SQLITE_MEMBER if manifest["database"] == "sqlite" else PG_MEMBER
            if member not in names:
                raise BackupError(f"{path} lacks its database ({member})")
            # Only the known member, by name: nothing the archive says can write elsewhere.
            database = os.path.join(folder, member)
            with _private_file(database) as out:
                shutil.copyfileobj(tar.extractfile(member), out)
        if check:
            (sqlite_check if manifest["database"] == "sqlite" else pg_check)(database)
        return Backup(folder, manifest, secrets, database)
    except (tarfile.TarError, EOFError, KeyError, ValueError) as exc:  # damaged, truncated
        shutil.rmtree(folder, ignore_errors=True)
        raise BackupError(f"{path} cannot be read: {exc}") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def restore_database(backup, url):
    """Replace the database at ``url`` by the backup's (same kind of database only)."""
    kind = database_kind(url)
    if kind != backup.kind:
        raise BackupError(f"this is a {backup.kind} backup; the installation uses {kind}")
    if kind == "sqlite":
        # Through the backup API into the live file: other connections see the
        # old database or the restored one, and the file keeps its mode and WAL.
        sqlite_copy(backup.database, sqlite_path(url))
        sqlite_check(sqlite_path(url))
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", "--dbname", "{conninfo}",
              backup.database], url)


def restore_secrets(backup, path):
    """Write the backup's secrets to ``path`` (0600, replaced whole); False if it has none."""
    if not backup.secrets:
        return False
    aside = f"{path}.restoring"
    if os.path.exists(aside):
        os.unlink(aside)
    _write_json(aside, backup.secrets)
    os.replace(aside, path)
    return True
