"""The permission-aware base views every screen derives from.

A view declares the permission codes it needs; this module turns them into
``is_accessible``, the ``can_*`` flags, allowed actions and the row scope, and
applies them on every path Flask-Admin exposes: list, count, details, edit,
delete, actions, export and related-record lookups.
"""
import datetime
import itertools
import json

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin import BaseView
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.model.template import BaseListRowAction
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_security import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from peewee import SQL, ForeignKeyField, IntegrityError
from wtforms.fields.core import UnboundField

from models import DomainError, db
from models.base import Msgid
from models.security import ALL, OWN

NOTHING = SQL("1 = 0")


def user_can(code):
    """Whether the current user holds ``code`` (False outside a request)."""
    return bool(code) and has_request_context() and current_user.is_authenticated \
        and current_user.can(code)


def current_scope(code):
    """'all', 'own' or None: the current user's scope of ``code`` (None outside a request)."""
    if not code or not has_request_context() or not current_user.is_authenticated:
        return None
    return current_user.scope(code)


def scope_query(query, model, code, owned_by=None):
    """Narrow ``query`` to the rows of ``model`` the current user may reach under ``code``.

    ``owned_by(user)`` is the condition "own" stands for; by default the model's.
    """
    scope = current_scope(code)
    if scope == ALL:
        return query
    if scope == OWN:
        return query.where((owned_by or model.owned_by)(current_user))
    return query.where(NOTHING)


def domain_message(exc):
    """The error in the user's language; placeholders that are labels are translated too."""
    params = {k: gettext(v) if isinstance(v, Msgid) else v for k, v in exc.params.items()}
    return gettext(exc.message, **params)


def show_error(form, exc):
    """A rule about one field is shown next to it (True); any other is flashed (False)."""
    if exc.field and exc.field in form:
        form[exc.field].errors = list(form[exc.field].errors) + [domain_message(exc)]
        return True
    flash(domain_message(exc), "error")
    return False


def status_formatter(labels):
    """A column formatter that shows a status code as its translated label."""
    def format_status(view, context, model, name):
        code = getattr(model, name)
        return gettext(labels[code]) if code in labels else code
    return format_status


def attach_related(rows, model, path):
    """Load the rows' related records along ``path`` with one query per step.

    A foreign key shown in a list would otherwise cost one query per row (the
    Peewee backend has no select_related); peewee reads what is put in
    ``__rel__`` instead of querying.
    """
    field = model._meta.fields.get(path[0])
    if not isinstance(field, ForeignKeyField) or not rows:
        return
    keys = {row.__data__.get(field.name) for row in rows} - {None}
    related = {getattr(obj, field.rel_field.name): obj for obj in
               field.rel_model.select().where(field.rel_field.in_(keys))} if keys else {}
    for row in rows:
        key = row.__data__.get(field.name)
        if key in related:
            row.__rel__[field.name] = related[key]
    if len(path) > 1:
        attach_related(list(related.values()), field.rel_model, path[1:])


# A text cell starting with one of these is run as a formula by Excel.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """A text cell that Excel would run as a formula, made plain text with a quote."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def status_filter(field, labels, name=None):
    """A filter on a status column offering its translated labels, not the stored codes."""
    return FilterEqual(field, name or _l("状态"),
                       options=[(code, _l(label)) for code, label in labels.items()])


class PermissionMixin:
    """Access to a whole view: the user must hold ``permission``.

    An anonymous visitor is sent to the login page; a logged-in user without
    the permission gets 403.
    """

    permission = None

    def is_accessible(self):
        return user_can(self.permission)

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("security.login", next=request.full_path))
        abort(403)


class CrmView(PermissionMixin, BaseView):
    """A custom page (a report, the permission matrix) gated by ``permission``."""


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """A related-record picker that offers only the rows the user may reach.

    ``scope_code`` is the permission whose scope applies (e.g. the customers a
    客户经理 manages). A stale or out-of-scope id reads as no record, never a 500.
    """

    def __init__(self, name, model, scope_code, **options):
        super().__init__(name, model, **options)
        self.scope_code = scope_code

    def query(self):
        return scope_query(self.model.select(), self.model, self.scope_code)

    def get_one(self, pk):
        try:
            return self.query().where(self.model._meta.primary_key == int(pk)).first()
        except (TypeError, ValueError):
            return None

    def get_list(self, term, offset=0, limit=10):
        query = self.query()
        if term:
            condition = None
            for field in self._cached_fields:
                clause = field ** f"%{term}%"
                condition = clause if condition is None else condition | clause
            query = query.where(condition)
        return list(query.order_by(self.model._meta.primary_key).offset(offset or 0)
                    .limit(limit))


class CrmModelView(PermissionMixin, ModelView):
    """A model screen whose every operation is a granted permission.

    - ``permission``: see the screen; its scope narrows the rows on every path.
    - ``create_permission`` / ``edit_permission`` / ``delete_permission`` /
      ``export_permission``: the operation; a scoped one narrows further
      (e.g. edit only what the user created).
    - ``action_permissions``: {action name: code}.
    - ``base_query()``: the business set this screen lists.
    """

    create_permission = None
    edit_permission = None
    delete_permission = None
    export_permission = None
    action_permissions = {}

    can_view_details = True
    can_set_page_size = True
    page_size = 20
    page_size_options = (20, 50, 100)
    export_types = ["csv", "xlsx"]
    export_max_rows = 10000
    action_disallowed_list = ["delete"]  # business records are never mass-deleted

    def scaffold_form(self):
        """Form labels are the column labels, so a field is called the same everywhere."""
        form_class = super().scaffold_form()
        for name, label in self.column_labels.items():
            field = getattr(form_class, name, None)
            if isinstance(field, UnboundField) and not field.args:
                field.kwargs["label"] = label
        return form_class

    column_search_labels = None  # for searched related fields: their labels, in order

    def search_placeholder(self):
        """The search box names what it searches (Flask-Admin's Peewee view shows "None")."""
        labels = self.column_search_labels or [
            self.column_labels.get(c, c) for c in self.column_searchable_list or ()
            if isinstance(c, str)]
        return "、".join(str(label) for label in labels) or None

    # -- the operation flags, read per request --------------------------------
    @property
    def can_create(self):
        return user_can(self.create_permission)

    @property
    def can_edit(self):
        return user_can(self.edit_permission)

    @property
    def can_delete(self):
        return user_can(self.delete_permission)

    @property
    def can_export(self):
        return user_can(self.export_permission)

    OPERATIONS = {"create_view": "create_permission", "edit_view": "edit_permission",
                  "ajax_update": "edit_permission", "delete_view": "delete_permission",
                  "export": "export_permission"}
    # Further exposed pages of a view: {method name: permission code}.
    page_permissions = {}

    def operation_code(self, name):
        """The permission the view method ``name`` needs beyond ``permission``, if any."""
        if name in self.page_permissions:
            return self.page_permissions[name]
        operation = self.OPERATIONS.get(name)
        return getattr(self, operation) if operation else None

    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        if (name in self.OPERATIONS or name in self.page_permissions) \
                and not user_can(self.operation_code(name)):
            abort(403)
        return None

    def is_action_allowed(self, name):
        return super().is_action_allowed(name) and user_can(self.action_permissions.get(name))

    # -- the row scope, on every path -----------------------------------------
    def base_query(self):
        return self.model.select()

    def owned_by(self, code):
        """What "own" means for ``code`` on this screen: by default the model's rule."""
        return getattr(self.model, "owned_by", None)

    def scoped(self, query, code):
        return scope_query(query, self.model, code, self.owned_by(code))

    def get_query(self):
        return self.scoped(self.base_query(), self.permission)

    def get_count_query(self):
        return self.get_query()

    def get_one(self, id, code=None):
        """The record, if this user may reach it for the operation in progress (or ``code``)."""
        try:
            pk = int(id)
        except (TypeError, ValueError):
            return None
        query = self.get_query().where(self.model._meta.primary_key == pk)
        code = code or self.operation_code((request.endpoint or "").rsplit(".", 1)[-1])
        if code:
            query = self.scoped(query, code)
        return query.first()

    def selected(self, ids, code=None):
        """The records of an action's ``ids`` this user may reach (under ``code`` too)."""
        try:
            pks = [int(i) for i in ids]
        except (TypeError, ValueError):
            return []
        query = self.get_query().where(self.model._meta.primary_key.in_(pks))
        if code:
            query = self.scoped(query, code)
        return list(query)

    def may(self, code, row):
        """Whether the current user may apply ``code`` to ``row`` (for row buttons).

        "own" is decided by one query per page and code, not one per row.
        """
        scope = current_scope(code)
        if scope == ALL:
            return True
        if scope != OWN:
            return False
        cache = g.setdefault("crm_owned_ids", {})
        key = (self.endpoint, code)
        if key not in cache:
            pk = self.model._meta.primary_key
            cache[key] = {r[0] for r in self.scoped(self.base_query().select(pk), code)
                          .tuples()}
        return row.id in cache[key]

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        # A crafted ?sort= naming a column that is not sortable is ignored, not a 500.
        if sort_column is not None and sort_column not in self._sortable_columns:
            sort_column = None
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters,
                                       execute=execute, page_size=page_size)
        if execute:
            rows = list(rows)
            for column in self.column_list or ():
                if isinstance(column, str):
                    attach_related(rows, self.model, column.split("."))
        return count, rows

    # -- writes: atomic, non-recursive, business errors shown as messages -----
    def create_model(self, form):
        with db.atomic() as txn:
            model = super().create_model(form)
            if not model:
                txn.rollback()
            return model

    def update_model(self, form, model):
        if type(self).save_edits is CrmModelView.save_edits:
            with db.atomic() as txn:
                ok = super().update_model(form, model)
                if not ok:
                    txn.rollback()
                return ok
        try:
            with db.atomic():
                form.populate_obj(model)
                self._on_model_change(form, model, False)
                self.save_edits(model, [name for name in self.form_columns if name in form])
        except DomainError as exc:
            self.handle_view_exception(exc)
            return False
        self.after_model_change(form, model, False)
        return True

    def save_edits(self, model, fields):
        """Write an edited record. A screen whose rows move on (指派, 流失 …) overrides
        this to write only ``fields`` and only while the row may still be edited:
        Flask-Admin's own save writes every column and would undo a concurrent move.
        """
        model.save()

    def delete_model(self, model):
        """Delete one row only; rows that still reference it make the delete fail."""
        try:
            with db.atomic():
                self.on_model_delete(model)
                self.delete_record(model)
        except Exception as exc:
            if not self.handle_view_exception(exc):
                raise
            return False
        self.after_model_delete(model)
        return True

    def delete_record(self, model):
        """How a row is deleted: plainly and alone, unless the screen's rule says otherwise."""
        model.delete_instance()

    def _on_model_change(self, form, model, is_created):
        """A business rule about one field is shown next to that field."""
        try:
            super()._on_model_change(form, model, is_created)
        except DomainError as exc:
            if exc.field and exc.field in form:
                form[exc.field].errors = list(form[exc.field].errors) + [domain_message(exc)]
                exc.shown = True  # handle_view_exception then flashes nothing
            raise

    def handle_view_exception(self, exc):
        if isinstance(exc, DomainError):
            if not getattr(exc, "shown", False):
                flash(domain_message(exc), "error")
            return True
        if isinstance(exc, IntegrityError):
            flash(gettext("该记录仍被其他数据引用或与已有数据重复，未能保存。"), "error")
            return True
        return super().handle_view_exception(exc)

    def get_export_value(self, model, name):
        """Exported cells are data, never formulas (a customer named "=…" stays a name)."""
        return spreadsheet_safe(super().get_export_value(model, name))

    def _export_csv(self, return_url):
        """CSV opens in Excel on a Chinese Windows only with a UTF-8 byte order mark."""
        response = super()._export_csv(return_url)
        response.response = itertools.chain(["\ufeff"], response.response)
        return response

    def get_export_name(self, export_type="csv"):
        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        return f"{self.endpoint}_{stamp}.{export_type}"


class ReadOnlyView(CrmModelView):
    """A lookup screen: list, search, details; nothing is written."""

    can_create = can_edit = can_delete = False


class RowButton(BaseListRowAction):
    """A labelled button in a list row: a link, or a POST form carrying the CSRF token.

    ``show(row)`` decides per row whether the user sees it (the view checks again
    when it is used); ``confirm(row)`` is the question asked before a POST;
    ``tone`` is the Bootstrap colour (danger for what cannot be undone).
    """

    def __init__(self, title, endpoint, post=False, confirm=None, show=None, tone="secondary",
                 param="id"):
        super().__init__(title)
        self.endpoint, self.post, self.param = endpoint, post, param
        self.confirm, self.show, self.tone = confirm, show, tone

    def render(self, context, row_id, row):
        if self.show is not None and not self.show(row):
            return ""
        back = context.get("return_url") or request.url
        face = self.title
        css = f"btn btn-sm btn-outline-{self.tone} crm-row-action"
        if not self.post:
            return Markup('<a class="{}" href="{}">{}</a>').format(
                css, url_for(self.endpoint, **{self.param: row_id}, url=back), face)
        onclick = Markup("")
        if self.confirm is not None:
            onclick = Markup(' onclick="return faHelpers.safeConfirm({});"').format(
                json.dumps(str(self.confirm(row)), ensure_ascii=False))
        return Markup(
            '<form class="crm-row-action" method="POST" action="{}">'
            '<input type="hidden" name="id" value="{}"><input type="hidden" name="url" value="{}">'
            '<input type="hidden" name="csrf_token" value="{}">'
            '<button type="submit" class="{}" title="{}"{}>{}</button></form>').format(
            url_for(self.endpoint), row_id, back, generate_csrf(), css, self.title, onclick,
            face)


def link(url, text):
    return Markup('<a href="{}">{}</a>').format(url, text)


__all__ = ["CrmModelView", "CrmView", "ReadOnlyView", "RowButton", "ScopedAjaxLoader", "_l",
           "current_scope", "domain_message", "link", "scope_query", "show_error",
           "spreadsheet_safe",
           "status_filter", "status_formatter", "user_can"]
