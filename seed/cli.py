"""The ``flask`` commands that set up an installation: schema, reference and demo data, users.

The business commands (``detect-churn``, ``import-orders``) live with their module
(``admin_views/customers.py``).
"""

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_security import hash_password

from models import Role, User, db, schema
from seed import reference


def register_cli(app):
    app.cli.add_command(init_db)
    app.cli.add_command(seed_demo)
    app.cli.add_command(create_user)


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
