"""客户 360°: one page with everything about a customer that the user may see.

Each part is read through the list view that owns it (联系人 through the 联系人 screen,
services through 服务归档 …): that view's permission decides whether the part is there
at all, and its row scope which rows it shows — the same rules as on the lists, with no
second copy of them. A part the user may not open is absent, not empty.
"""
from dataclasses import dataclass, field

from flask import current_app, request, url_for
from flask_babel import lazy_gettext as _l

from models import (
    Activity,
    ChurnRecord,
    Contact,
    Opportunity,
    Order,
    PlanItem,
    ServiceRequest,
)
from models.base import record_key
from models.customers import orders_by_year

ROWS = 20  # of each part; the part's list shows the rest


class PresetCustomer:
    """A create form opened with ``?customer=ID`` (from a customer's list or 360° page) has
    that customer filled in, if the user's picker may offer him (else it stays empty)."""

    def create_form(self, obj=None):
        form = super().create_form(obj)
        customer_id = record_key(request.args.get("customer"))
        if customer_id and request.method == "GET" and "customer" in form:
            form.customer.data = self._form_ajax_refs["customer"].get_one(customer_id)
        return form


@dataclass
class Part:
    key: str
    label: object
    view: object
    rows: list
    more: str = None  # the part's own list, when it has more rows than shown
    extra: dict = field(default_factory=dict)


def _views():
    return {view.endpoint: view for view in current_app.extensions["admin"][0]._views}


def _open(views, endpoint):
    view = views.get(endpoint)
    return view if view is not None and view.is_accessible() else None


def _limited(query):
    rows = list(query.limit(ROWS + 1))
    return rows[:ROWS], len(rows) > ROWS


def yearly_orders(customer):
    """[(year, orders, total, paid, bar)] of ``customer``'s orders, newest year first, the
    bar each year's share of the largest total (the page's small chart)."""
    years = orders_by_year(customer)
    largest = max((total for _, total, _ in years.values()), default=0) or 1
    return [(year, *years[year], int(100 * years[year][1] / largest))
            for year in sorted(years, reverse=True)]


def parts(customer):
    """The parts of ``customer``'s page this user may see, in the page's order."""
    views, found = _views(), []
    here = request.full_path

    def add(key, label, endpoint, query, order, **extra):
        view = _open(views, endpoint)
        if view is None:
            return None
        rows, more = _limited(query(view).order_by(*order))
        part = Part(key, label, view, rows,
                    url_for(f"{endpoint}.index_view", customer=customer.id) if more else None,
                    extra)
        found.append(part)
        return part

    def of_customer(model):
        return lambda view: view.get_query().where(model.customer == customer.id)

    contacts = add("contacts", _l("联系人"), "contact", of_customer(Contact), (Contact.id,))
    activities = add("activities", _l("交往记录"), "activity", of_customer(Activity),
                     (Activity.date.desc(), Activity.id.desc()))
    orders = add("orders", _l("历史订单"), "order", of_customer(Order),
                 (Order.date.desc(), Order.id.desc()))
    if orders:
        Order.load_totals(orders.rows)
        # all his orders (the scope of orders is their customer's 客户经理: all or none)
        orders.extra["years"] = yearly_orders(customer.id)
    add("services", _l("客户服务"), "service_archive", of_customer(ServiceRequest),
        (ServiceRequest.created_at.desc(), ServiceRequest.id.desc()))
    add("churn", _l("流失记录"), "churn", of_customer(ChurnRecord), (ChurnRecord.id.desc(),))
    developed = add("opportunity", _l("来源销售机会"), "plan", of_customer(Opportunity),
                    (Opportunity.id,))
    if developed:
        developed.extra["plans"] = {row.id: list(PlanItem.of(row)) for row in developed.rows}

    # quick actions: a form with this customer filled in, coming back here
    actions = []
    for endpoint, label, part in (("contact", _l("新建联系人"), contacts),
                                  ("activity", _l("记录交往"), activities),
                                  ("service_create", _l("创建服务"), None)):
        view = views.get(endpoint)
        if view is not None and view.is_accessible() and view.can_create and \
                (part is not None or endpoint == "service_create"):
            actions.append((label, url_for(f"{endpoint}.create_view", customer=customer.id,
                                           url=here)))
    return found, actions
