"""The ``flask`` commands that set up an installation: schema, reference and demo data, users.

The business commands live with their module (``detect-churn``: admin_views/customers.py;
``import-orders``, ``import-stock``: admin_views/erp.py). Every command but ``init-db`` and
``restore`` carries ``needs_schema``: it refuses a database without tables (the service's
configuration missed).
"""

import functools
import json
import os
from urllib.parse import urlsplit, urlunsplit

import click
import peewee
from flask import current_app
from flask.cli import with_appcontext
from flask_security import hash_password
from flask_security.proxies import _security

from models import Role, User, db, schema
from seed import reference


def register_cli(app):
    app.cli.add_command(init_db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_user)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(copy_database_command)


def needs_schema(command):
    """For a command that works on an installation's data (every one but ``init-db`` and
    ``restore``): it refuses a database without tables with a message saying why, instead
    of crashing on its first query ("no such table") or writing into it.

    The case it exists for: a command run without the service's configuration (cron has
    no exported ``DATABASE_URL``) finds no ``DATABASE_URL`` and would use a new, empty
    SQLite file in the instance folder. ``tests/test_config.py`` checks that every command
    but those two carries it. Put it under ``@with_appcontext``.
    """
    @functools.wraps(command)
    def guarded(*args, **kwargs):
        try:
            empty = schema.is_new(db.obj)
        except peewee.OperationalError as exc:
            raise click.ClickException(
                f"the database {_shown_url(current_app.config['DATABASE_URL'])} does not "
                f"answer: {str(exc).strip()}") from None
        if empty:
            raise click.ClickException(_no_schema_message())
        return command(*args, **kwargs)
    guarded.needs_schema = True
    return guarded


def _no_schema_message():
    url = current_app.config["DATABASE_URL"]
    if not _is_demo_database():
        return f"the database {_shown_url(url)} has no tables yet: run `flask init-db` first"
    settings = current_app.extensions["crm_settings"]
    where = settings.env_file + ("" if settings.env_file_found else ", which does not exist")
    return (f"no database is configured: DATABASE_URL is set neither in the environment nor "
            f"in the env file ({where}), and the default database {url[len('sqlite:///'):]} "
            "has no tables. On the server run commands as deploy/crm-flask … (it reads "
            "/etc/crm/crm.env), or set CRM_ENV_FILE; to make a new database here, run "
            "`flask init-db`.")


@click.command("init-db")
@click.option("--demo-if-new", is_flag=True,
              help="Also load the demo data when the database was empty "
                   "(only into the default demo file, instance/crm.db).")
@click.option("--force-demo", is_flag=True,
              help="With --demo-if-new: load the demo data into any new database.")
@with_appcontext
def init_db(demo_if_new, force_demo):
    """Create or upgrade the schema, then load the reference data."""
    new = schema.is_new(db.obj)
    if new and demo_if_new and not force_demo and not _is_demo_database():
        # The demo accounts share one published password: never in a real database
        # unless asked for by name.
        raise click.ClickException(
            "refusing to load the demo data (accounts with a published password) into "
            f"{_shown_url(current_app.config['DATABASE_URL'])}: it is not the demo database "
            "instance/crm.db. Use `make run DEMO=1` or `flask init-db --demo-if-new "
            "--force-demo` if that is really wanted.")
    applied = schema.upgrade(db.obj)
    schema.optimize(db.obj)
    for name in applied:
        click.echo(f"applied migration {name}")
    if not applied:
        click.echo("schema is up to date")
    reference.load()
    if new and demo_if_new:
        from seed import demo
        demo.load()
        click.echo("demo data loaded")


@click.command("seed-demo")
@with_appcontext
@needs_schema
def seed_demo():
    """Load the demo users and data (idempotent)."""
    from seed import demo
    reference.load()
    demo.load()
    click.echo("demo data loaded")


@click.command("create-user")
@click.argument("username")
@click.option("--full-name", prompt="姓名 (full name)")
@click.option("--role", "role_codes", multiple=True, default=["admin"], show_default=True,
              type=click.Choice(list(reference.ROLES)))
@click.password_option()
@click.option("--must-change", is_flag=True,
              help="The user must change this password at his first login (when somebody "
                   "else will use the account).")
@with_appcontext
@needs_schema
def create_user(username, full_name, role_codes, password, must_change):
    """Create an active user, by default a 系统管理员 (the first administrator)."""
    if User.get_or_none(User.username == username):
        raise click.ClickException(f"user {username!r} already exists")
    # the one password policy, as in 用户管理 (app.py: PasswordPolicy)
    errors, password = _security.password_util.validate(password, True, username=username,
                                                        full_name=full_name)
    if errors:
        raise click.ClickException(" ".join(str(e) for e in errors))
    reference.load()
    datastore = current_app.extensions["user_datastore"]
    with db.atomic():
        user = datastore.create_user(username=username, full_name=full_name,
                                     password=hash_password(password), active=True,
                                     must_change_password=must_change)
        user.set_roles(Role.select().where(Role.code.in_(role_codes)))
    click.echo(f"created {username} ({', '.join(role_codes)})")


def _is_demo_database():
    """Whether the app runs on the default demo file: SQLite in instance/crm.db."""
    default = "sqlite:///" + os.path.join(current_app.instance_path, "crm.db")
    return current_app.config["DATABASE_URL"] == default


def _shown_url(url):
    """A database URL without its password, fit for a message or a log."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@",
                                                                 ":***@")))


# -- backups, restores, moving to another database (seed/backup.py, seed/copydb.py) ------

def _backup_folder():
    return os.path.abspath(current_app.config["BACKUP_DIR"])  # config.py, like every setting


def _secrets_path():
    return os.path.join(current_app.instance_path, "secrets.json")


def _read_secrets():
    try:
        with open(_secrets_path(), encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}


@click.command("backup")
@click.option("--dir", "folder", help="Where to write it (default: BACKUP_DIR, "
                                      "else instance/backups).")
@click.option("--keep", type=click.IntRange(min=1),
              help="Keep this many newest backups (default: BACKUP_KEEP, else 14).")
@with_appcontext
@needs_schema
def backup_command(folder, keep):
    """Back up the database and the secrets into one archive, while the app runs."""
    from seed import backup
    from seed.copydb import row_counts
    folder = os.path.abspath(folder) if folder else _backup_folder()
    keep = keep or current_app.config["BACKUP_KEEP"]
    url = current_app.config["DATABASE_URL"]
    manifest = {"migrations": sorted(schema.runner(db.obj).applied()),
                "rows": row_counts(db.obj)}
    try:
        path = backup.create_backup(url, folder, {key: current_app.config.get(key)
                                                  for key in backup.SECRETS}, manifest)
        removed = backup.prune(folder, keep)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written and verified: {path} ({os.path.getsize(path)} bytes)")
    for name in removed:
        click.echo(f"removed old backup {name}")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(archive, yes):
    """Replace the database and the secrets by those of a backup archive."""
    from seed import backup
    url = current_app.config["DATABASE_URL"]
    try:
        saved = backup.read_backup(archive)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        known = {m.name for m in schema.runner(db.obj).migrations()}
        unknown = sorted(set(saved.manifest.get("migrations", [])) - known)
        if unknown:
            raise click.ClickException(
                f"this backup was made by a newer release (migrations {', '.join(unknown)}); "
                "restore it with that release")
        rows = saved.manifest.get("rows", {})
        click.echo(f"backup of {saved.manifest['created']}: {sum(rows.values())} rows "
                   f"in {len(rows)} tables")
        if not yes:
            click.confirm(f"Replace every table of {_shown_url(url)} and the secrets with this "
                          "backup? Changes made since it was taken are lost", abort=True)
        if not db.is_closed() and not db.in_transaction():
            db.close()  # pg_restore needs the tables free of this process's connection
        # A secret this app runs with that is not the file's came from the configuration
        # (environment, env file), which the restored file cannot override.
        filed = _read_secrets()
        configured = {key: current_app.config.get(key) for key in backup.SECRETS
                      if current_app.config.get(key) != filed.get(key)}
        try:
            backup.restore_database(saved, url)
            restored = backup.restore_secrets(saved, _secrets_path())
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        saved.cleanup()
    click.echo(f"database restored from {archive}")
    if restored:
        click.echo(f"secrets restored to {_secrets_path()}")
    for key, value in saved.secrets.items():
        if key in configured and configured[key] != value:
            click.echo(f"warning: {key} in the configuration differs from the backup's; "
                       f"set it to the backup's value (now in {_secrets_path()}), or "
                       "remove it from the configuration, or logins and sessions fail")
    pending = schema.pending(db.obj)
    if pending:
        click.echo(f"run `flask init-db` to apply {', '.join(pending)}")
    click.echo("restart the service (systemctl restart crm) so every worker uses "
               "the restored secrets")


@click.command("copy-database")
@click.argument("target_url")
@with_appcontext
@needs_schema
def copy_database_command(target_url):
    """Copy every table into the empty database TARGET_URL (e.g. SQLite → PostgreSQL)."""
    from models import open_database
    from seed.copydb import CopyError, copy_database
    target = open_database(target_url)
    try:
        with target.connection_context():
            counts = copy_database(db.obj, target)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        getattr(target, "close_all", target.close)()  # a pool closes every connection
    for table, count in counts.items():
        click.echo(f"{table:<20} {count:>8}")
    click.echo(f"copied {sum(counts.values())} rows in {len(counts)} tables to "
               f"{_shown_url(target_url)}; the row counts match. Set DATABASE_URL to it.")
