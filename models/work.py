"""工作台: which records are waiting for someone's work, as conditions on their model.

The home page, its to-do badge and the daily digest ask these; the lists offer them
as filters, so a count on the home page and the list its link opens are the same
query. Days are the company's (``local_today``); "since" bounds are inclusive.
"""
import datetime

from peewee import Case, DateTimeField, fn

from .base import day_start, local, local_today
from .customers import Activity, Customer
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


def open_items():
    """Plan items without an 执行效果 yet."""
    return PlanItem.result.is_null() | (PlanItem.result == "")


def plan_due(today=None):
    """Opportunities in development with a plan item due (today or earlier) and not
    yet executed: what their 客户经理 has to do now."""
    due = PlanItem.select(PlanItem.opportunity).where(PlanItem.date <= _today(today),
                                                       open_items())
    return (Opportunity.status == Opportunity.ASSIGNED) & Opportunity.id.in_(due)


def unplanned():
    """Developments without any plan item: assigned, and waiting for 制定计划."""
    return ((Opportunity.status == Opportunity.ASSIGNED) &
            Opportunity.id.not_in(PlanItem.select(PlanItem.opportunity)))


def stalled(today=None, days=STALLED_DAYS):
    """Developments assigned at least ``days`` days ago with no plan item dated within
    the last ``days`` days or later: nothing done and nothing planned for a month."""
    since = _today(today) - datetime.timedelta(days=days)
    recent = PlanItem.select(PlanItem.opportunity).where(PlanItem.date >= since)
    return ((Opportunity.status == Opportunity.ASSIGNED) &
            (Opportunity.assigned_at < day_start(since + datetime.timedelta(days=1))) &
            Opportunity.id.not_in(recent))


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


def by_month(query, field, year, value=None):
    """Per month of ``year`` (the company's months): the number of rows of ``query`` whose
    ``field`` falls in it, or the sum of ``value`` over them, and the mean of ``value``.

    One query over the year's range of ``field``'s index: a CASE per month, not a query
    per month nor a date function per row (SQLite's would be Python, row by row).
    Returns (counts or sums, means) as two lists of 12; a mean is None for an empty month.
    """
    days = months_of(year)
    bounds = days if not isinstance(field, DateTimeField) else [day_start(d) for d in days]
    columns = []
    for first, after in zip(bounds, bounds[1:]):
        inside = (field >= first) & (field < after)
        columns.append(fn.SUM(Case(None, [(inside, 1)], 0)))
        if value is not None:
            columns.append(fn.SUM(Case(None, [(inside, value)], 0)))
    row = query.select(*columns).where(field >= bounds[0], field < bounds[-1]) \
        .order_by().tuples().first() or (0,) * len(columns)
    values = [v or 0 for v in row]
    if value is None:
        return [int(v) for v in values], [None] * 12
    counts, sums = [int(v) for v in values[0::2]], values[1::2]
    return counts, [float(s) / c if c else None for c, s in zip(counts, sums)]
