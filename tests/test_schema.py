"""The schema: migrations upgrade an old database without losing data and match the models."""
import datetime
import os
import stat
import threading

from peewee import ForeignKeyField, PostgresqlDatabase, SqliteDatabase, Table
from playhouse.schema_diff import diff_models

from app import create_app
from models import ALL_MODELS, PermissionChange, db, open_database, schema
from tests.conftest import scratch_database


def test_the_migrated_schema_matches_the_models(database):
    # The suite's database was built by the migrations alone.
    assert not diff_models(database, ALL_MODELS)
    assert schema.pending(database) == []


def test_an_old_database_is_upgraded_without_losing_data(tmp_path):
    """On the suite's kind of database: SQLite, or PostgreSQL under TEST_DATABASE_URL.

    The old rows go in through peewee, which writes each database's booleans and times
    (a literal ``active = 1`` is what PostgreSQL refused, keeping this test on SQLite).
    """
    old = open_database(scratch_database(tmp_path, "upgrade"))
    try:
        _upgrade_from_0001(old)
    finally:
        getattr(old, "close_all", old.close)()


def _upgrade_from_0001(old):
    assert schema.upgrade(old, target="0001_initial") == ["0001_initial"]
    Table("user", ("id", "username", "full_name", "active", "fs_uniquifier", "created_at")) \
        .bind(old).insert(username="laowang", full_name="老王", active=True, fs_uniquifier="u1",
                          created_at=datetime.datetime(2025, 1, 1, 8)).execute()
    Table("role", ("id", "name", "permissions")).bind(old).insert(
        name="老角色", permissions="security.user").execute()
    assert "locale" not in {c.name for c in old.get_columns("user")}

    everything = [m.name for m in schema.runner(old).migrations()]
    assert everything[:7] == [
        "0001_initial", "0002_user_locale_permission_audit", "0003_opportunity_assigned_at_index",
        "0004_status_change_note", "0005_user_lockout", "0006_unlock_permission",
        "0007_user_must_change_password"]
    assert schema.pending(old) == everything[1:]
    assert schema.upgrade(old) == everything[1:]

    assert "locale" in {c.name for c in old.get_columns("user")}
    assert old.table_exists(PermissionChange._meta.table_name)
    assert old.execute_sql('SELECT username, full_name FROM "user"').fetchall() == [
        ("laowang", "老王")]
    # 0006: who managed users may still unlock them (tests/test_upgrade.py has the rest)
    assert old.execute_sql("SELECT name, permissions FROM role").fetchall() == [
        ("老角色", "security.user,security.user.unlock")]
    assert "opportunity_assigned_at" in {i.name for i in old.get_indexes("opportunity")}
    assert "note" in {c.name for c in old.get_columns("status_change")}
    assert old.execute_sql(
        'SELECT failed_logins, locked_until, must_change_password FROM "user"').fetchall() == [
        (0, None, False)]  # the old user: no failed login, no password change asked
    assert not diff_models(old, ALL_MODELS)  # the upgraded schema is the models'
    assert schema.upgrade(old) == []  # idempotent


def test_init_db_creates_then_reports_up_to_date(fresh_app):
    app = fresh_app()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0, first.output
    assert "applied migration 0001_initial" in first.output
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0 and "schema is up to date" in second.output


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/crm.db")
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10000  # writers queue
    assert database.execute_sql("PRAGMA cache_size").fetchone()[0] == -16000  # 16 MB each


def test_a_sqlite_file_keeps_its_connections_between_requests(tmp_path):
    """Pooled: "closing" at the end of a request keeps the connection (and the schema it
    has read) for the next, on any thread."""
    database = open_database(f"sqlite:///{tmp_path}/crm.db")
    database.connect()
    first = database.connection()
    database.close()
    seen = []
    thread = threading.Thread(target=lambda: (database.connect(), seen.append(
        (database.connection(), database.execute_sql("SELECT 1").fetchone())),
        database.close()))
    thread.start()
    thread.join()
    assert seen == [(first, (1,))]
    database.close_all()


def test_the_secret_key_is_generated_once_private_and_reused(fresh_app, monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = fresh_app()
    path = os.path.join(first.instance_path, "secrets.json")
    assert len(first.config["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert fresh_app().config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_configuration_comes_from_the_environment(fresh_app, monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    app = create_app()  # fresh_app restores the suite's database afterwards
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert db.obj.database == f"{tmp_path}/env.db"


def test_the_suite_runs_on_the_database_it_was_given(database):
    """`make test` runs the suite twice; this proves the second run really is PostgreSQL."""
    wanted = os.environ.get("TEST_DATABASE_URL", "sqlite")
    assert isinstance(database, PostgresqlDatabase if wanted.startswith("postgres")
                      else SqliteDatabase)


def test_every_sortable_column_is_indexed(app):
    """A list sorted by a column scans the table unless the column is indexed."""
    from admin_views.base import CrmModelView

    def indexed(field):
        field = getattr(field, "field", field)  # a RelatedSort: the related column
        model = field.model
        return field.primary_key or field.index or field.unique or \
            isinstance(field, ForeignKeyField) or \
            any(fields[0] == field.name for fields, _ in model._meta.indexes)
    unindexed = [
        (view.endpoint, name) for view in app.extensions["admin"][0]._views
        if isinstance(view, CrmModelView)
        for name, column in view._sortable_columns.items()
        if not indexed(column if not isinstance(column, str)
                       else view.model._meta.fields[column])]
    assert not unindexed


def test_workers_starting_together_share_one_secret(fresh_app, monkeypatch):
    import threading
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from app import _load_secrets

    class Stub:  # a starting app: its instance folder, an empty config, its extensions
        def __init__(self, app):
            self.instance_path, self.config = app.instance_path, {}
            self.extensions = dict(app.extensions)
    first = fresh_app()  # makes the instance folder and its secrets.json
    os.remove(os.path.join(first.instance_path, "secrets.json"))
    workers = [Stub(first) for _ in range(8)]
    barrier = threading.Barrier(len(workers))

    def start(worker):
        barrier.wait()
        _load_secrets(worker)
    threads = [threading.Thread(target=start, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({w.config["SECRET_KEY"] for w in workers}) == 1
    assert len({w.config["SECURITY_PASSWORD_SALT"] for w in workers}) == 1


def test_init_db_gives_sqlite_s_planner_its_statistics(fresh_app):
    app = fresh_app()
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    with app.app_context():
        from models import db
        stats = db.obj.execute_sql(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()[0]
    assert stats == 1


def test_the_planner_s_statistics_count_every_row_and_the_list_walks_its_index(tmp_path):
    # SQLite's (PostgreSQL's autovacuum keeps its own): 3,000 customers, almost all 正常
    sqlite = open_database(f"sqlite:///{tmp_path}/stats.db")
    try:
        schema.upgrade(sqlite)
        from models import Customer, User
        with sqlite.bind_ctx([User, Customer]):
            manager = User.create(username="xiaoming", full_name="小明", fs_uniquifier="u1")
            Customer.insert_many([{"number": f"KH{i:09d}", "name": f"客户{i}", "region": "北京",
                                   "level": 1, "manager": manager,
                                   "status": Customer.ACTIVE if i % 100 else Customer.LOST}
                                  for i in range(3000)]).execute()
        schema.optimize(sqlite)
        rows = sqlite.execute_sql("SELECT stat FROM sqlite_stat1 WHERE idx = 'customer_status'"
                                  ).fetchone()[0]
        assert rows.split()[0] == "3000"  # sampled statistics guess the size of the table
        plan = " ".join(str(row) for row in sqlite.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM customer WHERE status = 'active' "
            "ORDER BY number LIMIT 20"))
        assert "customer_number" in plan and "TEMP B-TREE" not in plan
    finally:
        sqlite.close()
