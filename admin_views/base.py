"""The permission-aware base views every screen derives from.

A view declares the permission codes it needs; this module turns them into
``is_accessible``, the ``can_*`` flags, allowed actions and the row scope, and
applies them on every path Flask-Admin exposes: list, count, details, edit,
delete, actions, export and related-record lookups.
"""
import functools
import operator
from urllib.parse import urlsplit

from flask import abort, flash, g, has_request_context, redirect, request, session, url_for
from flask_admin import BaseView, expose
from flask_admin.babel import gettext as admin_gettext
from flask_admin.babel import ngettext as admin_ngettext
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_admin.model.fields import AjaxSelectField
from flask_admin.model.template import BaseListRowAction
from flask_babel import gettext, lazy_pgettext, pgettext
from flask_babel import lazy_gettext as _l
from flask_security import current_user
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup, escape
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from peewee import JOIN, SQL, ForeignKeyField, IntegrityError, fn
from werkzeug.datastructures import ImmutableMultiDict
from wtforms import TextAreaField, validators
from wtforms.fields.core import UnboundField
from wtfpeewee.orm import ValueRequired

from models import DomainError, db, search
from models.base import (
    CONTROL_CHARACTERS_MESSAGE,
    DomainErrors,
    Msgid,
    has_control_characters,
    record_key,
    without_control_characters,
)
from models.security import ALL, OWN

from . import formats
from .filters import ChoiceFilter

NOTHING = SQL("1 = 0")

# A return URL is a path on this site: no scheme, no host, no control characters
# (a browser drops a tab or newline and may read "/\t/evil.example" as "//evil.example").
RETURN_URL_LIMIT = 2000
RETURN_PARAMS = ("url", "next")


# Bounds of what a query string may ask for (see "Input from requests", ARCHITECTURE.md).
MAX_PAGE = 10 ** 6  # ?page= beyond is read as the first page (offset fits any database)
SEARCH_LIMIT = 100  # characters of ?search= and of a picker's query that are read
SEARCH_PARAMETERS = ("search", "query")  # the list's search box, a picker's typed text
LOOKUP_LIMIT, LOOKUP_OFFSET = 50, 10 ** 5  # a picker's ?limit= and ?offset=
MAX_SELECTED = 1000  # records one action or bulk step may name (ten full pages)


def clean_query_string():
    """Clean the query string before any view reads it: control characters become
    spaces, a search (``search``, a picker's ``query``) is cut to SEARCH_LIMIT
    characters, and parameters named like ``url_for``'s own arguments are dropped.

    A search box, a filter, a report's filters and a picker's query are text typed by
    people: a tab pasted from Excel separates words, a NUL (which PostgreSQL refuses)
    or any other invisible character is never what was meant. Each word of a search is
    one more condition, and Flask-Admin copies the search into every link of the list.
    It hands the query string to ``url_for`` for its pager, sort and export links,
    where ``?_method=POST`` or ``?endpoint=`` would fail and ``?_scheme=…&_external=1``
    would lead elsewhere; no parameter of this site is named so. Forms are not cleaned:
    a posted control character is refused next to its field (``refuse_control_characters``).
    """
    pairs = list(request.args.items(multi=True))
    if all(plain_parameter(k) and not has_control_characters(v) and
           (k not in SEARCH_PARAMETERS or len(v) <= SEARCH_LIMIT) for k, v in pairs):
        return
    request.args = ImmutableMultiDict(
        [(key, without_control_characters(value, " ")[:SEARCH_LIMIT]
          if key in SEARCH_PARAMETERS else without_control_characters(value, " "))
         for key, value in pairs if plain_parameter(key)])
    request.__dict__.pop("values", None)  # recombined from the cleaned parts


def plain_parameter(name):
    """Whether a query parameter may be handed to ``url_for`` as a value (``endpoint`` and
    ``_anchor``, ``_external``, ``_method``, ``_scheme`` are its own arguments)."""
    return name != "endpoint" and not name.startswith("_")


def refuse_control_characters(form):
    """Refuse every field of ``form`` that was sent a control character (a textarea may
    hold line breaks and tabs), next to that field; whether none was.

    The field keeps what was typed less those characters, so nothing later (a check
    that queries, the form shown again) meets them.
    """
    clean = True
    for field in form if form is not None else ():
        texts = [v for v in field.raw_data or () if isinstance(v, str)]
        if any(has_control_characters(v, isinstance(field, TextAreaField)) for v in texts):
            field.errors = list(field.errors or ()) + [
                gettext(CONTROL_CHARACTERS_MESSAGE, label=field.label.text)]
            field.raw_data = [without_control_characters(v) for v in texts]
            if isinstance(field.data, str):
                field.data = without_control_characters(field.data)
            clean = False
    return clean


def bounded_number(text, default, low, high):
    """A query-string number within [low, high], else ``default``."""
    key = record_key(text)
    return key if key is not None and low <= key <= high else default


def safe_return_url(target):
    """``target`` if it is a path on this site (``/admin/...?...``), else None."""
    if not isinstance(target, str) or not target.startswith("/") \
            or len(target) > RETURN_URL_LIMIT or "\\" in target \
            or has_control_characters(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


def drop_unsafe_return_urls():
    """Remove from the request every ``url=``/``next=`` that would leave the site.

    Runs before every view, so Flask-Admin's own pages, Flask-Security's login and
    ours all fall back to their default page instead of redirecting off-site,
    writing ``javascript:`` into a link, or failing on a newline in ``Location``.
    """
    changed = False
    for source in ("args", "form"):
        values = getattr(request, source)
        bad = [key for key in RETURN_PARAMS if key in values and
               any(safe_return_url(v) is None for v in values.getlist(key))]
        if bad:
            kept = values.copy()
            for key in bad:
                kept.poplist(key)
            setattr(request, source, type(values)(kept))
            changed = True
    if changed:
        request.__dict__.pop("values", None)  # recombined from the cleaned parts


def clean_request():
    """The request as every view reads it (run before each one): a return URL that
    leaves the site removed, then the query string cleaned. One hook, in that order,
    so "/\t/evil" is dropped as a return URL before its tab could read as a space."""
    drop_unsafe_return_urls()
    clean_query_string()


def _user():
    """The logged-in user (the object, not Flask-Login's proxy: the row buttons of one page
    ask a few hundred times), or None."""
    if not has_request_context():
        return None
    user = current_user._get_current_object()
    return user if user is not None and user.is_authenticated else None


def user_can(code):
    """Whether the current user holds ``code`` (False outside a request)."""
    user = _user() if code else None
    return user is not None and user.can(code)


def current_scope(code):
    """'all', 'own' or None: the current user's scope of ``code`` (None outside a request)."""
    user = _user() if code else None
    return None if user is None else user.scope(code)


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


def refusals_of(exc):
    """The single refusals an error stands for (all of a ``DomainErrors``)."""
    return exc.errors if isinstance(exc, DomainErrors) else [exc]


def show_error(form, exc):
    """Each rule about a field of ``form`` is shown next to it, every other one is
    flashed; True if at least one was placed on the form (so it is shown again)."""
    placed = False
    for error in refusals_of(exc):
        if form is not None and error.field and error.field in form:
            field = form[error.field]
            field.errors = list(field.errors) + [domain_message(error)]
            placed = True
        else:
            flash(domain_message(error), "error")
    return placed


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


# A list counts its rows up to this many (past the page shown): "1000+", never a full
# COUNT(*) of a big table on every view ("Lists at scale", ARCHITECTURE.md).
COUNT_CAP = 1000


class AtLeast(int):
    """A list's row count known only as a lower bound: more rows follow. Shown as
    "1000+" (the list's count text); Flask-Admin's pager reads it as the rows known,
    and ``admin/crm_list.html`` offers the next pages instead of a last one."""

    capped = True

    def __str__(self):
        return f"{int(self)}+"


def count_rows(query, page, page_size, cap=COUNT_CAP):
    """The rows of a list's ``query``, counted up to ``cap`` or to three pages past
    ``page``, whichever is more: the exact number if there are no more, else
    ``AtLeast(known)``. One ``COUNT`` over a ``LIMIT``-ed sub-select, which stops
    reading after ``known + 1`` rows."""
    known = max(cap, ((page or 0) + 4) * page_size)
    rows = query.order_by().offset(None).limit(known + 1).count()
    return rows if rows <= known else AtLeast(known)


class RelatedSort:
    """A list column showing a related record, sorted by ``column`` of that record
    (a customer's 客户编号) rather than by its id; ``path`` is the foreign keys
    leading to it::

        column_sortable_list = [("customer", RelatedSort(Order.customer, column="number"))]

    Each step joins its own alias (a service names three users), INNER while the keys
    are required: the database may then walk the related rows in order by their index
    and each one's rows by the foreign key's index, stopping after a page (Flask-Admin
    LEFT-joins, which makes it sort the whole table first).
    """

    def __init__(self, *path, column):
        self.path, self.column = path, column
        self.field = getattr(path[-1].rel_model, column)  # what is sorted by (indexed)

    def joined(self, query, model, owner=None, inner=False):
        """``query`` joined along the path; and the column sorted by. ``owner``: the user
        whose own rows the list holds — the record the model's ``owner_key`` leads to (a
        contact's customer) is then joined on his being its 客户经理 too: the same rows,
        but the database may walk that table's index (a 客户经理's contacts or orders by
        客户, his customers from customer (manager_id, number); his churn records by
        客户经理, one user) rather than join everything and keep his. ``inner``: the
        first key joined INNER even if it may be NULL (``NullsApart`` adds those rows)."""
        query, target, outer = query.switch(model), None, False
        for key in self.path:
            first = target is None
            source = key if first else getattr(target, key.name)
            target = key.rel_model.alias()
            outer = outer or (_optional(key) and not (first and inner))
            on = source == getattr(target, key.rel_field.name)
            if first and owner is not None and key.name == getattr(model, "owner_key", None):
                on &= target.manager == owner
            query = query.join(target, JOIN.LEFT_OUTER if outer else JOIN.INNER, on=on)
        return query, getattr(target, self.column)

    def nulls_apart(self):
        """Whether the first key may be NULL (a service not assigned yet): a list page
        sorted by it reads those rows apart (``NullsApart``)."""
        return _optional(self.path[0])


def _optional(key):
    """Whether a foreign key may be NULL. A key the database keeps (``database_kept``: a
    record's 客户经理, copied from its customer's, who always has one) may not."""
    return key.null and key.name not in getattr(key.model, "database_kept", ())


class NullsApart:
    """A page of a list sorted by a related record whose key may be NULL (分配给, for a
    service not assigned yet), the rows without one after the others (before them when
    descending; PostgreSQL's order for NULLs, now SQLite's too). LEFT-joined, the
    database sorts every row to hand a page (50,000 services: 13 ms of SQL on SQLite, 23
    on PostgreSQL); apart, each group is an index walk: the rows with the key INNER-
    joined in the related record's order (``RelatedSort``), then those without it by id.
    A group is counted only when a page starts past its end; the list's count counts the
    rows before the sort's join (``CrmModelView.get_list``)."""

    def __init__(self, query, key, desc):
        pk = query.model._meta.primary_key
        self.without = query.where(key.is_null()).order_by(pk.desc() if desc else pk.asc())
        self.desc = desc

    def page(self, joined):
        """The page of rows Flask-Admin's ``joined`` query (the rows with the key, sorted,
        with the page's offset and limit) stands for."""
        offset, limit = joined._offset or 0, joined._limit
        with_key = joined.offset(None).limit(None)
        groups = (self.without, with_key) if self.desc else (with_key, self.without)
        rows = []
        for group in groups:
            wanted = None if limit is None else limit - len(rows)
            got = list(group.offset(offset or None).limit(wanted))
            rows += got
            if wanted is not None and len(got) >= wanted:
                break
            # the page goes on in the next group: from its start if this one ended inside
            # the page, else past what this one held
            offset = 0 if got or not offset else offset - group.order_by().count()
        return rows


def UserName(*path):  # noqa: N802 (reads as the column it declares)
    """A column showing a user (客户经理, 指派给, 处理人 …) sorted by his name as shown
    (``User.__str__``: 姓名, required and indexed), not by his id: ``("manager",
    UserName(Customer.manager))``; a path of keys reaches a user further away, as in
    ``RelatedSort``."""
    return RelatedSort(*path, column="full_name")


# A text cell starting with one of these is run as a formula by Excel.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(cell):
    """A text cell without the control characters a worksheet cannot hold (older rows
    may still carry them): an XLSX export never fails on them."""
    return ILLEGAL_CHARACTERS_RE.sub("", cell) if isinstance(cell, str) else cell


def spreadsheet_safe(cell):
    """A text cell as an export writes it: without control characters, and made plain
    text with a quote where Excel would run it as a formula."""
    cell = spreadsheet_text(cell)
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def status_filter(field, labels, name=None):
    """A filter on a status column offering its translated labels, not the stored codes."""
    return ChoiceFilter(field, name or _l("状态"),
                        [(code, _l(label)) for code, label in labels.items()])


def workflow_step(url, permission, *, form=None, template=None, expects=None, many=False,
                  stay=False, methods=("GET", "POST")):
    """Declare a view method as one workflow step page: the one way every step works.

    The page needs ``permission`` (403 without it, even by a crafted URL) and
    loads its record — ``?id=`` or the posted ``id``; with ``many`` every ``id``
    and the comma-joined ``ids`` — within that permission's scope; a record out
    of reach reads as one that does not exist. ``expects`` names the model's
    transition the record must be ready for (``record.expect``), else the user
    is sent back with the model's reason. ``form`` is a form class, or the name of
    a view method building one from the posted data (None: the step has no form).
    On a valid POST the decorated method is called as ``method(self, record, form)``
    and answers the success message; a ``DomainError`` about a field is shown
    next to it, any other is flashed. Then the user goes back to the return URL
    (``url=``, only if it stays on this site, else the list), or with ``stay`` to
    this step's page again. GET (and a refused form) renders ``template`` with
    ``record``, ``form``, ``back`` and ``step`` (the method's name less ``_view``).
    """
    def decorate(act):
        @functools.wraps(act)
        def page(self):
            return self.run_step(act, permission, form=form, template=template,
                                 expects=expects, many=many, stay=stay)
        page.step_permission = permission
        return expose(url, methods=methods)(page)
    return decorate


class Required(validators.InputRequired):
    """A required field (Flask-Admin's red *, the browser's ``required``): refused when
    nothing but spaces was sent, with a message naming it as the model's do (请填写地址).
    Input that was sent but is not valid is left to the field's own message."""

    def __call__(self, form, field):
        raw = field.raw_data[0] if field.raw_data else None
        if raw is not None and (not isinstance(raw, str) or raw.strip()):
            return
        field.errors[:] = []
        raise validators.StopValidation(gettext("请填写%(label)s", label=field.label.text))


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
        key = record_key(pk)
        if key is None:
            return None
        return self.query().where(self.model._meta.primary_key == key).first()

    def get_list(self, term, offset=0, limit=10):
        """The matching rows; Flask-Admin hands over ?query=, ?offset= and ?limit= as sent,
        so they are bounded here (a negative offset fails on PostgreSQL)."""
        query = self.query()
        term = (term or "")[:SEARCH_LIMIT].strip()
        if term:  # as a list's search box matches one word (a customer's through the index)
            query = query.where(search.containing(self._cached_fields, term))
        offset = bounded_number(offset, 0, 0, LOOKUP_OFFSET)
        limit = bounded_number(limit, 10, 1, LOOKUP_LIMIT)
        return list(query.order_by(self.model._meta.primary_key).offset(offset).limit(limit))


class SearchedColumns:
    """The searched columns of one table, as Flask-Admin's peewee list searches a field:
    it joins ``model`` (unless it is the view's) and asks ``self ** pattern`` for each word
    of the search box. The pattern is ``parse_like_term``'s: '%word%', 'word%' for
    ``^word``, 'word' for ``=word``; the word's own % and _ are characters."""

    def __init__(self, model, fields, key=None):
        self.model, self.fields, self.key = model, fields, key

    def __pow__(self, pattern):
        if len(pattern) > 1 and pattern.startswith("%") and pattern.endswith("%"):
            return search.containing(self.fields, pattern[1:-1], key=self.key)
        if pattern.endswith("%"):
            return functools.reduce(operator.or_, [f.startswith(pattern[:-1])
                                                   for f in self.fields])
        return functools.reduce(operator.or_, [fn.lower(f) == fn.lower(pattern)
                                               for f in self.fields])


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
    details_template = "admin/crm_details.html"  # without Flask-Admin's filter box
    can_set_page_size = True
    page_size = 20
    page_size_options = (20, 50, 100)
    # Booleans as 是/否 in the user's language (Flask-Admin's say "active: true", True),
    # times in TIMEZONE to the minute (formats.shown_time): every column of every view.
    column_type_formatters = formats.LIST
    column_type_formatters_detail = formats.DETAIL
    column_type_formatters_export = formats.EXPORT
    export_types = ["csv", "xlsx"]  # every row of the list, streamed (export_response)
    # Flask-Admin counts nothing itself: get_list counts up to COUNT_CAP (count_rows),
    # and the list template pages through a count that is only a lower bound.
    simple_list_pager = True
    list_template = "admin/crm_list.html"
    action_disallowed_list = ["delete"]  # business records are never mass-deleted

    # The fields the model's clean() requires (SPEC.md's * fields), when the generated
    # form would not: the form then requires them too, so they carry Flask-Admin's red *
    # and the browser's ``required``, and every missing one is named at once.
    form_required_columns = ()

    def scaffold_form(self):
        """Form labels are the column labels, so a field is called the same everywhere
        (a related-record picker too, which Flask-Admin builds with its loader as first
        argument); ``form_required_columns`` become required fields."""
        form_class = super().scaffold_form()
        for name, label in self.column_labels.items():
            field = getattr(form_class, name, None)
            if isinstance(field, UnboundField) and (
                    not field.args or issubclass(field.field_class, AjaxSelectField)):
                field.kwargs["label"] = label
        for name, field in vars(form_class).items():
            if not isinstance(field, UnboundField):
                continue
            checks = field.kwargs.get("validators") or ()
            # wtf-peewee requires a NOT NULL column with its ValueRequired, which
            # Flask-Admin does not mark; and its Optional() would stop the checks of an
            # empty field the model requires.
            if name in self.form_required_columns or \
                    any(isinstance(v, ValueRequired) for v in checks):
                kept = [v for v in checks if not isinstance(v, validators.Optional | ValueRequired)]
                if not any(isinstance(v, validators.InputRequired | validators.DataRequired)
                           for v in kept):
                    kept.insert(0, Required())
                field.kwargs["validators"] = kept
        return form_class

    column_search_labels = None  # for searched related fields: their labels, in order

    def init_search(self):
        """Flask-Admin searches each word of the box as ``field ** pattern`` over its
        searched fields, ORed (after joining a related field's table), and ANDs the words.
        It is handed one ``SearchedColumns`` per table instead, so every word is matched
        by ``models.search.containing``: a customer's 客户编号, 名称 and 地区 through the
        search index, directly or through the join, the other columns by LIKE."""
        found = super().init_search()
        tables = {}
        for field in self._search_fields:
            tables.setdefault(field.model, []).append(field)
        self._search_fields = [SearchedColumns(model, fields, self.key_of(model))
                               for model, fields in tables.items()]
        return found

    def key_of(self, model):
        """The one foreign key of this list's rows to ``model`` (a service's ``customer``),
        if there is exactly one: a related table's search index is matched there."""
        keys = [field for field in self.model._meta.refs if field.rel_model is model]
        return keys[0] if len(keys) == 1 and model is not self.model else None

    def search_placeholder(self):
        """The search box names what it searches (Flask-Admin's Peewee view shows "None")."""
        labels = self.column_search_labels or [
            self.column_labels.get(c, c) for c in self.column_searchable_list or ()
            if isinstance(c, str)]
        return pgettext("list separator", "、").join(str(label) for label in labels) or None

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
        step_permission = getattr(getattr(type(self), name, None), "step_permission", None)
        if step_permission:
            return step_permission
        operation = self.OPERATIONS.get(name)
        return getattr(self, operation) if operation else None

    def _handle_view(self, name, **kwargs):
        response = super()._handle_view(name, **kwargs)
        if response is not None:
            return response
        if self.needs_operation(name) and not user_can(self.operation_code(name)):
            abort(403)
        return None

    def needs_operation(self, name):
        return name in self.OPERATIONS or name in self.page_permissions or \
            hasattr(getattr(type(self), name, None), "step_permission")

    # -- the workflow steps (see ``workflow_step``) -------------------------------
    def return_url(self):
        """Where a page goes back to: the request's ``url=`` if it stays on this site,
        else this screen's list."""
        return safe_return_url(request.values.get("url")) or url_for(".index_view")

    def step_records(self, permission, many=False):
        """The records of ``id``/``ids`` (any status) that ``permission`` reaches."""
        keys = request.values.getlist("id")
        if many:
            keys += [k for k in (request.values.get("ids") or "").split(",") if k]
        pks = list(dict.fromkeys(record_key(k) for k in keys))  # a form posting to ?id= repeats it
        if not pks or None in pks or (len(pks) > 1 and not many) or len(pks) > MAX_SELECTED:
            return []
        pk = self.model._meta.primary_key
        query = self.scoped(self.scoped(self.model.select().where(pk.in_(pks)), self.permission),
                            permission)
        return list(query.order_by(pk))

    def run_step(self, act, permission, form, template, expects, many, stay):
        back = self.return_url()
        records = self.step_records(permission, many)
        if not records:
            flash(gettext("记录不存在或您无权操作。"), "error")
            return redirect(back)
        record = records if many else records[0]
        try:
            for each in records if expects else ():
                each.expect(expects)
        except DomainError as exc:
            flash(domain_message(exc), "error")
            return redirect(back)
        here = url_for("." + act.__name__, id=[r.id for r in records], url=back)
        formdata = request.form if request.method == "POST" else None
        make_form = getattr(self, form) if isinstance(form, str) else form
        step_form = make_form(formdata) if make_form else None
        if request.method == "POST" and (step_form is None or all(
                [step_form.validate(), refuse_control_characters(step_form)])):
            try:
                message = act(self, record, step_form)
            except DomainError as exc:
                # next to its field: the form again, with what was typed; else flashed
                if not show_error(step_form, exc):
                    return redirect(here if stay else back)
            else:
                if message:
                    flash(message, "success")
                return redirect(here if stay else back)
        if template is None:
            return redirect(back)
        return self.render(template, record=record, form=step_form, back=back,
                           step=act.__name__.removesuffix("_view"), here=here)

    def get_list_row_actions(self):
        """Every list's row buttons carry their label (查看 / 编辑 / 删除), each shown
        only where this user may use it on that row; workflow screens add their steps."""
        buttons = []
        if self.can_view_details:
            buttons.append(RowButton(_l("查看"), ".details_view"))
        if self.can_edit:
            buttons.append(RowButton(_l("编辑"), ".edit_view", show=lambda row: self.may(
                self.edit_permission, row) and self.row_editable(row)))
        if self.can_delete:
            buttons.append(RowButton(
                lazy_pgettext("button", "删除"), ".delete_view", post=True, tone="danger",
                confirm=lambda row: gettext("确认删除“%(name)s”？", name=self.row_title(row)),
                show=lambda row: self.may(self.delete_permission, row) and
                self.row_deletable(row)))
        return buttons

    @pass_context
    def row_cells(self, context, row, columns, buttons, selectable):
        """One row of the list, as Flask-Admin 2.2.1's list.html writes it — the checkbox
        of the actions, the row buttons, each column's value through the formatters,
        escaped as Jinja would — in one call instead of ~40 template calls a row
        (crm_list.html; not for cells edited in place, which no list here has)."""
        key = self.get_pk_value(row)
        cells = []
        if selectable:
            title = g.get("crm_select_title")
            if title is None:
                title = g.crm_select_title = escape(admin_gettext("Select record"))
            cells.append(f'<td><input type="checkbox" name="rowid" class="action-checkbox" '
                         f'value="{escape(key)}" title="{title}" /></td>')
        if self.column_display_actions:
            cells.append('<td class="list-buttons-column">'
                         + "".join(str(b.render(context, key, row)) for b in buttons)
                         + "</td>")
        formatters, types = self.column_formatters, self.column_type_formatters
        for column, _name in columns:
            value = self._get_list_value(context, row, column, formatters, types)
            cells.append(f'<td class="col-{escape(column)}">{escape(value)}</td>')
        return Markup("".join(cells))

    def row_title(self, row):
        """How a question names ``row`` (确认删除“…”？)."""
        return str(row)

    def row_editable(self, row):
        """Whether ``row`` may be edited at all (a locked dictionary entry may not)."""
        return True

    def row_deletable(self, row):
        """Whether ``row`` may be deleted at all (a role still held by users may not)."""
        return self.row_editable(row)

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

    def list_owner(self):
        """The user whose own rows the list holds (its scope "own" by the model's rule),
        else None."""
        model_rule = getattr(self.model, "owned_by", None)
        if model_rule is None or self.list_owner_rule() != model_rule:
            return None
        return current_user._get_current_object()

    def get_count_query(self):
        return self.get_query()

    def get_one(self, id, code=None):
        """The record, if this user may reach it for the operation in progress (or ``code``);
        None for a crafted key (text, negative, 30 digits), never queried."""
        pk = record_key(id)
        if pk is None:
            return None
        query = self.get_query().where(self.model._meta.primary_key == pk)
        code = code or self.operation_code((request.endpoint or "").rsplit(".", 1)[-1])
        if code:
            query = self.scoped(query, code)
        return query.first()

    def selected(self, ids, code=None):
        """The records of an action's ``ids`` this user may reach (under ``code`` too);
        none if any key is crafted or they are more than a bulk step takes."""
        pks = list(dict.fromkeys(record_key(i) for i in ids))
        if not pks or None in pks or len(pks) > MAX_SELECTED:
            return []
        query = self.get_query().where(self.model._meta.primary_key.in_(pks))
        if code:
            query = self.scoped(query, code)
        return list(query)

    def may(self, code, row):
        """Whether the current user may apply ``code`` to ``row`` (for row buttons).

        "own" is decided by one query per page and rule of "own" (edit and delete
        usually share the model's), asking about the rows on the page only (not every
        row the user owns: a 客户经理 may own thousands).
        """
        scopes = g.setdefault("crm_scopes", {})  # asked for each button of each row
        scope = scopes[code] if code in scopes else scopes.setdefault(code, current_scope(code))
        if scope == ALL:
            return True
        if scope != OWN:
            return False
        asked, owned = g.setdefault("crm_owned_ids", {}).setdefault(
            (self.endpoint, self.owned_by(code)), (set(), set()))
        if row.id not in asked:
            page = g.get("crm_page_ids", {}).get(self.endpoint, ())
            rule = self.list_owner_rule()
            if row.id in page and rule is not None and rule == self.owned_by(code):
                # the list holds only his rows by this very rule: nothing to ask
                owned.update(page)
                asked.update(page)
                return True
            ids = [i for i in page if i not in asked] if row.id in page else [row.id]
            pk = self.model._meta.primary_key
            owned.update(r[0] for r in self.scoped(
                self.base_query().select(pk).where(pk.in_(ids)), code).tuples())
            asked.update(ids)
        return row.id in owned

    def list_owner_rule(self):
        """The rule of "own" by which the list holds only the user's rows (its scope is
        "own"), else None."""
        if current_scope(self.permission) != OWN:
            return None
        return self.owned_by(self.permission)

    def _get_list_extra_args(self):
        """The list's query string, with ?page= a whole number up to MAX_PAGE, else the
        first page: Flask-Admin passes -1 or 30 digits to the database as an offset.
        (?search= is already cut to SEARCH_LIMIT characters: ``clean_query_string``.)"""
        args = super()._get_list_extra_args()
        args.page = bounded_number(request.args.get("page"), 0, 0, MAX_PAGE)
        return args

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        # A crafted ?sort= naming a column that is not sortable is ignored, not a 500.
        if sort_column is not None and sort_column not in self._sortable_columns:
            sort_column = None
        # a list page sorted by a key that may be NULL reads those rows apart
        # (``_sort_clause``); an export reads all rows in one query
        g.crm_nulls_apart, g.crm_sorted_apart, g.crm_unsorted = execute, None, None
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters,
                                       execute=False, page_size=page_size)
        apart, unsorted = g.pop("crm_sorted_apart", None), g.pop("crm_unsorted", None)
        if execute:
            count = count_rows(rows if unsorted is None else unsorted, page,
                               page_size or self.page_size)
            # none counted: no page to read (proving a rule holds for none read them all)
            rows = [] if count == 0 else apart.page(rows) if apart else self.page_rows(rows)
            # the rows a page shows: what its row buttons ask about (``may``)
            g.setdefault("crm_page_ids", {})[self.endpoint] = [row.id for row in rows]
            for column in self.column_list or ():
                if isinstance(column, str):
                    attach_related(rows, self.model, column.split("."))
        return count, rows

    # A list whose "own" scope is a customer list (a 客户经理's 4,000 customers) pages in
    # two steps (``page_rows``); elsewhere the one query is sorted by an index already.
    page_by_keys = False

    def page_rows(self, query):
        """The rows of one page of the list (``query`` is sorted and limited). With
        ``page_by_keys``, in two steps: their keys, sorted and cut from an index alone
        where one covers the filter and the sort — a 客户经理's 13,000 交往记录 or 20,000
        orders would otherwise be read whole to be sorted —, then those rows."""
        if not self.page_by_keys:
            return list(query)
        pk = self.model._meta.primary_key
        keys = [key for key, in query.select(pk).tuples()]
        rows = {row._pk: row for row in self.model.select().where(pk.in_(keys))} \
            if keys else {}
        return [rows[key] for key in keys if key in rows]

    def _sort_clause(self, query, joins, sort_field, sort_desc):
        """A related column (``RelatedSort``, ``UserName``) sorts by the related record's
        column; others as Flask-Admin does."""
        if isinstance(sort_field, RelatedSort):
            # the same rows without the sort's joins: what the list's count counts (with
            # them PostgreSQL counted a 客户经理's orders by walking every customer: 11 ms)
            g.crm_unsorted = query
            apart = bool(g.get("crm_nulls_apart")) and sort_field.nulls_apart()
            if apart:
                g.crm_sorted_apart = NullsApart(query, sort_field.path[0], sort_desc)
            query, name = sort_field.joined(query, self.model, self.list_owner(), inner=apart)
            return query, joins, name.desc() if sort_desc else name.asc()
        return super()._sort_clause(query, joins, sort_field, sort_desc)

    # -- the success messages: SPEC.md's, on every screen ------------------------
    SUCCESS_MESSAGES = {"create_view": _l("保存成功"), "edit_view": _l("保存成功"),
                        "delete_view": _l("删除成功")}

    def _run_view(self, fn, *args, **kwargs):
        """A successful save answers 保存成功 and a delete 删除成功, not Flask-Admin's
        创建记录成功。/ 保存记录成功。/ 1 条记录被成功删除。: its text, flashed inside
        its create/edit/delete views, is replaced here once the view has run."""
        response = super()._run_view(fn, *args, **kwargs)
        ours = self.SUCCESS_MESSAGES.get(getattr(fn, "__name__", None))
        if ours is not None and session.get("_flashes"):
            theirs = {admin_gettext("Record was successfully created."),
                      admin_gettext("Record was successfully saved."),
                      admin_ngettext("Record was successfully deleted.",
                                     "%(count)s records were successfully deleted.", 1, count=1)}
            session["_flashes"] = [
                (category, str(ours) if category == "success" and message in theirs
                 else message) for category, message in session["_flashes"]]
        return response

    def render(self, template, **kwargs):
        """A 查看 page lists its record's history from the audit log (admin_views/audit.py):
        field changes and status moves together, whoever made them."""
        if template == self.details_template and "model" in kwargs:
            from .audit import history
            kwargs.setdefault("crm_history", history(kwargs["model"]))
        return super().render(template, **kwargs)

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

    def validate_form(self, form):
        """Flask-Admin's checks, and no field may hold a control character (next to it)."""
        return all([super().validate_form(form), refuse_control_characters(form)])

    def _on_model_change(self, form, model, is_created):
        """Every business rule refused (``clean()`` reports them all at once) is shown
        next to its field, the others flashed; the form comes back with what was typed.

        The model's ``clean()`` runs on every save of every screen, after the view's own
        ``on_model_change``: a view cannot forget it."""
        try:
            super()._on_model_change(form, model, is_created)
            if callable(getattr(model, "clean", None)):
                model.clean()
        except DomainError as exc:
            show_error(form, exc)
            exc.shown = True  # handle_view_exception then flashes nothing more
            raise

    def handle_view_exception(self, exc):
        if isinstance(exc, DomainError):
            if not getattr(exc, "shown", False):
                for error in refusals_of(exc):
                    flash(domain_message(error), "error")
            return True
        if isinstance(exc, IntegrityError):
            flash(gettext("该记录仍被其他数据引用或与已有数据重复，未能保存。"), "error")
            return True
        return super().handle_view_exception(exc)

    # -- exports: every row of the list, streamed (admin_views/exports.py) ----------
    # The name of the export's sheet and file (客户信息_20261201_0930.xlsx); by default
    # the menu name in the user's language, less a trailing 管理 (exports.screen_title).
    export_title = None

    def export_query(self):
        """The list as its URL asks for it (search, filters, sort, the row scope): all rows."""
        args = self._get_list_extra_args()
        sort = self._get_column_by_idx(args.sort)
        _, query = self.get_list(0, sort[0] if sort else None, args.sort_desc, args.search,
                                 args.filters, execute=False, page_size=0)
        return query

    def export_header(self):
        """The exported columns' labels, in the user's language."""
        return [str(label) for _, label in self._export_columns]

    def export_rows(self):
        """The exported cells, row by row: the rows read in chunks, their related
        records (客户经理 …) once per chunk, the export formatters as on the list."""
        from .exports import chunks
        names = [name for name, _ in self._export_columns]
        for chunk in chunks(self.export_query()):
            yield from self.export_chunk(chunk, names)

    def export_chunk(self, chunk, names):
        """The cells of one chunk of rows (a screen may add what it reads per chunk)."""
        for name in names:
            attach_related(chunk, self.model, name.split("."))
        for row in chunk:
            yield [self.get_export_value(row, name) for name in names]

    def get_export_value(self, model, name):
        """A cell as the export writes it: the column's export formatter, then the type
        formatters (是/否 …), except that a date or a time stays one: exports.py writes it
        as a typed cell in the company's zone (CSV: its text, as the list shows it)."""
        import datetime
        if getattr(self, "_crm_export_types", None) is None:
            self._crm_export_types = {
                kind: formatter for kind, formatter in self.column_type_formatters_export.items()
                if not (isinstance(kind, type) and issubclass(kind, datetime.date))}
        return self._get_list_value(None, model, name, self.column_formatters_export,
                                    self._crm_export_types)

    def export_response(self, kind):
        """The whole list as a streamed CSV or XLSX file; no cap, nothing left out; its
        sheet and file named after the screen (exports.file_names)."""
        from .exports import response
        filename, fallback = self.export_names(kind)
        return response(kind, filename, self.export_header(), self.export_rows(),
                        fallback=fallback, title=self.export_screen())

    def _export_csv(self, return_url):
        return self.export_response("csv")

    def _export_tablib(self, export_type, return_url):
        return self.export_response(export_type)

    def export_screen(self):
        """The screen's name on its export, in the user's language (客户信息)."""
        from .exports import screen_title
        return screen_title(self.export_title or self.name)

    def export_names(self, kind):
        """(file name, ASCII fallback): 客户信息_20261201_0930.xlsx and
        customer_20261201_0930.xlsx, in the company's time."""
        from .exports import file_names
        return file_names(self.export_screen(), self.endpoint, kind)

    def get_export_name(self, export_type="csv"):
        return self.export_names(export_type)[0]


class ReadOnlyView(CrmModelView):
    """A lookup screen: list, search, details; nothing is written."""

    can_create = can_edit = can_delete = False


def current_page():
    """This page as a return URL (a path on this site)."""
    return request.full_path.rstrip("?")


class RowButton(BaseListRowAction):
    """A labelled button in a list row: a link, or a POST form carrying the CSRF token.

    ``show(row)`` decides per row whether the user sees it (the view checks again
    when it is used); ``confirm(row)`` is the question asked before it is used,
    carried in a ``data-confirm`` attribute that static/crm.js reads (never as
    script in an attribute); ``tone`` is the Bootstrap colour (danger for what
    cannot be undone). Every button carries the page as its return URL.
    """

    def __init__(self, title, endpoint, post=False, confirm=None, show=None, tone="secondary",
                 param="id"):
        super().__init__(title)
        self.endpoint, self.post, self.param = endpoint, post, param
        self.confirm, self.show, self.tone = confirm, show, tone

    MARK = "_crm_row_"  # where a row's key goes in the address built once per page

    def render(self, context, row_id, row):
        if self.show is not None and not self.show(row):
            return ""
        # built once per page and button (a list has 20 rows × several buttons): the
        # return URL, the address with a mark where the row's key goes, the form's
        # action and CSRF token, the title in the user's language
        page = g.setdefault("crm_row_buttons", {})
        key = (id(self), context.get("return_url"))
        if key not in page:
            back = safe_return_url(context.get("return_url")) or current_page()
            page[key] = (back, url_for(self.endpoint, **{self.param: self.MARK}, url=back),
                         url_for(self.endpoint), generate_csrf() if self.post else None,
                         escape(str(self.title)))
        back, address, action, token, title = page[key]
        css = f"btn btn-sm btn-outline-{self.tone} crm-row-action"
        question = ""
        if self.confirm is not None:
            question = f' data-confirm="{escape(str(self.confirm(row)))}"'
        if not self.post:
            href = address.replace(self.MARK, str(row_id), 1) if isinstance(row_id, int) \
                else url_for(self.endpoint, **{self.param: row_id}, url=back)
            return Markup(f'<a class="{css}" href="{escape(href)}"{question}>{title}</a>')
        return Markup(
            f'<form class="crm-row-action" method="POST" action="{escape(action)}"{question}>'
            f'<input type="hidden" name="id" value="{escape(str(row_id))}">'
            f'<input type="hidden" name="url" value="{escape(back)}">'
            f'<input type="hidden" name="csrf_token" value="{escape(token)}">'
            f'<button type="submit" class="{css}">{title}</button></form>')


def link(url, text):
    return Markup('<a href="{}">{}</a>').format(url, text)


__all__ = ["CrmModelView", "CrmView", "ReadOnlyView", "RelatedSort", "RowButton",
           "ScopedAjaxLoader", "_l",
           "clean_request", "current_page", "current_scope", "domain_message", "link",
           "record_key", "refuse_control_characters",
           "safe_return_url", "scope_query", "show_error", "spreadsheet_safe", "status_filter",
           "status_formatter", "user_can", "UserName", "workflow_step"]
