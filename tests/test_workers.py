"""Two server processes behave as one: two gunicorn servers on one PostgreSQL database, with
the login throttle in a Redis of the test's own (``RATELIMIT_STORAGE_URI=redis://…``).

A session opened through one process is the session in the other, a logout through one
ends it in both, a permission revoked through one is refused by the other on the next
request, and login attempts, failed logins and the lockout count across both. Always
PostgreSQL, as in production: the test's own scratch database on the suite's server
(TEST_DATABASE_URL's, else the Makefile's 127.0.0.1:5432), dropped at the end. Redis is
Debian's ``redis-server`` (``make test`` installs it when missing) on a free loopback port
with a temporary folder; every process is stopped in a ``finally``.
"""
import http.client
import os
import re
import socket
import subprocess
import time
import uuid
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
import redis

from models import Role, db, schema
from seed import reference
from tests.conftest import PASSWORD, create_pg_database, make_user

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
GUNICORN = os.path.join(REPO, ".venv", "bin", "gunicorn")
SECRETS = {"SECRET_KEY": "workers-secret", "SECURITY_PASSWORD_SALT": "workers-salt"}
LIMIT = 6  # login attempts a minute per address and 用户名, in this test
LOCKED = "该账户已被锁定"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_server():
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    return url.partition("?")[0].rpartition("/")[0]


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_until(check, what, seconds=20, logs=()):
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            shown = "\n".join(open(log, encoding="utf-8", errors="replace").read()[-3000:]
                              for log in logs if os.path.exists(log))
            raise AssertionError(f"{what} did not start\n{shown}")
        time.sleep(0.1)


class Browser:
    """One browser: its cookies, sent to whichever server process it talks to."""

    def __init__(self):
        self.cookies = {}

    def request(self, port, method, path, form=None):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Host": "crm.test"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        page = response.read().decode("utf-8", errors="replace")
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        connection.close()
        return response.status, response.getheader("Location") or "", page

    def get(self, port, path):
        return self.request(port, "GET", path)

    def post(self, port, path, form, token_from):
        status, _, page = self.get(port, token_from)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, f"no csrf_token on {token_from} ({status})"
        return self.request(port, "POST", path, {**form, "csrf_token": token.group(1)})

    def login(self, port, username, password=PASSWORD):
        return self.post(port, "/login", {"username": username, "password": password},
                         token_from="/login")


@pytest.fixture
def redis_url(tmp_path):
    assert os.path.exists(REDIS_SERVER), "redis-server is missing: apt-get install redis-server"
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    log = str(folder / "redis.log")
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--logfile", log], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        wait_until(client.ping, "redis-server", logs=[log])
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


@pytest.fixture
def shared_database(fresh_app, tmp_path):
    """A new PostgreSQL database with the schema, the reference data and four users."""
    server = pg_server()
    name = f"crm_workers_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    create_pg_database(server, name, fresh=True)
    url = f"{server}/{name}"
    app = fresh_app(TESTING=True, DATABASE_URL=url, **SECRETS)
    with app.app_context():
        schema.upgrade(db.obj)
        reference.load()
    for username, full_name, role in [("boss", "老板", "admin"), ("zhuguan", "主管", "supervisor"),
                                      ("xiaoming", "小明", "manager"),
                                      ("wangcai", "旺财", "manager")]:
        make_user(app, username, full_name, [role])
    try:
        yield url
    finally:
        getattr(db.obj, "close_all", db.obj.close)()
        import psycopg2
        connection = psycopg2.connect(f"{server}/postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


@pytest.fixture
def two_servers(shared_database, redis_url, tmp_path):
    """Two gunicorn servers of the app (one worker each) on the same database and Redis:
    their ports."""
    env = {**os.environ, **SECRETS, "DATABASE_URL": shared_database,
           "RATELIMIT_STORAGE_URI": redis_url, "LOGIN_LIMITS": f"{LIMIT} per minute",
           # a moving window: the attempts of this test never straddle two counting windows
           "FLASK_RATELIMIT_STRATEGY": "moving-window",
           "CRM_INSTANCE_PATH": str(tmp_path / "instance"), "FLASK_APP": "app"}
    for key in ("TEST_DATABASE_URL", "CRM_ENV_FILE", "PYTEST_XDIST_WORKER"):
        env.pop(key, None)
    ports, processes, logs = [free_port(), free_port()], [], []
    try:
        for port in ports:
            log = str(tmp_path / f"gunicorn-{port}.log")  # its log and the app's, if it fails
            logs.append(log)
            with open(log, "w", encoding="utf-8") as output:
                processes.append(subprocess.Popen(
                    [GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{port}",
                     "app:create_app()"],
                    cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=output))
        for port in ports:
            wait_until(lambda: Browser().get(port, "/healthz")[0] == 200,
                       f"gunicorn on {port}", logs=logs)
        yield ports
    finally:
        for process in processes:
            stop(process)


def test_two_server_processes_behave_as_one(two_servers, redis_url):
    a, b = two_servers

    # A session opened through one process is the session in the other.
    supervisor = Browser()
    assert supervisor.login(a, "zhuguan")[:2] == (302, "/admin/")
    assert supervisor.get(b, "/admin/customer/")[0] == 200
    assert supervisor.get(a, "/admin/customer/")[0] == 200

    # A permission revoked through one process is refused by the other on the next request.
    admin = Browser()
    assert admin.login(b, "boss")[0] == 302
    role = Role.get(Role.code == "supervisor")
    form = {code: scope or "on" for code, scope in role.grants().items()
            if code != "customers.customer"}
    assert admin.post(b, f"/admin/permission/?role={role.id}", form,
                      token_from=f"/admin/permission/?role={role.id}")[0] == 302
    assert supervisor.get(a, "/admin/customer/")[0] == 403
    assert supervisor.get(b, "/admin/customer/")[0] == 403
    assert supervisor.get(a, "/admin/opportunity/")[0] == 200  # the rest of his grants stay

    # A logout through one process ends the session in both (a copy of the cookie too).
    manager = Browser()
    assert manager.login(b, "wangcai")[0] == 302
    copied = dict(manager.cookies)
    assert manager.get(a, "/admin/")[0] == 200
    assert manager.post(a, "/logout", {}, token_from="/admin/")[0] == 302
    thief = Browser()
    thief.cookies = copied
    for port in (a, b):
        status, location, _ = thief.get(port, "/admin/")
        assert status == 302 and "/login" in location

    # Failed logins count across both processes: the fifth locks the account everywhere,
    # and the login throttle (Redis) refuses the attempt after the LIMIT-th, wherever sent.
    guesser = Browser()
    for attempt in range(5):
        status, _, page = guesser.login((a, b)[attempt % 2], "xiaoming", f"guess-{attempt}")
        assert status == 200 and (LOCKED in page) == (attempt == 4), attempt
    status, _, page = guesser.login(b, "xiaoming")  # the right password, while locked
    assert status == 200 and LOCKED in page
    assert guesser.login(a, "xiaoming")[0] == 429  # attempt LIMIT + 1, the 3rd through a
    assert guesser.login(b, "xiaoming")[0] == 429
    assert redis.Redis.from_url(redis_url).keys("LIMITS*")  # counted in Redis
    assert Browser().login(a, "zhuguan")[0] == 302  # another 用户名 is not throttled
