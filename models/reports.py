"""统计报表 (reports): the four analyses of SPEC.md §4 as plain query functions.

Each function takes the report's filters and an optional ``customers``
restriction — a sub-select of customer ids, e.g. ``customers_of(user)`` for a
user whose scope of the report is "own". The long reports (客户贡献分析,
客户流失分析) answer one page of rows (``offset``, ``limit``; every row when the
limit is None, read from the database in chunks) and, separately, their totals
over all rows; the short ones (构成, 服务) answer all their rows. Rows are named
tuples, numbered and ordered as the report shows them. Nothing here knows about
HTTP; the same rows feed the table, the chart and the exports.

Nothing grows with the data: 客户贡献分析 reads the customer × year summary
``CustomerSales`` (kept by triggers) through its (year, cents) index, 客户构成分析
counts through the (status, measure) indexes of customer, and every year list
walks the indexed date from year to year (one indexed look-up per year that has
data) instead of computing the year of every row.

The queries are portable between SQLite and PostgreSQL: no database-specific
SQL, periods compared as half-open ranges of dates so the indexes on the date
columns are used. Periods of stored times (a service's 创建时间, a 确认流失时间: UTC)
are the company's days and years (``day_start``).
"""
import datetime
from collections import namedtuple
from decimal import Decimal

from peewee import SQL, fn

from . import search
from .base import CENT, N_, day_start, local
from .basedata import CUSTOMER_LEVEL, SERVICE_TYPE, DictionaryEntry
from .customers import ChurnRecord, Customer, CustomerSales
from .security import User
from .service import ServiceRequest

LEVELS = range(1, 6)  # 客户等级, 信用度 and 满意度 are all 1–5
UNSET = N_("未设置")

# 报表方式 of 客户构成分析: the customer column counted, and its label.
COMPOSITION_BY = {"level": N_("按等级"), "credit": N_("按信用度"),
                  "satisfaction": N_("按满意度")}

ContributionRow = namedtuple("ContributionRow", "rank customer_id number name amount")
CompositionRow = namedtuple("CompositionRow", "rank value label count")
ServiceRow = namedtuple("ServiceRow", "rank service_type count")
ChurnRow = namedtuple("ChurnRow", "rank record_id year customer manager reason confirmed_at")
ContributionTotal = namedtuple("ContributionTotal", "count amount")  # over all rows


def stars(value):
    """信用度 and 满意度 are shown as ☆ to ☆☆☆☆☆."""
    return "☆" * value


def year_range(year):
    """[1 January, next 1 January) of ``year``, as dates."""
    return datetime.date(year, 1, 1), datetime.date(year + 1, 1, 1)


def _years(query, field, year_of, year_start, start=None):
    """The years in which ``query`` has a row, most recent first, by ``field`` (indexed).

    The first row's year from MIN(field), then the next year's from MIN(field) past
    that year's end, and so on: one indexed look-up per year that has data, however
    many rows there are (never the year of every row). ``year_of`` reads a value's
    year, ``year_start`` is the first value of a year, ``start`` the least value (the one
    range on ``field``: SQLite seeks by one of two ranges and reads the rest).
    """
    years, bound = [], start
    while True:
        after = query if bound is None else query.where(field >= bound)
        first = after.select(fn.MIN(field)).scalar()
        if first is None:
            return years[::-1]
        year = year_of(field.python_value(first))
        years.append(year)
        if year + 1 >= datetime.MAXYEAR:
            return years[::-1]
        bound = year_start(year + 1)


def _local_years(query, field):
    """The company's years of a stored (UTC) time: 31 December 20:00 UTC is already
    the next year in Beijing."""
    def year_of(moment):
        try:
            return local(moment).year
        except OverflowError:  # at the calendar's end
            return moment.year
    return _years(query, field, year_of, lambda year: day_start(datetime.date(year, 1, 1)))


def _restrict(query, customer_field, customers):
    return query if customers is None else query.where(customer_field.in_(customers))


def read_in_chunks(query):
    """A query's rows as tuples, as the driver steps through them (the default ``read``;
    an export passes one that holds a server-side cursor on PostgreSQL)."""
    return query.iterator()


def _page(query, offset, limit, read):
    """Rows ``offset`` … ``offset + limit`` of an ordered query (all from ``offset`` when
    ``limit`` is None), as tuples through ``read``."""
    if offset or limit is not None:
        query = query.offset(offset).limit(limit)
    return (read or read_in_chunks)(query.tuples())


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

def _sales(name_contains, year, customers, *columns):
    """The summary rows of 客户贡献分析 as ``columns``: one per customer with paid order
    lines in ``year`` (``CustomerSales``; None: its all-years rows)."""
    sales = CustomerSales
    query = sales.select(*columns).where(
        sales.year == (sales.ALL_YEARS if year is None else year), sales.lines > 0)
    if any(getattr(c, "model", None) is Customer for c in columns):
        query = query.join(Customer, on=(sales.customer == Customer.id))
    if name_contains:
        # The matching customers first (through the search index: models/search.py), then
        # their rows: bounded however rare the name.
        query = query.where(sales.customer.in_(Customer.select(Customer.id).where(
            search.containing([Customer.name], name_contains))))
    return _restrict(query, sales.customer, customers)


def contribution(name_contains=None, year=None, customers=None, offset=0, limit=None,
                 read=None):
    """Per customer, Σ 数量 × 单价 over the lines of his paid (已回款) orders in ``year``
    (all years when None), largest first; customers without such orders are left out.
    Rows ``offset`` to ``offset + limit`` (every row when ``limit`` is None), numbered
    from ``offset + 1``, read by ``read`` (``read_in_chunks``).

    ``name_contains`` filters on the 客户名称 (case-insensitive, wildcards taken
    literally). Ties are ordered by 客户编号 so the ranking is stable. Every
    customer counts whatever his status: the money was received either way.
    The sums come from ``CustomerSales`` (exact integer cents, kept by triggers).
    """
    sales = CustomerSales
    query = (_sales(name_contains, year, customers, sales.customer, Customer.number,
                    Customer.name, sales.cents)
             .order_by(sales.cents.desc(), Customer.number))
    for rank, (customer_id, number, name, cents) in enumerate(_page(query, offset, limit, read),
                                                              offset + 1):
        yield ContributionRow(rank, customer_id, number, name, money_from_cents(cents))


def contribution_total(name_contains=None, year=None, customers=None):
    """The number of customers 客户贡献分析 lists with these filters, and their total."""
    sales = CustomerSales
    # COUNT(*): answered from the (year, cents, lines) index alone, where counting the
    # customer column read all 80,000 rows (51 ms)
    count, cents = _sales(name_contains, year, customers, fn.COUNT(SQL("*")),
                          fn.SUM(sales.cents)).tuples().get()
    return ContributionTotal(count, money_from_cents(cents))


def contribution_years(customers=None):
    """The years that have orders (paid or not), most recent first: the summary's years
    (its rows count every order), walked through its indexes."""
    sales = CustomerSales
    return _years(_restrict(sales.select(), sales.customer, customers), sales.year,
                  lambda year: year, lambda year: year, start=sales.ALL_YEARS + 1)


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
    # COUNT(*): PostgreSQL counts from the (status, level|credit|satisfaction) index alone
    # (counting the id column read the table: 29 → 7 ms at 100,000 customers)
    query = (Customer.select(field, fn.COUNT(SQL("*")))
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
             .select(ServiceRequest.service_type, fn.COUNT(SQL("*")))
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

def _churn(name_contains, manager_contains, customers, *columns):
    # joined only when a filter or a column needs it (every record has a customer, and
    # carries his 客户经理: migration 0024): a count or a year list reads the records alone
    shown = {column.model for column in columns}
    query = ChurnRecord.select(*columns).where(ChurnRecord.status == ChurnRecord.CONFIRMED)
    if name_contains or Customer in shown:
        query = query.join_from(ChurnRecord, Customer)
    if manager_contains or User in shown:
        query = query.join_from(ChurnRecord, User, on=(ChurnRecord.manager == User.id))
    if name_contains:
        query = query.where(search.containing([Customer.name], name_contains))
    if manager_contains:
        query = query.where(User.full_name.contains(manager_contains) |
                            User.username.contains(manager_contains))
    return _restrict(query, ChurnRecord.customer, customers)


def churn(name_contains=None, manager_contains=None, customers=None, offset=0, limit=None,
          read=None):
    """The confirmed (确认流失) churn records, newest first, with the 年份 of their
    确认流失时间 (the company's year), the customer, his 客户经理 and the 流失原因;
    rows ``offset`` to ``offset + limit`` (every row when ``limit`` is None), read by
    ``read`` (``read_in_chunks``).

    ``name_contains`` filters on the 客户名称, ``manager_contains`` on the
    客户经理's name or username (both case-insensitive).
    """
    query = (_churn(name_contains, manager_contains, customers, ChurnRecord.id,
                    ChurnRecord.confirmed_at, ChurnRecord.reason, Customer.name,
                    User.full_name)
             .order_by(ChurnRecord.confirmed_at.desc(), ChurnRecord.id.desc()))
    for rank, (record_id, confirmed_at, reason, customer, manager) in enumerate(
            _page(query, offset, limit, read), offset + 1):
        yield ChurnRow(rank, record_id, local(confirmed_at).year if confirmed_at else None,
                       customer, manager, reason, confirmed_at)


def churn_count(name_contains=None, manager_contains=None, customers=None):
    """The number of rows ``churn`` lists with these filters."""
    return _churn(name_contains, manager_contains, customers, ChurnRecord.id).count()


def churn_years(customers=None):
    """The years in which churn was confirmed, most recent first."""
    query = ChurnRecord.select().where(ChurnRecord.status == ChurnRecord.CONFIRMED)
    return _local_years(_restrict(query, ChurnRecord.customer, customers),
                        ChurnRecord.confirmed_at)


def churn_per_year(name_contains=None, manager_contains=None, customers=None):
    """[(year, count)] of the rows ``churn`` lists, oldest first; years between without
    churn count 0. One indexed count per year, whatever the number of rows."""
    query = _churn(name_contains, manager_contains, customers)
    years = _local_years(query, ChurnRecord.confirmed_at)
    if not years:
        return []
    counts = {}
    for year in years:
        first, after = year_range(year)
        counts[year] = query.where(ChurnRecord.confirmed_at >= day_start(first),
                                   ChurnRecord.confirmed_at < day_start(after)).count()
    return [(year, counts.get(year, 0)) for year in range(min(years), max(years) + 1)]
