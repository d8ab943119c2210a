"""Backups and restores (seed/backup.py, ``flask backup`` / ``flask restore``) and moving to
another database (seed/copydb.py, ``flask copy-database``).

The drill and the copy run on the suite's kind of database: SQLite files, or scratch
PostgreSQL databases of this worker (``make test`` runs both).
"""
import datetime
import json
import os
import sqlite3
import stat
import tarfile

import pytest
from peewee import SqliteDatabase

from models import (
    ALL_MODELS,
    Customer,
    CustomerSales,
    DictionaryEntry,
    Order,
    SalesMonth,
    User,
    db,
    open_database,
    schema,
)
from seed import backup
from seed.copydb import copy_database, row_counts
from tests.conftest import PASSWORD, login, make_user, scratch_database
from tests.test_lists_at_scale import Queries

UTC = datetime.timezone.utc


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- names and retention: plain rules ------------------------------------------------

def test_backup_names_carry_the_utc_time_and_never_collide():
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    at = datetime.datetime(2026, 11, 23, 10, 30, 5, tzinfo=beijing)
    first = backup.backup_name(at)
    assert first == "crm-backup-20261123T023005Z.tar.gz"
    second = backup.backup_name(at, {first})
    third = backup.backup_name(at, {first, second})
    assert (second, third) == ("crm-backup-20261123T023005Z-2.tar.gz",
                               "crm-backup-20261123T023005Z-3.tar.gz")
    assert backup.backups([third, "notes.txt", second, first]) == [first, second, third]


def test_retention_keeps_the_newest_and_leaves_other_files_alone():
    names = [f"crm-backup-202611{day:02d}T023000Z.tar.gz" for day in range(1, 21)]
    names += ["crm-backup-20261120T023000Z-2.tar.gz", "README", "crm-backup-x.tar.gz"]
    doomed = backup.expired(names, keep=14)
    assert doomed == names[:7]  # 21 backups, the newest 14 stay (the -2 is the newest)
    assert backup.expired(names[:3], keep=14) == []
    with pytest.raises(backup.BackupError):
        backup.expired(names, keep=0)


def test_the_password_never_reaches_a_command_line():
    env = backup.pg_environment(
        "postgresql://crm:p%40ss@db.local:5433/crm?max_connections=20&stale_timeout=300"
        "&sslmode=require")
    assert env["PGPASSWORD"] == "p@ss" and env["PGUSER"] == "crm"
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("db.local", "5433", "crm")
    # peewee's pool parameters are not libpq's; the password is not in the URI
    assert env["CRM_PG_CONNINFO"] == "postgresql:///crm?sslmode=require"


# -- SQLite: online and consistent, restored into the live file ---------------------------

def sqlite_file(path, rows):
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=wal")
    connection.execute("CREATE TABLE t (n INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    connection.commit()
    return connection


def test_a_backup_is_taken_while_a_writer_holds_its_transaction(tmp_path):
    live = str(tmp_path / "live.db")
    writer = sqlite_file(live, 3)
    writer.execute("BEGIN IMMEDIATE")  # the application is in the middle of a write
    writer.execute("INSERT INTO t VALUES (99)")
    path = backup.create_backup(f"sqlite:///{live}", str(tmp_path / "b"), {}, {"rows": {}})
    writer.commit()
    saved = backup.read_backup(path)
    try:
        copy = sqlite3.connect(saved.database)
        # consistent: the committed rows, not the half-done transaction
        assert copy.execute("SELECT n FROM t ORDER BY n").fetchall() == [(0,), (1,), (2,)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # standalone
        copy.close()
    finally:
        saved.cleanup()
    assert mode(tmp_path / "b") == 0o700 and mode(path) == 0o600
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["database.sqlite3", "manifest.json", "secrets.json"]
        assert all(m.mode & 0o077 == 0 for m in tar.getmembers())


def test_a_restore_reaches_connections_that_stay_open(tmp_path):
    live = str(tmp_path / "live.db")
    worker = sqlite_file(live, 2)  # a server worker keeps its connection across the restore
    path = backup.create_backup(f"sqlite:///{live}", str(tmp_path / "b"), {}, {})
    worker.execute("DELETE FROM t")
    worker.execute("INSERT INTO t VALUES (7)")
    worker.commit()
    saved = backup.read_backup(path)
    backup.restore_database(saved, f"sqlite:///{live}")
    saved.cleanup()
    assert worker.execute("SELECT n FROM t ORDER BY n").fetchall() == [(0,), (1,)]
    assert worker.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # still the live file


def test_a_damaged_or_foreign_archive_is_refused_before_anything_changes(tmp_path):
    live = str(tmp_path / "live.db")
    sqlite_file(live, 2).close()
    path = backup.create_backup(f"sqlite:///{live}", str(tmp_path / "b"), {}, {})
    data = open(path, "rb").read()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(backup.BackupError):
        backup.read_backup(str(truncated))
    not_a_backup = tmp_path / "other.tar.gz"
    with tarfile.open(not_a_backup, "w:gz") as tar:
        tar.add(live, arcname="../../etc/crm.db")
    with pytest.raises(backup.BackupError, match="manifest"):
        backup.read_backup(str(not_a_backup))
    saved = backup.read_backup(path)
    with pytest.raises(backup.BackupError, match="sqlite backup"):
        backup.restore_database(saved, "postgresql://crm@127.0.0.1:1/crm")
    saved.cleanup()
    assert sqlite3.connect(live).execute("SELECT count(*) FROM t").fetchone() == (2,)


# -- the drill of docs/DEPLOY.md: back up, change, restore, log in, see the old data --------

def test_the_restore_drill_brings_back_the_data_and_the_logins(fresh_app, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("BACKUP_KEEP", "2")
    app = fresh_app(DATABASE_URL=scratch_database(tmp_path, "drill"))
    cli = app.test_cli_runner()
    assert cli.invoke(args=["init-db"]).exit_code == 0
    boss = make_user(app, "laowang", "老王", ["supervisor"])
    Customer.create(number="KH261123001", name="旧名称有限公司", manager=boss, region="北京",
                    level=1)

    made = cli.invoke(args=["backup"])
    assert made.exit_code == 0, made.output
    folder = os.path.join(app.instance_path, "backups")
    [archive] = os.listdir(folder)
    assert f"{folder}/{archive}" in made.output and "verified" in made.output
    assert mode(folder) == 0o700 and mode(f"{folder}/{archive}") == 0o600

    # After the backup: a rename, a new password, and the secrets file lost.
    Customer.update(name="新名称有限公司").execute()
    User.update(password="changed-after-the-backup").where(User.id == boss.id).execute()
    secrets_file = os.path.join(app.instance_path, "secrets.json")
    old_secrets = json.load(open(secrets_file))
    os.unlink(secrets_file)

    refused = cli.invoke(args=["restore", f"{folder}/{archive}"], input="n\n")
    assert refused.exit_code == 1 and "Replace every table" in refused.output
    assert Customer.get().name == "新名称有限公司"  # answering no changes nothing

    restored = cli.invoke(args=["restore", "--yes", f"{folder}/{archive}"])
    assert restored.exit_code == 0, restored.output
    assert json.load(open(secrets_file)) == old_secrets and mode(secrets_file) == 0o600

    # The service restarted: a new app reads the restored secrets and database.
    db.close()
    again = fresh_app(DATABASE_URL=app.config["DATABASE_URL"])
    assert again.config["SECURITY_PASSWORD_SALT"] == old_secrets["SECURITY_PASSWORD_SALT"]
    client = again.test_client()
    assert login(client, "laowang", PASSWORD).status_code == 302  # the old password
    page = client.get("/admin/customer/").get_data(as_text=True)
    assert "旧名称有限公司" in page and "新名称有限公司" not in page


def test_retention_runs_after_each_backup(fresh_app, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "elsewhere"))
    app = fresh_app()
    cli = app.test_cli_runner()
    cli.invoke(args=["init-db"])
    made = []
    for _ in range(3):  # often in the same second: then named -2, -3
        assert cli.invoke(args=["backup", "--keep", "2"]).exit_code == 0
        made += sorted(set(os.listdir(tmp_path / "elsewhere")) - set(made))
    kept = backup.backups(os.listdir(tmp_path / "elsewhere"))
    assert kept == made[-2:]  # the two newest, in the order they were taken
    last = cli.invoke(args=["backup"])  # BACKUP_KEEP unset: 14
    assert "removed" not in last.output and len(os.listdir(tmp_path / "elsewhere")) == 3


def test_restore_warns_when_the_configuration_holds_another_secret(fresh_app, tmp_path):
    app = fresh_app(SECRET_KEY="the-configured-key")
    cli = app.test_cli_runner()
    cli.invoke(args=["init-db"])
    cli.invoke(args=["backup"])
    [archive] = os.listdir(os.path.join(app.instance_path, "backups"))
    with tarfile.open(os.path.join(app.instance_path, "backups", archive)) as tar:
        saved = json.load(tar.extractfile("secrets.json"))
    # What the installation ran with, wherever it came from: the key of its configuration.
    assert saved["SECRET_KEY"] == "the-configured-key" and saved["SECURITY_PASSWORD_SALT"]

    db.close()
    moved = fresh_app(SECRET_KEY="another-key")
    result = moved.test_cli_runner().invoke(
        args=["restore", "--yes", os.path.join(app.instance_path, "backups", archive)])
    assert result.exit_code == 0, result.output
    assert "warning: SECRET_KEY in the configuration differs" in result.output
    assert result.output.count("warning:") == 1  # the salt came from the file: restored


def test_a_backup_of_a_newer_release_is_refused(fresh_app, tmp_path):
    app = fresh_app()
    app.test_cli_runner().invoke(args=["init-db"])
    applied = sorted(schema.runner(db.obj).applied())
    path = backup.create_backup(app.config["DATABASE_URL"], str(tmp_path / "b"), {},
                                {"migrations": applied + ["0099_from_the_future"]})
    DictionaryEntry.create(category="地区", item="上海", value="上海")
    result = app.test_cli_runner().invoke(args=["restore", "--yes", path])
    assert result.exit_code == 1 and "0099_from_the_future" in result.output
    assert DictionaryEntry.select().where(DictionaryEntry.item == "上海").exists()


# -- moving the demo database from SQLite to the suite's database ---------------------------

def test_copy_database_copies_every_table_verified_by_row_counts(fresh_app, tmp_path):
    source = fresh_app()
    cli = source.test_cli_runner()
    assert cli.invoke(args=["init-db"]).exit_code == 0
    assert cli.invoke(args=["seed-demo"]).exit_code == 0
    expected = row_counts(db.obj)
    target_url = scratch_database(tmp_path, "copy")

    result = cli.invoke(args=["copy-database", target_url])
    assert result.exit_code == 0, result.output
    assert "the row counts match" in result.output
    again = cli.invoke(args=["copy-database", target_url])
    assert again.exit_code == 1 and "already holds data" in again.output  # never merged
    applied = set(schema.runner(db.obj).applied())

    db.close()
    target = fresh_app(DATABASE_URL=target_url)
    assert row_counts(db.obj) == expected and all(expected[m._meta.table_name] for m in
                                                  ALL_MODELS if m.__name__ in (
                                                      "Customer", "OrderLine", "StatusChange"))
    assert set(schema.runner(db.obj).applied()) == applied and not schema.pending(db.obj)
    client = target.test_client()
    assert login(client, "supervisor", PASSWORD).status_code == 302
    assert client.get("/admin/customer/").status_code == 200
    # New rows continue after the copied keys (PostgreSQL's sequences were moved).
    entry = DictionaryEntry.create(category="地区", item="新地区", value="新地区")
    assert entry.id == max(e.id for e in DictionaryEntry.select()) > expected[
        "dictionary_entry"] - 1


def test_copy_database_refuses_a_source_that_is_not_up_to_date(fresh_app, tmp_path):
    app = fresh_app()
    first = schema.runner(db.obj).migrations()[0].name
    schema.upgrade(db.obj, target=first)
    result = app.test_cli_runner().invoke(
        args=["copy-database", f"sqlite:///{tmp_path}/target.db"])
    assert result.exit_code == 1 and "not up to date" in result.output


def test_a_copy_rewrites_the_summaries_its_triggers_filled_row_by_row(users, tmp_path):
    """Each copied order updates its customer's and its month's summary rows: on
    PostgreSQL every update leaves a row version, which the copy rewrites away
    (``schema.compact_summaries``: VACUUM FULL); SQLite reuses its pages itself."""
    customer = Customer.create(number="KH-COMPACT", name="压缩客户", manager=users["xiaoming"])
    Order.insert_many([{"customer": customer.id, "number": f"DC{n:05d}", "date": datetime.date(
        2025, 3, 1), "address": "北京", "status": Order.PAID} for n in range(3000)]).execute()
    target = open_database(scratch_database(tmp_path, "compact"))
    try:
        with Queries(target) as seen:
            copy_database(db.obj, target)
        assert CustomerSales.select().bind(target).count() == 2  # 2025 and all years
        assert SalesMonth.select().bind(target).count() == 1
        if isinstance(target, SqliteDatabase):
            assert not any("VACUUM" in sql for sql in seen)
        else:
            sizes = target.execute_sql(
                "SELECT pg_relation_size('customer_sales'), pg_relation_size('sales_month'), "
                "pg_relation_size('customer_sales_pkey')").fetchone()
            assert all(size <= 16384 for size in sizes), sizes  # a page or two, not 6,000 rows
            # then a plain VACUUM of each marks its pages all-visible (VACUUM FULL leaves
            # the visibility map empty): a total reads the index alone
            vacuums = [sql for sql in seen if sql.startswith("VACUUM")]
            for table in ("customer_sales", "sales_month"):
                full, plain = f'VACUUM FULL "{table}"', f'VACUUM ANALYZE "{table}"'
                assert full in vacuums and plain in vacuums
                assert vacuums.index(full) < vacuums.index(plain)
    finally:
        getattr(target, "close_all", target.close)()
