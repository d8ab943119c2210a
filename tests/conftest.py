"""Fixtures: one app per session, a clean database per test, logged-in clients per role.

The database is SQLite in a temporary file unless ``TEST_DATABASE_URL`` names
another one (``make test`` runs the suite a second time on PostgreSQL).
"""
import os
import re
import threading
import uuid

import pytest
from peewee import PostgresqlDatabase

from app import create_app
from models import ALL_MODELS, DomainError, Role, User, UserRoles, db, schema
from seed import demo, reference

# A developer's instance/crm.env (config.py) must not reach the tests: they set what they test.
os.environ["CRM_ENV_FILE"] = os.devnull

# The demo accounts of the README: username → (full name, role code), and their password.
DEMO_USERS, PASSWORD = demo.USERS, demo.PASSWORD


def _drop_everything(database):
    """A PostgreSQL database kept from an earlier run loses everything the migrations
    made — tables, and the functions, sequences and extensions beside them (a migration
    creates those as new: a left-over one would refuse it)."""
    if isinstance(database, PostgresqlDatabase):
        with database.atomic():
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        return
    tables = [m._meta.table_name for m in ALL_MODELS] + ["schema_migration"]
    with database.atomic():
        for table in tables:
            database.execute_sql(f'DROP TABLE IF EXISTS "{table}"')


def _clear(database):
    """Empty every table, keeping the schema."""
    schema.empty(database, ALL_MODELS)


def _per_worker(url):
    """Under pytest-xdist each worker gets its own PostgreSQL database (test_gw0, …);
    without it the run uses the database of the URL. Either is created when missing,
    from the server's ``postgres`` maintenance database: nothing need exist beforehand.

    SQLite needs nothing: every worker has its own temporary folder.
    """
    if not url.startswith("postgres"):
        return url
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base, _, query = url.partition("?")
    server, _, name = base.rpartition("/")
    own = f"{name}_{worker}" if worker else name
    create_pg_database(server, own)
    return f"{server}/{own}" + (f"?{query}" if query else "")


def create_pg_database(server, name, fresh=False):
    """Create the database ``name`` on ``server`` (``postgresql://user@host:port``) if
    missing; ``fresh`` drops an existing one first (a scratch database of one test)."""
    import psycopg2
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            if fresh:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def migration_before(name):
    """The migration just before ``name``: a database upgraded to it is an installation of
    the release before (the upgrade tests fill one, then apply ``name``)."""
    names = sorted(m.name for m in schema.runner(db.obj).migrations())
    return names[names.index(name) - 1]


def scratch_database(tmp_path, name):
    """The URL of a new, empty database of one test, of the suite's kind: a SQLite file
    in ``tmp_path``, or a PostgreSQL database <the worker's>_<name> on the suite's server."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path}/{name}.db"
    server, _, suite = _per_worker(url).partition("?")[0].rpartition("/")
    create_pg_database(server, f"{suite}_{name}", fresh=True)
    return f"{server}/{suite}_{name}"


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    url = _per_worker(os.environ.get("TEST_DATABASE_URL") or
                      "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db"))
    if url.startswith("postgres") and "?" not in url:
        # A test database need not survive a crash: skip the flush on every commit.
        url += "?options=-c%20synchronous_commit%3Doff"
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "SECURITY_PASSWORD_SALT": "test-salt",
        # Hashing is what makes logins slow; argon2 itself is tested separately.
        "SECURITY_PASSWORD_HASH": "plaintext",
    })
    with app.app_context():
        _drop_everything(db.obj)
        schema.upgrade(db.obj)
    db.close()
    return app


@pytest.fixture(autouse=True)
def database(app):
    with app.app_context():
        _clear(db.obj)
        reference.load()
    app.extensions["crm_limiter"].reset()  # login attempts are counted per test
    yield db.obj
    if not db.is_closed() and not db.in_transaction():
        db.close()


def make_user(app, username, full_name, role_codes, active=True):
    with app.test_request_context():
        datastore = app.extensions["user_datastore"]
        from flask_security import hash_password
        user = datastore.create_user(username=username, full_name=full_name,
                                     password=hash_password(PASSWORD), active=active)
        user.set_roles(Role.select().where(Role.code.in_(role_codes)))
    return User.get_by_id(user.id)


@pytest.fixture
def users(app):
    """The five demo accounts, {username: User}, written in two statements."""
    with app.test_request_context():
        from flask_security import hash_password
        password = hash_password(PASSWORD)
    roles = {role.code: role.id for role in Role.select(Role.id, Role.code)}
    with db.atomic():
        User.insert_many([{"username": name, "full_name": full, "password": password,
                           "active": True, "fs_uniquifier": uuid.uuid4().hex}
                          for name, (full, _) in DEMO_USERS.items()]).execute()
        accounts = {u.username: u for u in User.select().where(User.username.in_(list(DEMO_USERS)))}
        UserRoles.insert_many([{"user": accounts[name].id, "role": roles[role]}
                               for name, (_, role) in DEMO_USERS.items()]).execute()
    return accounts


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url="/login"):
    page = client.get(url).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, f"no csrf_token on {url}"
    return match.group(1)


def login(client, username, password=PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


@pytest.fixture
def client_for(app, users):
    """client_for('xiaoming') → a test client logged in as that demo user.

    The session is written directly, as Flask-Login would after a login
    (logging in through the form is tested in test_security.py); it saves two
    requests per client.
    """
    def make(username):
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = users[username].fs_uniquifier
            session["_fresh"] = True
        return client
    return make


@pytest.fixture
def fresh_app(tmp_path, monkeypatch):
    """fresh_app(**config) → a second app with its own instance folder and SQLite file.

    Models reach the database through one global proxy; it is pointed back at
    the suite's database afterwards.
    """
    suite_database = db.obj
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))

    def make(**config):
        config.setdefault("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
        return create_app(config)
    yield make
    if db.obj is not suite_database:
        if not db.is_closed():
            db.close()
        db.initialize(suite_database)


def race(work, count=2):
    """Run ``work(i)`` in ``count`` threads released at the same moment; their outcomes.

    Each thread has its own connection; a refusal (DomainError) is an outcome.
    """
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def run(i):
        with db.connection_context():
            barrier.wait()
            try:
                outcomes[i] = work(i)
            except DomainError as exc:
                outcomes[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes
