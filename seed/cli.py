"""The ``flask`` commands that create the schema, load data and create users."""
import datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_security import hash_password

from models import ChurnRecord, DomainError, Role, User, customers, db, schema
from models.tabular import read_table
from seed import reference


def register_cli(app):
    app.cli.add_command(init_db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_user)
    app.cli.add_command(detect_churn)
    app.cli.add_command(import_orders)


@click.command("init-db")
@click.option("--demo-if-new", is_flag=True,
              help="Also load the demo data when the database was empty.")
@with_appcontext
def init_db(demo_if_new):
    """Create or upgrade the schema, then load the reference data."""
    new = schema.is_new(db.obj)
    applied = schema.upgrade(db.obj)
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
@with_appcontext
def create_user(username, full_name, role_codes, password):
    """Create an active user, by default a 系统管理员 (the first administrator)."""
    if User.get_or_none(User.username == username):
        raise click.ClickException(f"user {username!r} already exists")
    reference.load()
    datastore = current_app.extensions["user_datastore"]
    with db.atomic():
        user = datastore.create_user(username=username, full_name=full_name,
                                     password=hash_password(password), active=True)
        user.set_roles(Role.select().where(Role.code.in_(role_codes)))
    click.echo(f"created {username} ({', '.join(role_codes)})")


@click.command("detect-churn")
@click.option("--months", type=int, default=None,
              help="Months without an order before a warning (default: CHURN_MONTHS, 6).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day to detect as of (default: today).")
@with_appcontext
def detect_churn(months, today):
    """Open a 预警 churn record for every customer silent too long (for cron, daily)."""
    months = months or current_app.config["CHURN_MONTHS"]
    day = today.date() if today else datetime.date.today()
    created = ChurnRecord.detect(day, months=months)
    click.echo(f"{len(created)} churn warning(s) opened (no order for more than {months} months)")


@click.command("import-orders")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_orders(path):
    """Take the ERP's orders from a CSV or XLSX file, one row per order line."""
    with open(path, "rb") as fh:
        content = fh.read()
    try:
        created, updated = customers.import_orders(
            read_table(content, required=customers.ORDER_COLUMNS))
    except DomainError as exc:
        for number, message, params in getattr(exc, "errors", []):
            click.echo(f"row {number}: {message % params if params else message}", err=True)
        raise click.ClickException(str(exc)) from None
    click.echo(f"{created} new order(s), {updated} updated")
