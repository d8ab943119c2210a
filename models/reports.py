"""统计报表 (reports): the four analyses of SPEC.md §4 as plain query functions.

Each function takes the report's filters and an optional ``customers``
restriction — a sub-select of customer ids, e.g. ``customers_of(user)`` for a
user whose scope of the report is "own" — and returns a list of rows (named
tuples), already numbered and ordered as the report shows them. Nothing here
knows about HTTP; the same rows feed the table, the chart and the exports.

The queries are portable between SQLite and PostgreSQL: no database-specific
SQL, years taken with peewee's ``.year`` (a registered ``date_part`` on SQLite,
``EXTRACT`` on PostgreSQL), periods compared as half-open ranges of dates so
the indexes on the date columns are used. Periods of stored times (a service's
创建时间, a 确认流失时间: UTC) are the company's days and years (``day_start``).
"""
import datetime
from collections import Counter, namedtuple
from decimal import Decimal

from peewee import fn

from .base import N_, day_start, local
from .basedata import CUSTOMER_LEVEL, SERVICE_TYPE, DictionaryEntry
from .customers import ChurnRecord, Customer, Order, OrderLine
from .security import User
from .service import ServiceRequest

CENT = Decimal("0.01")
LEVELS = range(1, 6)  # 客户等级, 信用度 and 满意度 are all 1–5
UNSET = N_("未设置")

# 报表方式 of 客户构成分析: the customer column counted, and its label.
COMPOSITION_BY = {"level": N_("按等级"), "credit": N_("按信用度"),
                  "satisfaction": N_("按满意度")}

ContributionRow = namedtuple("ContributionRow", "rank customer_id number name amount")
CompositionRow = namedtuple("CompositionRow", "rank value label count")
ServiceRow = namedtuple("ServiceRow", "rank service_type count")
ChurnRow = namedtuple("ChurnRow", "rank record_id year customer manager reason confirmed_at")


def stars(value):
    """信用度 and 满意度 are shown as ☆ to ☆☆☆☆☆."""
    return "☆" * value


def year_range(year):
    """[1 January, next 1 January) of ``year``, as dates."""
    return datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)


def _local_years(query, field):
    """The company's years of the stored times ``field`` over ``query``, most recent first.

    SQL's year of a stored (UTC) time may be the year before or after the company's
    (31 December 20:00 UTC is 1 January in Beijing): each neighbouring year is kept
    if a row falls within its bounds, one indexed look-up a year.
    """
    candidates = {year + step for year in _years(query, field) for step in (-1, 0, 1)}
    return sorted((year for year in candidates
                   if datetime.MINYEAR < year < datetime.MAXYEAR and
                   query.where(field >= day_start(datetime.date(year, 1, 1)),
                               field < day_start(datetime.date(year + 1, 1, 1))).exists()),
                  reverse=True)


def _restrict(query, customer_field, customers):
    return query if customers is None else query.where(customer_field.in_(customers))


def _years(query, field):
    """The distinct years of ``field`` over ``query``, most recent first."""
    # PostgreSQL's EXTRACT answers a numeric, SQLite's date_part an int: int() both.
    values = query.select(field.year.alias("year")).distinct().tuples()
    return sorted({int(year) for (year,) in values if year is not None}, reverse=True)


def money_from_cents(value):
    """A sum of cents from the database as yuan with 2 places.

    SQLite stores NUMERIC values as floats and sums them as floats; summing
    cents that were rounded to whole numbers keeps every partial sum an exact
    integer (up to 2^53 cents), so nothing is lost before the conversion.
    PostgreSQL answers a Decimal already.
    """
    cents = Decimal(str(value or 0)).to_integral_value()
    return (cents / 100).quantize(CENT)


# -- 客户贡献分析 -----------------------------------------------------------------

def contribution(name_contains=None, year=None, customers=None):
    """Per customer, Σ 数量 × 单价 over the lines of his paid (已回款) orders in ``year``
    (all years when None), largest first; customers without such orders are left out.

    ``name_contains`` filters on the 客户名称 (case-insensitive, wildcards taken
    literally). Ties are ordered by 客户编号 so the ranking is stable. Every
    customer counts whatever his status: the money was received either way.
    """
    cents = fn.SUM(OrderLine.quantity * fn.ROUND(OrderLine.price * 100))
    query = (OrderLine
             .select(Customer.id, Customer.number, Customer.name, cents.alias("cents"))
             .join(Order).join(Customer)
             .where(Order.status == Order.PAID)
             .group_by(Customer.id, Customer.number, Customer.name)
             .order_by(cents.desc(), Customer.number))
    if year is not None:
        first, after = year_range(year)
        query = query.where(Order.date >= first, Order.date < after)
    if name_contains:
        query = query.where(Customer.name.contains(name_contains))
    query = _restrict(query, Order.customer, customers)
    return [ContributionRow(rank, customer_id, number, name, money_from_cents(total))
            for rank, (customer_id, number, name, total) in enumerate(query.tuples(), 1)]


def contribution_years(customers=None):
    """The years that have orders (paid or not), most recent first."""
    return _years(_restrict(Order.select(), Order.customer, customers), Order.date)


# -- 客户构成分析 -----------------------------------------------------------------

def level_labels():
    """{value: name} of the 企业客户等级 dictionary (1 → 普通客户 …)."""
    labels = {}
    for entry in DictionaryEntry.of(CUSTOMER_LEVEL):
        try:
            labels.setdefault(int(entry.value), entry.item)
        except ValueError:
            continue  # an entry whose value is not a number names no level
    return labels


def composition(by="level", customers=None):
    """The number of 正常 customers per 客户等级 (``by='level'``), 信用度 or 满意度:
    every level 1–5 listed, zero included.

    Levels are named after the 企业客户等级 dictionary, 信用度 and 满意度 shown
    as stars. Customers whose value is missing (or outside 1–5) are counted in
    a row of their own after the five, shown only when there are any, so the
    counts always add up to the number of 正常 customers.
    """
    if by not in COMPOSITION_BY:
        raise ValueError(f"unknown composition: {by!r}")
    field = getattr(Customer, by)
    query = (Customer.select(field, fn.COUNT(Customer.id))
             .where(Customer.status == Customer.ACTIVE)
             .group_by(field))
    counts = dict(_restrict(query, Customer.id, customers).tuples())
    if by == "level":
        names = level_labels()
        rows = [(value, names.get(value, str(value)), counts.pop(value, 0)) for value in LEVELS]
    else:
        rows = [(value, stars(value), counts.pop(value, 0)) for value in LEVELS]
    rows += [(value, str(value), count) for value, count in
             sorted((v, c) for v, c in counts.items() if v is not None)]
    if counts.get(None):
        rows.append((None, UNSET, counts[None]))
    return [CompositionRow(rank, value, label, count)
            for rank, (value, label, count) in enumerate(rows, 1)]


# -- 客户服务分析 -----------------------------------------------------------------

def service(year=None, date_from=None, date_to=None, customers=None):
    """The number of services per 服务类型 created in the period: ``year``, and/or
    ``date_from`` to ``date_to`` (both days included, either may be open).

    Every current 服务类型 of the dictionary is listed, zero included, in the
    dictionary's order; services of a type no longer in the dictionary follow,
    so no service of the period is left out of the count.
    """
    query = (ServiceRequest
             .select(ServiceRequest.service_type, fn.COUNT(ServiceRequest.id))
             .group_by(ServiceRequest.service_type))
    created = ServiceRequest.created_at  # a stored time: the days are the company's
    if year is not None:
        first, after = year_range(year)
        query = query.where(created >= day_start(first), created < day_start(after))
    if date_from is not None:
        query = query.where(created >= day_start(date_from))
    if date_to is not None:
        query = query.where(created < day_start(date_to + datetime.timedelta(days=1)))
    counts = dict(_restrict(query, ServiceRequest.customer, customers).tuples())
    types = list(dict.fromkeys(DictionaryEntry.items(SERVICE_TYPE)))
    types += sorted(t for t in counts if t not in types and counts[t])
    return [ServiceRow(rank, kind, counts.get(kind, 0)) for rank, kind in enumerate(types, 1)]


def service_years(customers=None):
    """The years in which services were created, most recent first."""
    return _local_years(_restrict(ServiceRequest.select(), ServiceRequest.customer, customers),
                        ServiceRequest.created_at)


# -- 客户流失分析 -----------------------------------------------------------------

def churn(name_contains=None, manager_contains=None, customers=None):
    """The confirmed (确认流失) churn records, newest first, with the 年份 of their
    确认流失时间 (the company's year), the customer, his 客户经理 and the 流失原因.

    ``name_contains`` filters on the 客户名称, ``manager_contains`` on the
    客户经理's name or username (both case-insensitive).
    """
    query = (ChurnRecord
             .select(ChurnRecord.id, ChurnRecord.confirmed_at, ChurnRecord.reason,
                     Customer.name, User.full_name)
             .join(Customer).join(User, on=(Customer.manager == User.id))
             .where(ChurnRecord.status == ChurnRecord.CONFIRMED)
             .order_by(ChurnRecord.confirmed_at.desc(), ChurnRecord.id.desc()))
    if name_contains:
        query = query.where(Customer.name.contains(name_contains))
    if manager_contains:
        query = query.where(User.full_name.contains(manager_contains) |
                            User.username.contains(manager_contains))
    query = _restrict(query, ChurnRecord.customer, customers)
    return [ChurnRow(rank, record_id, local(confirmed_at).year if confirmed_at else None,
                     customer, manager, reason, confirmed_at)
            for rank, (record_id, confirmed_at, reason, customer, manager)
            in enumerate(query.tuples(), 1)]


def churn_years(customers=None):
    """The years in which churn was confirmed, most recent first."""
    query = ChurnRecord.select().where(ChurnRecord.status == ChurnRecord.CONFIRMED)
    return _local_years(_restrict(query, ChurnRecord.customer, customers),
                        ChurnRecord.confirmed_at)


def churn_per_year(rows):
    """[(year, count)] of churn rows, oldest first; years between without churn count 0."""
    counts = Counter(row.year for row in rows if row.year is not None)
    if not counts:
        return []
    return [(year, counts.get(year, 0)) for year in range(min(counts), max(counts) + 1)]
