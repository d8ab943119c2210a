"""The application factory: configuration, database, Babel, Security, the admin and the CLI.

It wires the parts together and owns no business rule.
"""
import datetime
import functools
import json
import logging
import logging.config
import logging.handlers
import os
import re
import secrets
import sys
import threading
import time
import uuid
from urllib.parse import quote

import click
from flask import (
    Flask,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.logging import default_handler as flask_default_handler
from flask_babel import Babel, get_locale, gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import user_logged_out
from flask_mail import Mail
from flask_security import LoginForm as SecurityLoginForm
from flask_security import (
    PeeweeUserDatastore,
    Security,
    current_user,
    password_changed,
    uia_username_mapper,
    user_authenticated,
    user_failed_authn,
)
from flask_security.password_util import PasswordUtil
from flask_security.proxies import _security
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from peewee import SqliteDatabase
from werkzeug.middleware.proxy_fix import ProxyFix

import config
import models
from models import audit, db, work

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSLATIONS = os.path.join(HERE, "translations")
LOCALES = {"zh_Hans_CN": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_Hans_CN"

# How the application uses its libraries. What an installation sets (the database, secrets,
# TIMEZONE, HTTPS, PROXY_COUNT, the login limits and lockout, CHURN_MONTHS, backups, logs)
# is config.py's table, read from the env file and the environment.
DEFAULTS = {
    "BABEL_DEFAULT_LOCALE": DEFAULT_LOCALE,
    # One clock (models/base.py): every time is stored as naive UTC by models.now, which is
    # Flask-Security's clock too; shown, and "today" counted, in TIMEZONE (_one_clock).
    "SECURITY_DATETIME_FACTORY": models.now,
    "BABEL_TRANSLATION_DIRECTORIES": TRANSLATIONS,
    # Log in with 用户名 + 密码; e-mail is optional and never used to log in.
    "SECURITY_USERNAME_ENABLE": True,
    "SECURITY_USER_IDENTITY_ATTRIBUTES": [
        {"username": {"mapper": uia_username_mapper, "case_insensitive": True}}],
    "SECURITY_PASSWORD_HASH": "argon2",
    "SECURITY_TRACKABLE": True,
    "SECURITY_RETURN_GENERIC_RESPONSES": True,  # never reveal which usernames exist
    "SECURITY_POST_LOGIN_VIEW": "/admin/",
    "SECURITY_POST_LOGOUT_VIEW": "/login",
    "SECURITY_EMAIL_VALIDATOR_ARGS": {"check_deliverability": False},
    "SECURITY_PASSWORD_CHECK_BREACHED": None,  # it would call an outside service
    "SECURITY_SEND_REGISTER_EMAIL": False,
    "SECURITY_I18N_DIRNAME": ["builtin", TRANSLATIONS],
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    # 记住我 is the user's choice on each login, off by default, and lasts 14 days; the
    # cookie is never readable by scripts nor sent by other sites' forms (see HTTPS).
    "SECURITY_DEFAULT_REMEMBER_ME": False,
    "REMEMBER_COOKIE_DURATION": datetime.timedelta(days=14),
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # The password policy (PasswordPolicy): at least 10 characters, and not guessable.
    "SECURITY_PASSWORD_LENGTH_MIN": 10,
    "SECURITY_PASSWORD_COMPLEXITY_CHECKER": "zxcvbn",
    "SECURITY_ZXCVBN_MINIMUM_SCORE": 3,
    # 修改密码 for every user (Flask-Security's /change, templates/security/change_password.html);
    # no mail server: no notice by e-mail. See _force_password_change.
    "SECURITY_CHANGEABLE": True,
    "SECURITY_SEND_PASSWORD_CHANGE_EMAIL": False,
    "SECURITY_POST_CHANGE_VIEW": "/admin/",
}


class Crm(Flask):
    """Flask, building each static file's address once per process and script root: a
    page links about 25 of them (Flask-Admin's ``static`` macro), each a URL build."""

    def url_for(self, /, endpoint, *, _anchor=None, _method=None, _scheme=None,
                _external=None, **values):
        static = (endpoint == "static" or endpoint.endswith(".static")) and \
            not endpoint.startswith(".")
        if not static or _anchor or _method or _scheme or _external or \
                not has_request_context():
            return super().url_for(endpoint, _anchor=_anchor, _method=_method,
                                   _scheme=_scheme, _external=_external, **values)
        key = (request.script_root, endpoint, tuple(sorted(values.items())))
        url = self.static_urls.get(key)
        if url is None:
            url = self.static_urls[key] = super().url_for(endpoint, **values)
        return url

    @functools.cached_property
    def static_urls(self):
        return {}


class UserDatastore(PeeweeUserDatastore):
    """Flask-Security's, loading the request's user (by the session's uniquifier) with
    his roles in one query: ``User.signed_in``."""

    def find_user(self, case_insensitive=False, **kwargs):
        if not case_insensitive and list(kwargs) == ["fs_uniquifier"]:
            return self.user_model.signed_in(kwargs["fs_uniquifier"])
        return super().find_user(case_insensitive, **kwargs)


def create_app(test_config=None):
    settings = config.load()  # every setting: the env file, then the environment (config.py)
    app = Crm(__name__, instance_relative_config=True, instance_path=settings.instance_path)
    models.base.private_folder(app.instance_path, narrow=True)  # secrets, SQLite, backups: 0700
    app.config.update(DEFAULTS)
    settings.apply(app.config)
    app.extensions["crm_settings"] = settings
    if test_config:
        app.config.update(test_config)
    _configure_logging(app)
    _trust_proxies(app)
    _https_only_cookies(app)
    _load_secrets(app)
    _log_requests(app)  # it never answers, and its after_request hook runs last
    _secure_headers(app)  # first to answer: its nonce exists before any other hook can answer

    database = app.config.get("DATABASE") or models.open_database(app.config["DATABASE_URL"])
    db.initialize(database)
    _connect_per_request(app, database)

    _one_clock(app)
    Babel(app, locale_selector=select_locale)
    CSRFProtect(app)
    app.extensions["user_datastore"] = datastore = UserDatastore(
        db, models.User, models.Role, models.UserRoles)
    Security(app, datastore, login_form=LoginForm, password_util_cls=PasswordPolicy)
    Mail(app)  # the daily digest (flask send-digest), when MAIL_SERVER is set

    _limit_logins(app)
    _audit_actor(app)
    _lock_accounts(app)
    _end_sessions_at_logout(app)
    _force_password_change(app)

    from admin_views import init_admin
    from admin_views.base import clean_request
    app.before_request(clean_request)  # return URLs on this site, query strings cleaned
    init_admin(app)
    _register_routes(app)

    from seed.cli import register_cli
    register_cli(app)
    return app


SECRETS = ("SECRET_KEY", "SECURITY_PASSWORD_SALT")


def _load_secrets(app):
    """SECRET_KEY and the password salt: from the configuration (config.py), else generated
    once.

    Generated values live in ``instance/secrets.json``, readable by its owner only,
    and are reused on every start so sessions and password hashes survive restarts.
    Either way ``flask backup`` saves the values in use, and docs/DEPLOY.md says so.
    The file appears whole or not at all (written aside, then linked into place),
    so server workers starting together all end up with the first one's values.
    """
    path = os.path.join(app.instance_path, "secrets.json")
    missing = [key for key in SECRETS if not app.config.get(key)]
    if not missing:
        return
    stored = _read_json(path)
    if not set(missing) <= set(stored):
        older = bool(stored)  # a file an older version wrote, lacking a key
        stored = {**{key: secrets.token_hex(32) for key in SECRETS}, **stored}
        aside = f"{path}.{os.getpid()}.{threading.get_ident()}"
        with os.fdopen(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       "w", encoding="utf-8") as fh:
            json.dump(stored, fh)
        try:
            if older:
                os.replace(aside, path)
            else:
                os.link(aside, path)  # fails if another worker linked its file first
        except FileExistsError:
            stored = _read_json(path)  # another worker was first: take its values
        finally:
            if os.path.exists(aside):
                os.unlink(aside)
    for key in missing:
        app.config[key] = stored[key]
        app.extensions["crm_settings"].sources[key] = path


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}


def _one_clock(app):
    """TIMEZONE is the company's zone: the models count "today" in it (``models.base``),
    and Flask-Babel shows every stored (UTC) time in it (``formats.shown_time``)."""
    models.base.set_time_zone(app.config["TIMEZONE"])  # an unknown name stops the start
    work.configure(silent_days=app.config["SILENT_DAYS"])
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]


def _limit_logins(app):
    """Slow password guessing: a few login attempts per account and address, then 429.

    Keyed by address *and* 用户名, so colleagues behind one office NAT never lock
    each other out. The 用户名 is the identity Flask-Security looks up: normalised
    by its own ``username_util`` (NFKC, surrounding spaces dropped) and compared
    without case, so ``ａｄｍｉｎ``, ``admin `` and ``ADMIN`` count as ``admin``.
    Counters live in memory (per server process) unless ``RATELIMIT_STORAGE_URI``
    names a shared store; the account lockout (``_lock_accounts``) is what holds
    across processes.
    """
    def address_and_username():
        return f"{get_remote_address()}|{login_identity(request.form.get('username'))}"

    # A shared store that is down must not stop every login: the throttle is skipped
    # (and logged by Flask-Limiter) while the lockout, kept in the database, still holds.
    limiter = Limiter(address_and_username, app=app, default_limits=[],
                      storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"),
                      swallow_errors=True)
    app.view_functions["security.login"] = limiter.limit(
        app.config["LOGIN_LIMITS"], methods=["POST"])(app.view_functions["security.login"])
    app.extensions["crm_limiter"] = limiter


def login_identity(typed):
    """The account a typed 用户名 names, as Flask-Security's login finds it: its own
    normaliser, then case folded (the lookup is case-insensitive)."""
    typed = typed if isinstance(typed, str) else ""
    return (_security.username_util.normalize(typed) or typed).lower()


log = logging.getLogger("crm.security")  # failed logins, lockouts, unlocks


class LoginForm(SecurityLoginForm):
    """Flask-Security's login form; a locked account is told so, whatever the password.

    Flask-Security asks ``User.is_locked`` only after a right password and puts its
    answer where the generic "用户名或密码错误" replaces it: here the lock is the
    answer to every attempt while it lasts, so a guess made during the lock learns
    nothing about the password.
    """

    def validate(self, **kwargs):
        ok = super().validate(**kwargs)
        user = self.user
        if user is not None and user.is_active and user.is_locked():
            if self.user_authenticated:  # the right password, while locked
                log.warning("login refused, account locked: %r from %s (right password)",
                            user.username, get_remote_address())
            self.username.errors, self.password.errors = [], []
            self.form_errors.append(locked_message(user))
            return False
        if user is None and self.ifield is not None:
            typed = login_identity(self.username.data)[:64]
            log.warning("failed login: unknown user %r from %s", typed, get_remote_address())
            audit.record(audit.LOGIN_FAILED, entity="user", username=typed)
        return ok


def locked_message(user):
    from admin_views.formats import shown_time
    until = user.lock_ends()
    today = models.base.local(until).date() == models.base.local_today()
    shown = shown_time(until, "%H:%M") if today else shown_time(until)
    return gettext("登录失败次数过多，该账户已被锁定至 %(time)s。请稍后再试，或请系统管理员解锁。",
                   time=shown)


def _lock_accounts(app):
    """Account lockout: ``LOCKOUT_ATTEMPTS`` failed logins lock the account for
    ``LOCKOUT_MINUTES``, from any address; a successful login clears the count.

    The count lives on the user's row (``User.record_failed_login``), so every server
    process and every restart enforce the same lock: one mechanism, whatever
    ``RATELIMIT_STORAGE_URI`` says. Flask-Security reports each wrong password
    (``user_failed_authn``) and each login (``user_authenticated``).
    """
    @user_failed_authn.connect_via(app)
    def _failed(sender, user, **extra):
        at = models.now()
        audit.record(audit.LOGIN_FAILED, user, username=user.username, at=at)
        if user.is_locked(now=at):
            log.warning("failed login while locked: %r from %s", user.username,
                        get_remote_address())
        elif user.record_failed_login(at, app.config["LOCKOUT_ATTEMPTS"],
                                      app.config["LOCKOUT_MINUTES"]):
            log.warning("account locked: %r from %s after %d failed logins, until %s",
                        user.username, get_remote_address(), user.failed_logins,
                        user.locked_until.isoformat(sep=" "))
            audit.record(audit.LOCKOUT, user, username=user.username, at=at,
                         note=user.locked_until.isoformat(sep=" "))
        else:
            log.warning("failed login: %r from %s (%d of %d)", user.username,
                        get_remote_address(), user.failed_logins,
                        app.config["LOCKOUT_ATTEMPTS"])

    @user_authenticated.connect_via(app)
    def _succeeded(sender, user, **extra):
        audit.record(audit.LOGIN, user, by=user)
        if user.failed_logins or user.locked_until:
            user.reset_failed_logins(models.now())


def _audit_actor(app):
    """Who the audit log names (models/audit.py): in a request its user and the client's
    address (the proxy's client when PROXY_COUNT says so); in a ``flask`` command nobody,
    from the command."""
    def actor():
        if has_request_context():
            user = current_user._get_current_object() if current_user else None
            known = user is not None and getattr(user, "is_authenticated", False)
            return (user.id if known else None, user.username if known else None,
                    request.remote_addr)
        command = click.get_current_context(silent=True)
        return None, None, f"flask {command.info_name}" if command else None
    audit.set_actor(actor)


def _end_sessions_at_logout(app):
    """Logging out ends the session on the server, not only in this browser.

    Flask-Security knows a session (and a remember-me cookie) by the user's
    ``fs_uniquifier``; logging out gives him a new one, so a copied cookie is
    refused afterwards. The price: logging out on one computer logs the user out
    on all of them. A password change renews it too (Flask-Security's own change
    page, and 用户管理 when an administrator sets one).
    """
    @user_logged_out.connect_via(app)
    def _logged_out(sender, user, **extra):
        if isinstance(user, models.User):
            audit.record(audit.LOGOUT, user, by=user)
            user.end_sessions()


# What a user who must change his password may still reach: the change page itself, logging
# out, the language switch, static files and the health check.
PASSWORD_CHANGE_EXEMPT = {"security.change_password", "security.logout", "set_locale", "static",
                          "admin.static", "security.static", "favicon", "healthz"}


def _force_password_change(app):
    """A password an administrator set (``User.must_change_password``) is changed first.

    Until its user has chosen his own on Flask-Security's change page, every other page
    answers with a redirect there and a message, whatever the method (nothing is done or
    shown on the way). Changing it there clears the flag (``password_changed``).
    """
    @app.before_request
    def _must_change_first():
        if request.endpoint in PASSWORD_CHANGE_EXEMPT:
            return None
        user = current_user
        if user and user.is_authenticated and getattr(user, "must_change_password", False):
            flash(gettext("您的密码由系统管理员设置，请先修改密码，再继续使用系统。"), "warning")
            return redirect(url_for("security.change_password"))
        return None

    @password_changed.connect_via(app)
    def _changed(sender, user, **extra):
        if isinstance(user, models.User):
            user.password_changed()


def _https_only_cookies(app):
    """Served over HTTPS (``HTTPS=1``): the session and remember-me cookies are sent
    over HTTPS only, and links are built with https (HSTS: ``_secure_headers``)."""
    if app.config.get("HTTPS"):
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True,
                          PREFERRED_URL_SCHEME="https")


# -- behind a reverse proxy; the logs ---------------------------------------------------------

def _trust_proxies(app):
    """Behind ``PROXY_COUNT`` proxies (nginx on the same server: 1), the client's address,
    the scheme and the host are the ones the proxies report: Werkzeug's ProxyFix, trusting
    that many hops of X-Forwarded-For/-Proto/-Host. The address then feeds the login limits,
    the security log, the access log and Flask-Security's last_login_ip; the scheme,
    ``request.is_secure`` (HSTS) and the links. With 0, the default, those headers are
    ignored: a client cannot forge its address or the scheme."""
    count = app.config.get("PROXY_COUNT") or 0
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


access_log = logging.getLogger("crm.access")  # one line a request (_log_requests)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_logging_as = None  # what the logging was last configured for (_configure_logging)


def request_id():
    """This request's id: the ``X-Request-ID`` it came with (nginx's ``$request_id``, a load
    balancer's) when that is a short token, else a new one; "-" outside a request."""
    if not has_request_context():
        return "-"
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


class RequestId(logging.Filter):
    """Every record our handlers write carries the request id (``%(request_id)s``)."""

    def filter(self, record):
        record.request_id = request_id()
        return True


class Stderr(logging.StreamHandler):
    """stderr as it is when a record is written, not when the logging was configured (a
    server or a test runner may replace ``sys.stderr`` in between)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class LogFile(logging.handlers.RotatingFileHandler):
    """``LOG_FILE``: rotated at 10 MB, five older files kept (``crm.log.1`` … ``.5``).

    gunicorn's workers each hold the file open, and one of them rotates it: the others would
    go on writing into the renamed file. So before each record a handler checks that its file
    is still the one named ``LOG_FILE`` and reopens it if not (as ``WatchedFileHandler``
    does; logrotate may rename it too)."""

    def __init__(self, filename, **kwargs):
        self._opened = None
        super().__init__(filename, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8",
                         **kwargs)

    def _open(self):
        stream = super()._open()
        info = os.fstat(stream.fileno())
        self._opened = (info.st_dev, info.st_ino)
        return stream

    def emit(self, record):
        try:
            info = os.stat(self.baseFilename)
            current = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            current = None
        if self.stream is not None and current != self._opened:
            self.stream.close()
            self.stream = None  # reopened by the emit below
        super().emit(record)


def _configure_logging(app):
    """The logs (standard ``logging``, ``dictConfig``): logger ``crm`` — ``crm.access`` one
    line a request, ``crm.security`` failed logins, lockouts and unlocks — and Flask's
    ``app.logger``, where every unhandled exception is written with its traceback. To stderr,
    which journald keeps (``journalctl -u crm``), or to ``LOG_FILE``; from ``LOG_LEVEL`` up;
    every line with its request id. Configured once per process and configuration (each
    ``create_app`` of the tests would otherwise replace the handlers again)."""
    global _logging_as
    wanted = (app.name, app.config.get("LOG_FILE"), app.config.get("LOG_LEVEL") or "INFO")
    if wanted != _logging_as:
        name, log_file, level = wanted
        handler = {"()": LogFile, "filename": log_file} if log_file else {"()": Stderr}
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": RequestId}},
            # The offset makes a line unambiguous, whatever the server's zone.
            "formatters": {"line": {"format": LOG_FORMAT, "datefmt": "%Y-%m-%d %H:%M:%S%z"}},
            "handlers": {"crm": {**handler, "formatter": "line", "filters": ["request_id"]}},
            # They propagate: a test's log capture (or a root handler) sees the records too.
            "loggers": {logger: {"level": level, "handlers": ["crm"]}
                        for logger in ("crm", name)},
        })
        _logging_as = wanted
    app.logger.removeHandler(flask_default_handler)  # ours, not a second copy to wsgi.errors


def _log_requests(app):
    """The access log: one line a request on ``crm.access`` — method, path (without the
    query string: searches hold customers' names), status, duration, user id (``-`` when
    nobody is logged in) and the client's address — and the request id in the response's
    ``X-Request-ID``. gunicorn's own access log is off (deploy/crm.service)."""
    @app.before_request
    def _start():
        g.request_started = time.perf_counter()
        request_id()

    @app.after_request
    def _log(response):
        started = g.get("request_started")
        took = (time.perf_counter() - started) * 1000 if started else 0
        user = g.get("_login_user")  # as Flask-Login loaded it; a static file loads no one
        who = user.id if getattr(user, "is_authenticated", False) else "-"
        access_log.info("%s %s %s %.0fms user=%s addr=%s", request.method,
                        quote(request.path, safe="/:@!$&'()*+,;=-._~"),  # no control chars
                        response.status_code, took, who, request.remote_addr)
        response.headers["X-Request-ID"] = request_id()
        return response


class PasswordPolicy(PasswordUtil):
    """The one password policy: 用户管理, ``flask create-user`` and Flask-Security's own
    change-password page all call ``validate`` (``_security.password_util``).

    Flask-Security's validators decide: at least ``SECURITY_PASSWORD_LENGTH_MIN``
    characters, and zxcvbn's score at least ``SECURITY_ZXCVBN_MINIMUM_SCORE`` (refusing
    common passwords, keyboard rows, sequences, dates and the user's own names).
    zxcvbn words its warnings in English only; they are msgids of Flask-Security's
    catalog, translated in ours (translations/zh_Hans_CN/LC_MESSAGES/flask_security.po).
    """

    def validate(self, password, is_register, **kwargs):
        user = kwargs.get("user")
        if not is_register and user is not None:
            # The change page hands over the user, whose names Flask-Security looks for in
            # his __dict__, where a peewee row keeps none: give them by name, as 用户管理 does.
            is_register, kwargs = True, {name: getattr(user, name, None) or ""
                                         for name in ("username", "full_name", "email")}
        errors, normalized = super().validate(password or "", is_register, **kwargs)
        if errors:
            errors = [_security.i18n_domain.gettext(str(e)) for e in errors]
        return errors, normalized


# Scripts: this site's files and inline blocks carrying the request's nonce, nothing
# else (no 'unsafe-inline', no eval). Styles allow inline: Flask-Admin's templates and
# its widgets (select2, daterangepicker) write style attributes, and a style cannot
# run code. No page may be framed, no form posts elsewhere, no plugin runs.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",  # + 'nonce-…', added per request
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",  # Bootstrap draws its icons as data: SVGs
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _secure_headers(app):
    """Security headers on every response, by Flask-Talisman: the CSP with a fresh nonce
    per request (``csp_nonce()`` in templates, ``admin_csp_nonce_attribute`` in Flask-Admin's),
    ``X-Frame-Options: DENY``, ``nosniff``, ``Referrer-Policy: same-origin`` and, on HTTPS
    only, HSTS.

    Redirecting to HTTPS is the front server's job (TLS ends there), and the cookie flags stay
    with this app's configuration: Talisman is told to leave both alone. HSTS is ours too:
    Talisman would send it whenever a request *says* ``X-Forwarded-Proto: https``, trusted or
    not. Here it goes with ``HTTPS=1``, or with a request that really came over HTTPS
    (``request.is_secure``: TLS to this server, or a proxy trusted by ``PROXY_COUNT``).
    """
    Talisman(
        app,
        force_https=False,
        frame_options="DENY",
        content_security_policy=CSP,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="same-origin",
        strict_transport_security=False,  # below: only request.is_secure counts
        session_cookie_secure=False,
        session_cookie_http_only=False,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE"),
    )
    # Flask-Security's default renders as "private=True, no-store=True" with Werkzeug 3.1.
    app.config.setdefault("SECURITY_CACHE_CONTROL", {"private": None, "no-store": None})

    @app.after_request
    def _hsts(response):
        if app.config.get("HTTPS") or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


HSTS = "max-age=31556926"  # a year; not includeSubDomains: other hosts of the domain are not ours


def _connect_per_request(app, database):
    """One connection per request, returned at teardown (or to the pool).

    ``reuse_if_open``: a CLI command or a test may already hold this thread's
    connection. An in-memory SQLite database would vanish when closed, so it
    stays open.
    """
    keep_open = isinstance(database, SqliteDatabase) and database.database == ":memory:"

    @app.before_request
    def _connect():
        # /healthz connects itself: a database that does not answer is its 503, not a 500
        if request.endpoint not in ("static", "admin.static", "security.static", "healthz"):
            database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not keep_open and not database.is_closed() and not database.in_transaction():
            database.close()


def select_locale():
    """The user's saved choice, else this session's, else the browser's, else Chinese."""
    if not has_request_context():
        return DEFAULT_LOCALE  # a command (flask create-user) speaks the default
    if current_user and current_user.is_authenticated and current_user.locale in LOCALES:
        return current_user.locale
    if session.get("locale") in LOCALES:
        return session["locale"]
    best = request.accept_languages.best_match(["zh_CN", "en"]) if request else None
    return "en" if best == "en" else DEFAULT_LOCALE


ERRORS = {
    400: models.N_("请求无效或页面已过期，请刷新页面后重试。"),
    429: models.N_("登录尝试过于频繁，请稍后再试。"),
    403: models.N_("您没有访问此页面的权限。"),
    404: models.N_("您要找的页面不存在。"),
    405: models.N_("不支持此请求方式。"),
    500: models.N_("系统出现错误，请稍后再试；问题已记录。"),
}


def _register_routes(app):
    @app.context_processor
    def _locales():
        return {"crm_locales": LOCALES, "crm_locale": str(get_locale()),
                "crm_widget_texts": widget_texts}

    from admin_views.base import safe_return_url
    from admin_views.formats import money, shown, shown_time, widget_texts
    app.add_template_filter(shown, "translated")  # texts the models marked with N_
    app.add_template_filter(money, "money")  # an amount in 元: 7,500.00
    app.add_template_filter(shown_time, "local_time")  # a stored time, as TIMEZONE reads it

    @app.route("/favicon.ico")
    def favicon():
        """Browsers ask for it on pages that name none (a download, a JSON answer)."""
        return app.send_static_file("favicon.svg")

    def error_page(exc):
        """The error pages. The 500 page's "问题已记录" holds: Flask writes an unhandled
        exception with its traceback to ``app.logger`` (``Flask.log_exception``, through our
        handlers, with the request id) before it asks for this page; an ``abort(500)``,
        which has no traceback, is logged here."""
        code = getattr(exc, "code", 500)
        if code == 500 and getattr(exc, "original_exception", None) is None:
            app.logger.error("500 on %s [%s]: %s", request.path, request.method,
                             getattr(exc, "description", exc))
        return render_template("errors/error.html", code=code,
                               message=gettext(ERRORS.get(code, ERRORS[500]))), code

    for code in ERRORS:
        app.register_error_handler(code, error_page)

    @app.route("/")
    def index():
        return redirect(url_for("admin.index"))

    from models import schema

    @app.route("/healthz")
    def healthz():
        """For a monitor or load balancer, without login: 200 when the database answers
        and its schema is current (no pending migration), else 503. The body says only
        that; it sets no cookie, and a GET needs no CSRF token."""
        try:
            db.connect(reuse_if_open=True)
            healthy = not schema.pending(db.obj)
        except Exception as exc:  # any failure to answer is "unavailable", whatever the driver
            app.logger.warning("health check: the database does not answer: %s", exc)
            healthy = False
        response = app.response_class(
            '{"status": "ok"}\n' if healthy else '{"status": "unavailable"}\n',
            status=200 if healthy else 503, mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response

    app.extensions["csrf"].exempt(healthz)

    @app.route("/locale/<code>")
    def set_locale(code):
        """Switch the UI language; remembered in the session and on the user."""
        if code in LOCALES:
            session["locale"] = code
            if current_user.is_authenticated:
                current_user.locale = code
                current_user.save(only=[models.User.locale])
        return redirect(safe_return_url(request.args.get("next")) or url_for("admin.index"))
