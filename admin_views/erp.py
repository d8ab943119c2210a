"""The ERP hand-over: ``flask import-orders`` and ``flask import-stock`` (CSV or XLSX, as
often as the ERP exports; seed/erp/ holds sample files).

The rules are the models' (``import_orders``, ``import_stock``); a command reads the file,
and reports in the language of ``--lang`` (default: the installation's, Chinese) what
was created, updated and left unchanged, or every fault of every row, naming its column,
with exit code 1 and nothing written. Registered by admin_views/customers.py's
``commands()``, with that module's other commands.
"""
import os

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, gettext

from models.base import DomainError, DomainErrors, Msgid
from models.basedata import import_stock
from models.customers import import_orders
from models.tabular import read_table
from seed.cli import needs_schema

LANGUAGES = {"zh": "zh_Hans_CN", "en": "en"}  # --lang → the locale of app.py's LOCALES


def _lang_option(command):
    return click.option(
        "--lang", type=click.Choice(list(LANGUAGES)), default=None,
        help="The language of the report (default: the installation's, Chinese).")(command)


def _translated(message, params):
    """A model's msgid with its params, in the current locale (msgid params translated)."""
    return gettext(message, **{key: gettext(value) if isinstance(value, Msgid) else value
                               for key, value in (params or {}).items()})


def fault_lines(exc):
    """Each fault of a refused import as one line: its row, its column, its reason."""
    for error in getattr(exc, "errors", None) or [exc]:
        if isinstance(error, tuple):
            row, message, params = error
        else:
            row, message, params = None, error.message, error.params
        reason, column = _translated(message, params), params.get("column")
        if row is None:
            yield reason
        elif column:
            yield gettext("第 %(row)d 行“%(column)s”列：%(reason)s", row=row,
                          column=gettext(column), reason=reason)
        else:
            yield gettext("第 %(row)d 行：%(reason)s", row=row, reason=reason)


def _run_import(path, lang, work, summary):
    """Read ``path``, hand its rows to ``work`` and report: the ``summary`` of what it did,
    or every fault (on stderr) and exit code 1."""
    locale = LANGUAGES[lang] if lang else current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        try:
            with open(path, "rb") as fh:
                content = fh.read()
        except OSError:
            click.echo(gettext("无法打开文件“%(path)s”", path=path), err=True)
            raise click.exceptions.Exit(1) from None
        try:
            done = work(read_table(content), source=os.path.basename(path))
        except DomainError as exc:
            for line in fault_lines(exc):
                click.echo(line, err=True)
            if getattr(exc, "errors", None) and not isinstance(exc, DomainErrors):
                click.echo(_translated(exc.message, exc.params), err=True)  # the total
            raise click.exceptions.Exit(1) from None
        click.echo(summary(done))


@click.command("import-orders")
@click.argument("path", type=click.Path(dir_okay=False))
@_lang_option
@with_appcontext
@needs_schema
def import_orders_command(path, lang):
    """Take the ERP's orders from a CSV or XLSX file, one row per order line."""
    _run_import(path, lang, import_orders, lambda done: gettext(
        "订单：新增 %(created)d，更新 %(updated)d，未变 %(unchanged)d；新增商品 %(products)d",
        created=done.created, updated=done.updated, unchanged=done.unchanged,
        products=done.products))


@click.command("import-stock")
@click.argument("path", type=click.Path(dir_okay=False))
@_lang_option
@with_appcontext
@needs_schema
def import_stock_command(path, lang):
    """Set stock levels (product, warehouse, location → quantity) from a CSV or XLSX file."""
    _run_import(path, lang, import_stock, lambda done: gettext(
        "库存：新增 %(created)d，更新 %(updated)d，未变 %(unchanged)d",
        created=done.created, updated=done.updated, unchanged=done.unchanged))


def commands():
    """The ERP commands (admin_views/customers.py registers them with its own)."""
    return [import_orders_command, import_stock_command]
