"""Security headers on every kind of response (app.py: _secure_headers), the CSP nonce on
every script the pages carry, and Flask-Security's Cache-Control.

Chromium's side — no page reports a policy violation, and what had inline handlers
still works — is tests/browser/test_csp.py and tests/browser/test_pages.py.
"""
import os
import re

import flask_admin
import pytest

from seed import demo
from tests.test_smoke import ROW_LINKS, reachable_screens

SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
NONCE = re.compile(r'\bnonce="([^"]*)"')
# An attribute whose name starts with "on" (onclick=, onload= …) inside a tag.
HANDLER = re.compile(r"<[a-z][^>]*?\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:(?!void\(0\)["'])""",
                            re.I)


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))


def nonce_of(response):
    match = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{32})'", directives(response)["script-src"])
    assert match, directives(response)["script-src"]
    return match.group(1)


def assert_secure_headers(response):
    policy = directives(response)
    script = policy["script-src"]
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert "'nonce-" in script
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["form-action"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


def boom_app(fresh_app):
    """An app outside TESTING, where an unexpected exception becomes the 500 page."""
    app = fresh_app(SECRET_KEY="x", SECURITY_PASSWORD_SALT="y")
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    return app


# kind → (who asks, method, url, expected status)
KINDS = {
    "admin page": ("supervisor", "GET", "/admin/customer/", 200),
    "home page": ("xiaoming", "GET", "/admin/", 200),
    "report page": ("executive", "GET", "/admin/reports/contribution/", 200),
    "login page": (None, "GET", "/login", 200),
    "redirect to the login": (None, "GET", "/admin/customer/", 302),
    "language switch": (None, "GET", "/locale/en", 302),
    "CSV export": ("supervisor", "GET", "/admin/customer/export/csv/", 200),
    "XLSX export": ("supervisor", "GET", "/admin/customer/export/xlsx/", 200),
    "report export": ("executive", "GET", "/admin/reports/contribution/?export=xlsx", 200),
    "picker lookup (JSON)": ("xiaoming", "GET",
                             "/admin/contact/ajax/lookup/?name=customer&query=a", 200),
    "our static file": (None, "GET", "/static/crm.js", 200),
    "Flask-Admin's static file": (None, "GET", "/admin/static/vendor/jquery.min.js", 200),
    "favicon": (None, "GET", "/favicon.ico", 200),
    "400 page (no CSRF token)": (None, "POST", "/login", 400),
    "403 page": ("xiaoming", "GET", "/admin/permission/", 403),
    "404 page": (None, "GET", "/no-such-page", 404),
    "405 page": (None, "GET", "/logout", 405),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_response_carries_the_security_headers(app, client_for, kind):
    username, method, url, status = KINDS[kind]
    client = client_for(username) if username else app.test_client()
    response = client.open(url, method=method)
    assert response.status_code == status, kind
    assert_secure_headers(response)


def test_the_500_page_carries_the_security_headers_too(fresh_app):
    response = boom_app(fresh_app).test_client().get("/boom")
    assert response.status_code == 500
    assert_secure_headers(response)


def test_the_nonce_is_new_on_every_request_and_on_every_script_of_the_page(client_for):
    client = client_for("supervisor")
    nonces = []
    for _ in range(2):
        response = client.get("/admin/customer/")
        nonce = nonce_of(response)
        tags = SCRIPT.findall(response.get_data(as_text=True))
        assert len(tags) > 5
        assert all(NONCE.search(tag).group(1) == nonce for tag in tags
                   if 'type="application/json"' not in tag)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


@pytest.mark.parametrize("username", ["admin", "supervisor", "xiaoming", "executive"])
def test_no_page_carries_a_script_the_policy_would_refuse(app, client_for, username):
    """Every list, 创建 page and the first rows' pages (details, edit, workflow steps) of
    the role, on the demo data: each script has the page's nonce (or is a JSON data
    block, never run), no tag has an inline handler, no link a javascript: URL other
    than Flask-Admin's javascript:void(0), which static/crm.js keeps from running."""
    with app.app_context():
        demo.load()
    client = client_for(username)
    pages = 0
    for screen in ["/admin"] + reachable_screens(app):
        index = client.get(f"{screen}/")
        if index.status_code != 200:
            continue
        rows = list(dict.fromkeys(m.replace("&amp;", "&")
                                  for m in ROW_LINKS.findall(index.get_data(as_text=True))))
        for response in [index, client.get(f"{screen}/new/")] + [client.get(u) for u in rows[:4]]:
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            pages += 1
            nonce, html = nonce_of(response), response.get_data(as_text=True)
            where = response.request.full_path
            for tag in SCRIPT.findall(html):
                found = NONCE.search(tag)
                assert 'type="application/json"' in tag or (found and found.group(1) == nonce), \
                    (where, tag)
            assert not HANDLER.search(html), (where, HANDLER.search(html).group(0))
            assert not JAVASCRIPT_URL.search(html), where
    assert pages >= 5, pages


def test_hsts_only_over_https(app):
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    secure = app.test_client().get("/login", base_url="https://localhost")
    assert secure.status_code == 200  # no redirect either way: TLS is the front server's
    assert secure.headers["Strict-Transport-Security"] == "max-age=31556926"
    assert secure.headers["X-Frame-Options"] == "DENY"


def test_plain_http_is_answered_not_redirected(app):
    response = app.test_client().get("/login")
    assert response.status_code == 200 and "Location" not in response.headers


def test_flask_securitys_pages_send_a_well_formed_cache_control(app):
    response = app.test_client().get("/login")
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_cookie_settings_stay_the_apps(fresh_app):
    """Talisman is told to leave the session cookie's flags alone: they stay the app's."""
    app = fresh_app(SECRET_KEY="x", SECURITY_PASSWORD_SALT="y", SESSION_COOKIE_SAMESITE="Strict")
    secure = app.config.get("SESSION_COOKIE_SECURE")
    app.test_client().get("/login")
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert app.config.get("SESSION_COOKIE_SECURE") == secure


FLASK_ADMIN = os.path.join(os.path.dirname(flask_admin.__file__), "templates", "bootstrap4")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Our copies of Flask-Admin's templates, and the one change each makes (an inline handler
# the CSP refuses → a data attribute static/crm.js reads, or nothing).
OVERRIDES = {
    "admin/actions.html": ("""onclick="return modelActions.execute('{{ p[0] }}');\"""",
                           """data-crm-action="{{ p[0] }}\""""),
    "admin/model/layout.html": (' onclick="return false;"', ""),
}


@pytest.mark.parametrize("name", OVERRIDES)
def test_our_copies_of_flask_admins_templates_differ_only_by_their_handlers(name):
    """Fails when an upgrade of Flask-Admin changes a template we copied: compare again."""
    with open(os.path.join(FLASK_ADMIN, name), encoding="utf-8") as fh:
        theirs = fh.read()
    with open(os.path.join(HERE, "templates", name), encoding="utf-8") as fh:
        ours = fh.read()
    comment_end = ours.index("-#}\n") + len("-#}\n")
    old, new = OVERRIDES[name]
    assert old in theirs
    assert ours[comment_end:] == theirs.replace(old, new)
