"""工作台: the home page hands each user the work waiting for him, and the navbar badge
counts it on every page.

A panel is a list of the panel (its view, filtered by one of the list's own filters):
the panel is shown when the user may open that list (and holds ``needs``, the
permission of the work itself), its count is that list's count query — the same row
scope, the same filter — and its link opens the list so filtered. What a role sees
therefore follows what it is granted, a role an administrator builds included, and a
count never disagrees with the list it opens. Counts stop at ``CAP`` (shown "999+"):
one indexed query each, never a full count of a big table.
"""
import functools
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import click
from flask import current_app, g, render_template, url_for
from flask.cli import with_appcontext
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_mail import Message
from flask_security import current_user
from peewee import JOIN, fn

from models import (
    AuditEntry,
    ChurnRecord,
    Customer,
    Opportunity,
    PermissionChange,
    ServiceRequest,
    User,
    db,
    versions,
    work,
)
from models.base import N_, local, local_today, now
from models.customers import customers_of
from models.reports import money_from_cents
from models.security import ALL, OWN, PERMISSIONS_BY_CODE, SCOPES
from seed.cli import needs_schema

from .base import current_scope, user_can
from .filters import with_silent_days
from .kept import kept

CAP = 999


@dataclass(frozen=True)
class Panel:
    key: str
    label: object
    endpoint: str
    filters: tuple = ()  # (a filter's rule function or column, value) of the list's filters
    needs: str = None  # the permission of the work, beyond opening the list
    todo: bool = False  # counted in the navbar badge
    rows: object = None  # a function listing a few of the rows, given the Shown panel
    hint: object = None


ROWS = 5


def _view(endpoint):
    for view in current_app.extensions["admin"][0]._views:
        if view.endpoint == endpoint:
            return view
    raise LookupError(endpoint)


def _filter(view, key):
    """The index and filter of ``view`` that ``key`` names: a RuleFilter's rule or a column."""
    for index, flt in enumerate(view._filters or ()):
        if getattr(flt, "rule", None) is key or (
                not hasattr(flt, "rule") and getattr(flt, "column", None) is key):
            return index, flt
    raise LookupError(key)


def capped(query):
    """The number of rows, counted up to CAP + 1."""
    return query.order_by().limit(CAP + 1).count()


def shown_count(count):
    return f"{CAP}+" if count > CAP else str(count)


class Board:
    """The panels the current user may see; each counted when first asked (the badge asks
    only the to-do ones), once per request — and, between requests, kept until the work
    changes (admin_views/kept.py)."""

    def __init__(self, external=False):
        self.external = external
        self.panels = [Shown(self, panel, view) for panel, view in
                       ((panel, _view(panel.endpoint)) for panel in PANELS)
                       if view.is_accessible() and (not panel.needs or user_can(panel.needs))]

    @property
    def todo(self):
        return sum(shown.count for shown in self.panels if shown.panel.todo)

    def kept(self, key, compute):
        """``compute()``, a value of the work this user sees, kept until that work
        changes (the WORK data version)."""
        return kept(versions.WORK, self.who, (key, self.external), compute)

    @functools.cached_property
    def who(self):
        """What a count depends on besides the rows: the user, his grants, the day (and
        the installation's N of "N 天无交往")."""
        return current_user.id, current_user.grant_items(), local_today(), work.silent_days()


@dataclass
class Shown:
    board: Board
    panel: Panel
    view: object

    @functools.cached_property
    def filtered(self):
        """The list's count query with the panel's filters, and the list's query string."""
        view, query, args = self.view, self.view.get_count_query(), {}
        for position, (key, value) in enumerate(self.panel.filters):
            index, flt = _filter(view, key)
            query = flt.apply(query, flt.clean(value))
            args[f"flt{position}_{view.get_filter_arg(index, flt)}"] = value
        return query, args

    @property
    def query(self):
        return self.filtered[0]

    @functools.cached_property
    def url(self):
        return url_for(f"{self.panel.endpoint}.index_view", _external=self.board.external,
                       **self.filtered[1])

    @functools.cached_property
    def count(self):
        return self.board.kept(self.panel.key, lambda: capped(self.query))

    @property
    def shown_count(self):
        return shown_count(self.count)

    @functools.cached_property
    def rows(self):
        return self.panel.rows(self) if self.panel.rows and self.count else []


def board():
    """This request's Board (the home page and the badge share it)."""
    if "crm_board" not in g:
        g.crm_board = Board() if current_user.is_authenticated else None
    return g.crm_board


def todo_badge():
    """The navbar's number of things waiting for the user, or None (nothing, or no user)."""
    if not current_user.is_authenticated:
        return None
    count = board().todo
    return shown_count(min(count, CAP + 1)) if count else None


# -- a few rows of some panels ---------------------------------------------------------

def developing(shown):
    """His developments, longest in development first, with their days."""
    today = local_today()
    rows = shown.query.order_by(Opportunity.assigned_at, Opportunity.id).limit(ROWS)
    return [(row, work.days_in_development(row, today)) for row in rows]


def oldest_unassigned(shown):
    today = local_today()
    rows = shown.query.order_by(Opportunity.created_at, Opportunity.id).limit(ROWS)
    return [(row, (today - local(row.created_at).date()).days) for row in rows]


def warnings_by_manager(shown):
    """Open warnings per 客户经理 (his customers'), most first, each linked to the churn list
    filtered by him: for whoever sees every customer's warnings (a 客户经理 sees his own
    only, and they are all his)."""
    view = shown.view
    if current_scope(view.permission) != ALL:
        return []
    index, flt = _filter(view, ChurnRecord.manager)
    status_index, status_flt = _filter(view, ChurnRecord.status)
    return [(gettext("%(name)s（%(username)s）", name=full_name, username=username)
             if username else "—", n,
             url_for("churn.index_view", **{
                 f"flt0_{view.get_filter_arg(status_index, status_flt)}": ChurnRecord.WARNING,
                 f"flt1_{view.get_filter_arg(index, flt)}": user_id}) if user_id else shown.url)
            for user_id, full_name, username, n in shown.board.kept(
                "warnings_by_manager", lambda: _warnings_by_manager(shown.query))]


def _warnings_by_manager(query):
    """(id, 姓名, 用户名, open warnings) of the 客户经理 with the most, from ``query``."""
    warnings = fn.COUNT(ChurnRecord.id)
    return list(query.select(User.id, User.full_name, User.username, warnings.alias("n"))
                .join_from(ChurnRecord, User, JOIN.LEFT_OUTER,
                           on=(ChurnRecord.manager == User.id))  # his customer's (0024)
                .group_by(User.id, User.full_name, User.username)
                .order_by(warnings.desc(), User.username).limit(ROWS).tuples())


PANELS = [
    # what waits for the user's own hand: counted in the badge
    Panel("plan_due", _l("到期的计划项"), "plan", ((work.plan_due, "1"),),
          needs="marketing.plan.execute", todo=True, hint=_l("今天及以前应执行、尚无执行效果")),
    Panel("unplanned", _l("待制定计划的销售机会"), "plan", ((work.unplanned, "1"),),
          needs="marketing.plan.make", todo=True, hint=_l("已指派、还没有计划项")),
    Panel("to_handle", _l("待处理的服务"), "service_handle", todo=True),
    Panel("to_feedback", _l("待反馈的服务"), "service_feedback", todo=True),
    Panel("churn_warnings", _l("流失预警"), "churn",
          ((ChurnRecord.status, ChurnRecord.WARNING),), needs="customers.churn.postpone",
          todo=True, rows=warnings_by_manager),
    Panel("unassigned", _l("未指派的销售机会"), "opportunity", needs="marketing.opportunity.assign",
          todo=True, rows=oldest_unassigned),
    Panel("to_assign", _l("待分配的服务"), "service_assign", todo=True),
    # what to keep an eye on
    Panel("developing", _l("开发中的销售机会"), "plan",
          ((Opportunity.status, Opportunity.ASSIGNED),), needs="marketing.plan.execute",
          rows=developing),
    Panel("stalled", _l("30 天无进展的开发"), "plan", ((work.stalled, "1"),),
          needs="marketing.opportunity.assign", hint=_l("30 天内没有计划项")),
    Panel("silent", with_silent_days("%(days)s 天无交往的客户"), "customer",
          ((work.silent, "1"),), hint=with_silent_days("%(days)s 天内没有交往记录")),
]


def manager_load():
    """Each active 客户经理's load: opportunities in development, open services — two
    grouped counts through the status indexes, not two counts per manager, kept until
    the work changes (the managers themselves are read each time)."""
    developing, services = board().kept("manager load", _loads)
    return [{"full_name": user.full_name, "username": user.username,
             "developing": developing.get(user.id, 0), "services": services.get(user.id, 0)}
            for user in User.managers().order_by(User.username)]


def _loads():
    """({user id: opportunities in development}, {user id: open services})."""
    developing = dict(Opportunity.select(Opportunity.assigned_to, fn.COUNT(Opportunity.id))
                      .where(Opportunity.status == Opportunity.ASSIGNED)
                      .group_by(Opportunity.assigned_to).tuples())
    services = dict(ServiceRequest.select(ServiceRequest.assigned_to, fn.COUNT(ServiceRequest.id))
                    .where(ServiceRequest.status.in_([ServiceRequest.ASSIGNED,
                                                      ServiceRequest.HANDLED]))
                    .group_by(ServiceRequest.assigned_to).tuples())
    return developing, services


def administration():
    """For whoever manages users: how many, which are locked, the latest grants changed."""
    moment = now()
    return {
        "users": User.select().where(User.active == True).count(),  # noqa: E712
        "locked": list(User.select().where(User.locked_until > moment)
                       .order_by(User.locked_until.desc()).limit(ROWS)),
        "changes": [{"at": change.changed_at, "by": change.changed_by.full_name,
                     "role": change.role.display_name(),
                     "permission": PERMISSIONS_BY_CODE[change.permission].label
                     if change.permission in PERMISSIONS_BY_CODE else change.permission,
                     "before": GRANT_TEXTS.get(change.before, change.before),
                     "after": GRANT_TEXTS.get(change.after, change.after)}
                    for change in PermissionChange.select()
                    .order_by(PermissionChange.id.desc()).limit(ROWS)],
    }


def latest_audit():
    """For whoever reads the 审计日志: its latest entries (who, what, on which record)."""
    from .audit import action_text, entity_text, who
    entries = (AuditEntry.select(AuditEntry, User)
               .join(User, on=AuditEntry.user, join_type=JOIN.LEFT_OUTER)
               .order_by(AuditEntry.id.desc()).limit(ROWS))
    return [{"at": e.at, "who": who(e), "action": action_text(e), "entity": entity_text(e),
             "label": e.label or ""} for e in entries]


# PermissionChange's before / after: not granted, granted, granted for own or all rows
GRANT_TEXTS = {"-": N_("未授予"), "+": N_("已授予"), **SCOPES}


# -- 高管: this year against last year ---------------------------------------------------

@dataclass
class Figure:
    """One measure: this year so far against the same months of last year, linked to its
    report, with a month-by-month chart of both years when it is a count or an amount."""
    key: str
    label: object
    url: str
    this: object
    last: object
    months: tuple = None  # (this year's 12 counts, last year's)
    digits: int = 0
    money: bool = False  # an amount in 元 (``this``, ``last``), shown as 7,500.00

    def bars(self):
        """(this, last) heights 0–100 per month, against the largest month of both years."""
        this, last = self.months
        largest = max(this + last) or 1
        return [(100 * a // largest, 100 * b // largest) for a, b in zip(this, last)]


def _mine(query, customer_field, view):
    """The rows of the customers the user's scope of ``view``'s report covers."""
    if current_scope(view.permission) == OWN:
        return query.where(customer_field.in_(customers_of(current_user)))
    return query


def _counted(key, label, endpoint, rows, field):
    """A figure counting ``rows(view)`` by ``field``, month by month."""
    def figure(view, today):
        this, last = board().kept(f"figure {key}", lambda: [work.by_month(rows(view), field, year)
                                                for year in (today.year, today.year - 1)])
        return Figure(key, label, url_for(f"{endpoint}.index"), sum(this[:today.month]),
                      sum(last[:today.month]), (this, last))
    return endpoint, figure


def _satisfaction(view, today):
    rows = _mine(ServiceRequest.select(), ServiceRequest.customer, view)
    this, last = board().kept("figure satisfaction", lambda: [
        work.average(rows, ServiceRequest.created_at, ServiceRequest.satisfaction,
                     work.so_far(year, today)) for year in (today.year, today.year - 1)])
    return Figure("satisfaction", _l("平均满意度"), url_for("report_service.index"), this, last,
                  digits=1)


def _paid(view, today):
    """已回款金额: the paid order amounts, company-wide, from the month summary (SalesMonth,
    read by its key). Only for a scope of "all": the summary cannot say which customers'
    orders a month holds, so a user who sees his own customers only is not shown it."""
    if current_scope(view.permission) != ALL:
        return None
    months = work.paid_by_month(today.year, today.year - 1)
    this, last = months[today.year], months[today.year - 1]
    return Figure("paid", _l("已回款金额（元）"),
                  url_for("report_contribution.index", year=today.year),
                  money_from_cents(sum(this[:today.month])),
                  money_from_cents(sum(last[:today.month])), (this, last), money=True)


FIGURES = [
    ("report_contribution", _paid),
    _counted("new_customers", _l("新增客户"), "report_composition",
             lambda view: _mine(Customer.select(), Customer.id, view), Customer.created_at),
    _counted("services", _l("服务数量"), "report_service",
             lambda view: _mine(ServiceRequest.select(), ServiceRequest.customer, view),
             ServiceRequest.created_at),
    ("report_service", _satisfaction),
    _counted("churn", _l("确认流失"), "report_churn",
             lambda view: _mine(ChurnRecord.select().where(
                 ChurnRecord.status == ChurnRecord.CONFIRMED), ChurnRecord.customer, view),
             ChurnRecord.confirmed_at),
]


def figures():
    """The measures of the reports this user may open, this year against last."""
    today = local_today()
    shown = (figure(_view(endpoint), today) for endpoint, figure in FIGURES
             if _view(endpoint).is_accessible())
    return [figure for figure in shown if figure is not None]


# -- the daily digest ---------------------------------------------------------------------

def digest_for(user):
    """(subject, body) of ``user``'s to-dos as he would see them on his home page, in his
    language, with links to BASE_URL; None when nothing waits for him."""
    app = current_app._get_current_object()
    # a context of his own: a new ``g`` (Flask-Babel keeps the locale there, Flask-Login
    # the user); its teardown returns the connection, so it is taken again first
    with app.app_context(), app.test_request_context("/admin/", base_url=app.config["BASE_URL"]):
        db.connect(reuse_if_open=True)
        g._login_user = user  # Flask-Login's current user: his grants, his scope, his locale
        todo = [shown for shown in Board(external=True).panels
                if shown.panel.todo and shown.count]
        if not todo:
            return None
        total = sum(shown.count for shown in todo)
        subject = ngettext("客户关系管理系统：您有 %(num)s 项待办",
                           "客户关系管理系统：您有 %(num)s 项待办", total)
        return subject, render_template("mail/digest.txt", user=user, todo=todo,
                                        home=url_for("admin.index", _external=True))


@click.command("send-digest")
@with_appcontext
@needs_schema
def send_digest():
    """Mail every active user with an e-mail address his to-dos (run daily, after
    detect-churn). Without MAIL_SERVER nothing is sent and the command succeeds."""
    app = current_app
    if not app.config.get("MAIL_SERVER"):
        click.echo("MAIL_SERVER is not set: no digest sent")
        return
    sender = app.config.get("MAIL_DEFAULT_SENDER") or \
        "crm@" + (urlsplit(app.config["BASE_URL"]).hostname or "localhost")
    sent = 0
    users = list(User.select().where(User.active == True,  # noqa: E712
                                     User.email.is_null(False), User.email != "")
                 .order_by(User.id))
    with app.extensions["mail"].connect() as connection:
        for user in users:
            digest = digest_for(user)
            if digest is not None:
                connection.send(Message(subject=digest[0], recipients=[user.email],
                                        body=digest[1], sender=sender))
                sent += 1
    click.echo(f"digest sent to {sent} user(s)")
    logging.getLogger("crm.mail").info("digest sent to %d user(s)", sent)


__all__ = ["Board", "PANELS", "Panel", "administration", "board", "capped", "manager_load",
           "send_digest", "todo_badge"]
