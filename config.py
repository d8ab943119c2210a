"""Every setting of an installation in one table (``SETTINGS``: name, default, meaning), and
the one place that reads them (``load``), for the web server, every ``flask`` command and
the tests. docs/DEPLOY.md shows the same table ("Settings"); a test keeps the two in step.

Where a value comes from, the later winning:

1. the default of the table;
2. the env file: the file ``CRM_ENV_FILE`` names, else ``crm.env`` in the instance folder
   (``instance/crm.env`` in a checkout). One ``KEY=value`` a line, read by python-dotenv
   without ``${…}`` expansion. The systemd units, their timers, ``deploy/crm-flask`` and a
   cron line all read the same file, so every process sees the same database;
3. the environment;
4. the dict a test gives ``create_app`` (applied there).

An empty value counts as unset. A value that cannot be used stops the start with a message
naming the setting and where the value came from; so does a ``CRM_ENV_FILE`` that names a
missing file (a typo would otherwise fall back to the defaults unnoticed). A setting may also
be spelled with Flask's prefix (``FLASK_CHURN_MONTHS``, as older env files did; the plain
name wins), and any other Flask or extension setting can be given as ``FLASK_<NAME>``
(Flask's ``from_prefixed_env`` rules: a JSON value is decoded, ``A__B`` sets ``A["B"]``).
"""
import json
import logging
import os
import zoneinfo
from dataclasses import dataclass, field

from dotenv import dotenv_values

from models.base import DEFAULT_TIMEZONE

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "FLASK_"
ENV_FILE_NAME = "crm.env"


class SettingError(ValueError):
    """A setting holds a value that cannot be used."""


# -- how a value is read -----------------------------------------------------------------

def text(value):
    return value


def flag(value):
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``, any case."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingError("expected 1 or 0")


def whole(minimum):
    def parse(value):
        try:
            number = int(value)
        except ValueError:
            raise SettingError("expected a whole number") from None
        if number < minimum:
            raise SettingError(f"expected at least {minimum}")
        return number
    return parse


def time_zone(value):
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingError("not a time zone of the tz database (e.g. Asia/Shanghai)") from None
    return value


def log_level(value):
    if not isinstance(logging.getLevelName(value.upper()), int):
        raise SettingError("expected DEBUG, INFO, WARNING or ERROR")
    return value.upper()


def path(value):
    return os.path.abspath(os.path.expanduser(value))


@dataclass(frozen=True)
class Setting:
    name: str
    default: object  # a value, or a function of the instance folder
    meaning: str
    parse: object = text
    aliases: tuple = ()  # older names, still read


def _in_instance(*names):
    return lambda instance: os.path.join(instance, *names)


# The table. docs/DEPLOY.md "Settings" explains each at length.
SETTINGS = [
    Setting("CRM_INSTANCE_PATH", None,
            "the instance folder: SQLite database, secrets.json, backups (default: instance/ "
            "in the checkout; the units and deploy/crm-flask: /var/lib/crm)", path),
    Setting("CRM_ENV_FILE", None,
            "the env file (default: crm.env in the instance folder; environment only)", path),
    Setting("DATABASE_URL", lambda instance: "sqlite:///" + os.path.join(instance, "crm.db"),
            "the database: postgresql://user:password@host:5432/name or sqlite:////path"),
    Setting("SECRET_KEY", None,
            "signs sessions and CSRF tokens; unset: generated once into secrets.json"),
    Setting("SECURITY_PASSWORD_SALT", None,
            "part of every password hash; unset: generated once into secrets.json"),
    Setting("TIMEZONE", DEFAULT_TIMEZONE, "the company's time zone: times are shown, and "
            "\"today\" counted, in it (stored in UTC)", time_zone),
    Setting("HTTPS", False,
            "served over HTTPS: Secure cookies, HSTS, https links", flag, ("CRM_HTTPS",)),
    Setting("PROXY_COUNT", 0,
            "how many proxies (nginx: 1) stand in front; their X-Forwarded-For/-Proto/-Host "
            "are trusted", whole(0)),
    Setting("RATELIMIT_STORAGE_URI", "memory://",
            "where login attempts are counted: memory:// (per process) or redis://…"),
    Setting("LOGIN_LIMITS", "10 per minute;30 per hour",
            "login attempts per address and 用户名, then 429"),
    Setting("LOCKOUT_ATTEMPTS", 5, "failed logins that lock an account", whole(1)),
    Setting("LOCKOUT_MINUTES", 15,
            "the window of those failures, and how long the lock lasts", whole(1)),
    Setting("CHURN_MONTHS", 6, "months without an order before detect-churn warns", whole(1)),
    Setting("SILENT_DAYS", 90, "days without an interaction record before a customer shows "
            "on his 客户经理's home page", whole(1)),
    Setting("BASE_URL", "http://localhost:5000",
            "the site's address as users open it: the links of the daily digest"),
    Setting("MAIL_SERVER", None, "the SMTP server of the daily digest (send-digest); unset: "
            "no mail is sent"),
    Setting("MAIL_PORT", 25, "its port (587 with MAIL_USE_TLS, 465 with MAIL_USE_SSL)",
            whole(1)),
    Setting("MAIL_USE_TLS", False, "STARTTLS after connecting", flag),
    Setting("MAIL_USE_SSL", False, "TLS from the start", flag),
    Setting("MAIL_USERNAME", None, "the SMTP login, if the server asks for one"),
    Setting("MAIL_PASSWORD", None, "its password"),
    Setting("MAIL_DEFAULT_SENDER", None, "the From address of the digest (default: crm@ and "
            "the host of BASE_URL)"),
    Setting("BACKUP_DIR", _in_instance("backups"), "where flask backup writes", path),
    Setting("BACKUP_KEEP", 14, "how many of the newest backups are kept", whole(1)),
    Setting("LOG_FILE", None,
            "write the logs to this file (rotated) instead of stderr (journald)", path),
    Setting("LOG_LEVEL", "INFO", "the least level logged: DEBUG, INFO, WARNING, ERROR",
            log_level),
]
BY_NAME = {setting.name: setting for setting in SETTINGS}
BOOTSTRAP = ("CRM_INSTANCE_PATH", "CRM_ENV_FILE")  # not Flask settings: where the rest is


@dataclass
class Settings:
    """What ``load`` found: the instance folder, the env file, every setting's value and
    where each came from (``default``, ``environment`` or the env file's path)."""
    instance_path: str
    env_file: str
    env_file_found: bool
    values: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    flask_prefixed: dict = field(default_factory=dict)  # other FLASK_<NAME> settings

    def apply(self, config):
        """Put the settings into a Flask config: the table, then the other FLASK_ names."""
        config.update({name: value for name, value in self.values.items()
                       if name not in BOOTSTRAP})
        for name, value in self.flask_prefixed.items():
            target, *path, key = [config, *name.split("__")]
            for part in path:
                target = target.setdefault(part, {})
            target[key] = value

    def configured(self, name):
        """Whether ``name`` was set (environment or env file), not left at its default."""
        return self.sources.get(name, "default") != "default"


def load(environ=None):
    """Read every setting from the environment and the env file (see the module)."""
    environ = os.environ if environ is None else environ
    named = environ.get("CRM_ENV_FILE") or None
    instance = environ.get("CRM_INSTANCE_PATH") or os.path.join(HERE, "instance")
    env_file = path(named or os.path.join(instance, ENV_FILE_NAME))
    found = os.path.exists(env_file) and not os.path.isdir(env_file)  # /dev/null will do
    if named and not (found and os.access(env_file, os.R_OK)):
        raise SettingError(f"CRM_ENV_FILE={named}: no such file, or it cannot be read")
    from_file = dotenv_values(env_file, interpolate=False, encoding="utf-8") if found else {}
    layers = [("environment", environ), (env_file, from_file)]  # the first one set wins

    def lookup(setting):
        for source, values in layers:
            for name in (setting.name, *setting.aliases, PREFIX + setting.name):
                value = values.get(name)
                if value not in (None, ""):
                    return source, name, value
        return "default", None, None

    # The instance folder may come from the file CRM_ENV_FILE names (deploy/crm.env.example).
    source, _, value = lookup(BY_NAME["CRM_INSTANCE_PATH"])
    settings = Settings(instance_path=path(value) if value else os.path.join(HERE, "instance"),
                        env_file=env_file, env_file_found=found)
    settings.sources.update(CRM_INSTANCE_PATH=source,
                            CRM_ENV_FILE="environment" if named else "default")
    for setting in SETTINGS:
        if setting.name in BOOTSTRAP:
            continue
        source, name, value = lookup(setting)
        if value is None:
            default = setting.default
            value = default(settings.instance_path) if callable(default) else default
        else:
            try:
                value = setting.parse(value.strip())
            except SettingError as exc:
                raise SettingError(f"{name}={value!r} (from {source}): {exc}") from None
        settings.values[setting.name] = value
        settings.sources[setting.name] = source
    settings.values["CRM_INSTANCE_PATH"] = settings.instance_path
    settings.values["CRM_ENV_FILE"] = env_file

    known = {PREFIX + s.name for s in SETTINGS}
    for _, values in reversed(layers):  # the environment last: it wins
        for key, value in values.items():
            if key.startswith(PREFIX) and key not in known and value not in (None, ""):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
                settings.flask_prefixed[key[len(PREFIX):]] = value
    return settings
