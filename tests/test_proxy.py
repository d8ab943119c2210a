"""Behind a reverse proxy (app.py: _trust_proxies, _secure_headers, _https_only_cookies):
with ``PROXY_COUNT=1`` the client's address and scheme are the ones nginx reports, for the
login limits, the security log, the access log and Flask-Security's last_login_ip; with 0,
forged X-Forwarded-* headers change nothing. ``HTTPS=1``: Secure cookies and HSTS.
"""
import logging
import re

import pytest
from flask import request

from models import User, db, schema
from seed import reference
from tests.conftest import PASSWORD, csrf_token, make_user

NGINX = "127.0.0.1"  # where the proxy's connections come from
THROTTLED = 429


@pytest.fixture
def make_app(fresh_app, tmp_path):
    """make_app(**config) → an app of its own (its own limiter: 2 login attempts a minute),
    on a new database holding the user laowang, with a page /where (see where())."""
    def make(**config):
        app = fresh_app(TESTING=True, DATABASE_URL=f"sqlite:///{tmp_path}/proxy.db",
                        SECRET_KEY="k", SECURITY_PASSWORD_SALT="s",
                        SECURITY_PASSWORD_HASH="plaintext", LOGIN_LIMITS="2 per minute",
                        **config)
        app.add_url_rule("/where", "where", lambda: " ".join(
            (request.scheme, request.host, request.remote_addr, str(request.is_secure))))
        with app.app_context():
            schema.upgrade(db.obj)
            reference.load()
        if not User.select().where(User.username == "laowang").exists():
            make_user(app, "laowang", "老王", ["manager"])
        return app
    return make


def attempt(app, password="wrong", forwarded_for=None, **headers):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = NGINX
    token = csrf_token(client)
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return client.post("/login", data={"username": "laowang", "password": password,
                                       "csrf_token": token}, headers=headers)


def lines(caplog, name):
    return [r.getMessage() for r in caplog.records if r.name == name]


def test_behind_one_proxy_every_part_sees_the_forwarded_address(make_app, caplog):
    caplog.set_level(logging.INFO, logger="crm")
    app = make_app(PROXY_COUNT=1)
    # nginx appends the address it saw; a client's own X-Forwarded-For is to its left
    for _ in range(2):
        assert attempt(app, forwarded_for="6.6.6.6, 203.0.113.7").status_code == 200
    assert attempt(app, forwarded_for="203.0.113.7").status_code == THROTTLED
    assert attempt(app, forwarded_for="203.0.113.8").status_code == 200  # another client
    assert lines(caplog, "crm.security")[0] == "failed login: 'laowang' from 203.0.113.7 (1 of 5)"
    assert lines(caplog, "crm.access")[-1].endswith(" addr=203.0.113.8")

    assert attempt(app, PASSWORD, forwarded_for="198.51.100.9").status_code == 302
    assert User.get(User.username == "laowang").current_login_ip == "198.51.100.9"


def where(app, **headers):
    """The request as the application sees it (/where): scheme, host, client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = NGINX
    response = client.get("/where", headers=headers)
    return response.get_data(as_text=True), response


NGINX_SAYS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
              "X-Forwarded-Host": "crm.example.com"}


def test_behind_one_proxy_its_https_and_host_are_the_request_s(make_app):
    seen, response = where(make_app(PROXY_COUNT=1), **NGINX_SAYS)
    assert seen == "https crm.example.com 203.0.113.7 True"
    assert response.headers["Strict-Transport-Security"] == "max-age=31556926"


def test_without_proxy_count_forged_headers_change_nothing(make_app, caplog):
    caplog.set_level(logging.INFO, logger="crm")
    app = make_app()  # PROXY_COUNT=0, the default
    assert attempt(app, forwarded_for="203.0.113.1").status_code == 200
    assert attempt(app, forwarded_for="203.0.113.2").status_code == 200
    # a third "client" is the same socket address: the same counter
    assert attempt(app, forwarded_for="203.0.113.3").status_code == THROTTLED
    assert lines(caplog, "crm.security")[0] == f"failed login: 'laowang' from {NGINX} (1 of 5)"
    assert all(line.endswith(f" addr={NGINX}") for line in lines(caplog, "crm.access"))

    seen, forged = where(app, **NGINX_SAYS)
    assert seen == f"http localhost {NGINX} False"
    assert "Strict-Transport-Security" not in forged.headers  # Talisman would have sent it
    app.extensions["crm_limiter"].reset()
    assert attempt(app, PASSWORD, forwarded_for="198.51.100.9").status_code == 302
    assert User.get(User.username == "laowang").current_login_ip == NGINX


def test_https_1_makes_the_session_and_remember_cookies_secure_and_sends_hsts(make_app,
                                                                               monkeypatch):
    monkeypatch.setenv("HTTPS", "1")
    app = make_app()
    assert app.config["HTTPS"] is True and app.config["PREFERRED_URL_SCHEME"] == "https"
    client = app.test_client()
    token = csrf_token(client, "https://localhost/login")  # Secure cookies return over https
    response = client.post("/login", base_url="https://localhost", data={
        "username": "laowang", "password": PASSWORD, "remember": "y", "csrf_token": token},
        headers={"Referer": "https://localhost/login"})  # Flask-WTF's check over https
    assert response.status_code == 302
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert "; Secure" in cookies["session"] and "; Secure" in cookies["remember_token"]
    # HSTS on every answer, even one that reached the application over plain HTTP
    # (browsers ignore it there; nginx sends plain HTTP to HTTPS anyway)
    assert where(app)[1].headers["Strict-Transport-Security"] == "max-age=31556926"


def test_without_https_the_cookies_are_not_secure_and_plain_http_gets_no_hsts(make_app):
    app = make_app()
    client = app.test_client()
    response = client.post("/login", data={"username": "laowang", "password": PASSWORD,
                                           "remember": "y", "csrf_token": csrf_token(client)})
    assert not any("Secure" in c for c in response.headers.getlist("Set-Cookie"))
    assert "Strict-Transport-Security" not in response.headers


def test_a_site_served_under_a_prefix_links_its_static_files_under_it(app):
    """The static addresses are built once per script root (app.Crm.url_for): the same
    page under /crm and at the root links each its own."""
    client = app.test_client()
    for root in ("/crm", "", "/crm"):
        page = client.get("/login", base_url=f"http://localhost{root}/").get_data(as_text=True)
        links = re.findall(r'(?:href|src)="([^"]*/static/[^"]*)"', page)
        assert len(links) >= 3
        assert all(link.startswith((f"{root}/static/", f"{root}/admin/static/"))
                   for link in links), (root, links)
