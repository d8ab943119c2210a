"""The application factory: configuration, database, Babel, Security, the admin and the CLI.

It wires the parts together and owns no business rule.
"""
import json
import os
import secrets
import threading

from flask import Flask, redirect, render_template, request, session, url_for
from flask_babel import Babel, get_locale, gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_security import PeeweeUserDatastore, Security, current_user, uia_username_mapper
from flask_wtf.csrf import CSRFProtect
from peewee import SqliteDatabase

import models
from models import db

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSLATIONS = os.path.join(HERE, "translations")
LOCALES = {"zh_Hans_CN": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_Hans_CN"

DEFAULTS = {
    "BABEL_DEFAULT_LOCALE": DEFAULT_LOCALE,
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
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
    "CHURN_MONTHS": 6,  # 客户流失: months without an order before a warning
    "LOGIN_LIMITS": "10 per minute;30 per hour",  # failed or not, per address and 用户名
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=True,
                instance_path=os.environ.get("CRM_INSTANCE_PATH"))
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(DEFAULTS)
    app.config["DATABASE_URL"] = os.environ.get(
        "DATABASE_URL", "sqlite:///" + os.path.join(app.instance_path, "crm.db"))
    app.config.from_prefixed_env()  # FLASK_SECRET_KEY, FLASK_DATABASE_URL, …
    if os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    if test_config:
        app.config.update(test_config)
    _load_secrets(app)

    database = app.config.get("DATABASE") or models.open_database(app.config["DATABASE_URL"])
    db.initialize(database)
    _connect_per_request(app, database)

    Babel(app, locale_selector=select_locale)
    CSRFProtect(app)
    app.extensions["user_datastore"] = datastore = PeeweeUserDatastore(
        db, models.User, models.Role, models.UserRoles)
    Security(app, datastore)

    _limit_logins(app)

    from admin_views import init_admin
    from admin_views.base import drop_unsafe_return_urls
    app.before_request(drop_unsafe_return_urls)  # url=/next= stay on this site, on every page
    init_admin(app)
    _register_routes(app)

    from seed.cli import register_cli
    register_cli(app)
    return app


SECRETS = ("SECRET_KEY", "SECURITY_PASSWORD_SALT")


def _load_secrets(app):
    """SECRET_KEY and the password salt: from the environment, else generated once.

    Generated values live in ``instance/secrets.json``, readable by its owner only,
    and are reused on every start so sessions and password hashes survive restarts.
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


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}


def _limit_logins(app):
    """Slow password guessing: a few login attempts per account and address, then 429.

    Keyed by address *and* 用户名, so colleagues behind one office NAT never lock
    each other out. Counters live in memory (per server process) unless
    ``RATELIMIT_STORAGE_URI`` names a shared store.
    """
    def address_and_username():
        return f"{get_remote_address()}|{(request.form.get('username') or '').lower()}"

    limiter = Limiter(address_and_username, app=app, default_limits=[],
                      storage_uri=app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
    app.view_functions["security.login"] = limiter.limit(
        app.config["LOGIN_LIMITS"], methods=["POST"])(app.view_functions["security.login"])
    app.extensions["crm_limiter"] = limiter


def _connect_per_request(app, database):
    """One connection per request, returned at teardown (or to the pool).

    ``reuse_if_open``: a CLI command or a test may already hold this thread's
    connection. An in-memory SQLite database would vanish when closed, so it
    stays open.
    """
    keep_open = isinstance(database, SqliteDatabase) and database.database == ":memory:"

    @app.before_request
    def _connect():
        if request.endpoint not in ("static", "admin.static", "security.static"):
            database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not keep_open and not database.is_closed() and not database.in_transaction():
            database.close()


def select_locale():
    """The user's saved choice, else this session's, else the browser's, else Chinese."""
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
        return {"crm_locales": LOCALES, "crm_locale": str(get_locale())}

    from admin_views.formats import shown
    app.add_template_filter(shown, "translated")  # texts the models marked with N_

    @app.route("/favicon.ico")
    def favicon():
        """Browsers ask for it on pages that name none (a download, a JSON answer)."""
        return app.send_static_file("favicon.svg")

    def error_page(exc):
        code = getattr(exc, "code", 500)
        return render_template("errors/error.html", code=code,
                               message=gettext(ERRORS.get(code, ERRORS[500]))), code

    for code in ERRORS:
        app.register_error_handler(code, error_page)

    @app.route("/")
    def index():
        return redirect(url_for("admin.index"))

    @app.route("/locale/<code>")
    def set_locale(code):
        """Switch the UI language; remembered in the session and on the user."""
        if code in LOCALES:
            session["locale"] = code
            if current_user.is_authenticated:
                current_user.locale = code
                current_user.save(only=[models.User.locale])
        # unsafe ``next`` values never get here (drop_unsafe_return_urls)
        return redirect(request.args.get("next") or url_for("admin.index"))
