"""工作台: which records are waiting for someone's work, as conditions on their model.

The home page, its to-do badge and the daily digest ask these; the lists offer them
as filters, so a count on the home page and the list its link opens are the same
query. Days are the company's (``local_today``); "since" bounds are inclusive.
"""
import datetime

from peewee import SQL, DateTimeField, Select, fn

from .base import day_start, local, local_today
from .customers import Activity, Customer
from .customers.orders import SalesMonth
from .marketing import Opportunity, PlanItem

SILENT_DAYS = 90  # a customer without an interaction record for this long is "silent"
STALLED_DAYS = 30  # a development without plan activity for this long is "stalled"
_settings = {"silent_days": SILENT_DAYS}


def configure(silent_days=SILENT_DAYS):
    """The installation's SILENT_DAYS (app.py, from config.py's table)."""
    _settings["silent_days"] = silent_days


def silent_days():
    return _settings["silent_days"]


def _today(today):
    return today or local_today()


def plan_due(today=None):
    """Opportunities in development with a plan item due (today or earlier) and not
    yet executed: what their 客户经理 has to do now. The due items are read from the
    index of the open ones (a few hundred of 60,000 items): every development asking
    for its own (``_items``) read them all to count 38."""
    due = PlanItem.select(PlanItem.opportunity).where(PlanItem.date <= _today(today),
                                                      PlanItem.open())
    return (Opportunity.status == Opportunity.ASSIGNED) & Opportunity.id.in_(due)


def _items(condition=None):
    """The opportunity has a plan item (meeting ``condition``): a look-up by the item's
    opportunity index per development, never a list of every item."""
    items = PlanItem.select(PlanItem.id).where(PlanItem.opportunity == Opportunity.id)
    return fn.EXISTS(items if condition is None else items.where(condition))


def unplanned():
    """Developments without any plan item: assigned, and waiting for 制定计划."""
    return (Opportunity.status == Opportunity.ASSIGNED) & ~_items()


def stalled(today=None, days=STALLED_DAYS):
    """Developments assigned at least ``days`` days ago with no plan item dated within
    the last ``days`` days or later: nothing done and nothing planned for a month."""
    since = _today(today) - datetime.timedelta(days=days)
    return ((Opportunity.status == Opportunity.ASSIGNED) &
            (Opportunity.assigned_at < day_start(since + datetime.timedelta(days=1))) &
            ~_items(PlanItem.date >= since))


def silent(today=None, days=None):
    """正常 customers with no interaction record (交往记录) in the last ``days`` days
    (default: the installation's SILENT_DAYS)."""
    since = _today(today) - datetime.timedelta(days=days or silent_days())
    recent = Activity.select(Activity.id).where(Activity.customer == Customer.id,
                                                Activity.date > since)
    return (Customer.status == Customer.ACTIVE) & ~fn.EXISTS(recent)


def days_in_development(opportunity, today=None):
    """Whole days since the opportunity was assigned (0 on the day itself)."""
    if opportunity.assigned_at is None:
        return 0
    return (_today(today) - local(opportunity.assigned_at).date()).days


# -- 高管: this year against last year, month by month ---------------------------------

def months_of(year):
    """The first days of ``year``'s months and of the next January: 13 bounds."""
    return [datetime.date(year, month, 1) for month in range(1, 13)] + \
        [datetime.date(year + 1, 1, 1)]


def by_month(query, field, year):
    """The number of rows of ``query`` whose ``field`` falls in each month of ``year`` (the
    company's months): 12 counts, in one statement of 12 range counts, each a walk of
    ``field``'s index between two bounds — no date function, no CASE, per row."""
    days = months_of(year)
    bounds = days if not isinstance(field, DateTimeField) else [day_start(d) for d in days]
    counts = [query.select(fn.COUNT(SQL("*"))).where(field >= first, field < after)
              .order_by().alias(f"m{month}")
              for month, (first, after) in enumerate(zip(bounds, bounds[1:]), 1)]
    row = query.model._meta.database.execute(Select(columns=counts)).fetchone()
    return [int(count or 0) for count in row]


def so_far(year, today=None):
    """[1 January of ``year``, the first day of the month after today's month in ``year``):
    this year so far, or the same months of an earlier year."""
    today = _today(today)
    after = datetime.date(year + (today.month == 12), today.month % 12 + 1, 1)
    return datetime.date(year, 1, 1), after


def average(query, field, value, period):
    """The mean of ``value`` over the rows of ``query`` whose ``field`` falls in ``period``
    (first day, day after), or None: one walk of an index on (``field``, ``value``)."""
    first, after = period
    if isinstance(field, DateTimeField):
        first, after = day_start(first), day_start(after)
    mean = query.select(fn.AVG(value)).where(field >= first, field < after,
                                            value.is_null(False)).order_by().scalar()
    return None if mean is None else float(mean)


def paid_by_month(*years):
    """{year: its 12 months' paid order amounts in cents} of ``years``, company-wide: the
    months of SalesMonth read by its key (year, month), a few dozen rows at most."""
    cents = {year: [0] * 12 for year in years}
    query = (SalesMonth.select(SalesMonth.year, SalesMonth.month, SalesMonth.cents)
             .where(SalesMonth.year.in_(list(years))).tuples())
    for year, month, amount in query:
        cents[year][month - 1] = int(amount)
    return cents

