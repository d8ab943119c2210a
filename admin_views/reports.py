"""统计报表 pages: the four reports of SPEC.md §4, each with filters, a table, a chart
and export to CSV and XLSX.

A report is a GET page: its filters are query-string parameters, so a report
can be bookmarked and its export links (``?…&export=csv`` / ``export=xlsx``)
carry the same filters and produce the very rows of the table. The rows come
from ``models/reports.py``; this module parses the filters, applies the user's
scope and renders or exports them.

No report grows with the data: 客户贡献分析 and 客户流失分析 show a page of
``page_size`` rows (``?page=``, from 0 as on the lists) with the totals over all
rows, the chart shows the top ``CHART_TOP`` (贡献) or the counts per year (流失);
the exports hold every row, read in chunks and streamed.

Scope: a user whose grant of the report's permission is "own" (an
administrator may grant that to a 客户经理) sees only the customers he manages;
"all" sees everything. Page and export are the same view, so the permission
and the scope hold on both.
"""
import datetime
import itertools
import re
from collections import namedtuple
from decimal import Decimal
from urllib.parse import urlencode

from flask import abort, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_security import current_user
from wtforms import Form, SelectField, StringField
from wtforms.validators import ValidationError

from models import reports, search
from models.base import Msgid
from models.customers import customers_of
from models.security import ALL

from . import exports
from .base import (
    MAX_PAGE,
    CrmView,
    _l,
    bounded_number,
    current_scope,
)

# Column kinds: how a cell is aligned and formatted (money with two decimals).
RANK, YEAR, COUNT, MONEY, TEXT = "rank", "year", "count", "money", "text"
CHART_TOP = 10  # 客户贡献分析 charts the ten largest customers
FIRST_YEAR, LAST_YEAR = 1900, 9998  # a year or date outside is a typing error
ChurnTotal = namedtuple("ChurnTotal", "count")  # 客户流失分析's total over all rows
EXPORTS = exports.KINDS  # ?export= csv or xlsx


# -- filters ----------------------------------------------------------------------

def _strip(value):
    return value.strip() if isinstance(value, str) else value


class TextFilter(StringField):
    """A "contains" filter; longer than ``limit`` characters cannot match and is refused."""

    def __init__(self, label, limit, **kwargs):
        super().__init__(label, filters=[_strip], **kwargs)
        self.limit = limit

    def pre_validate(self, form):
        if self.data and len(self.data) > self.limit:
            raise ValidationError(gettext("%(label)s不能超过 %(limit)d 个字",
                                          label=self.label.text, limit=self.limit))


class YearField(SelectField):
    """年份: empty for all years, else a year; offers the years that have data (``years``)."""

    def __init__(self, label, **kwargs):
        super().__init__(label, choices=[], validate_choice=False, **kwargs)
        self.years = []

    def process_data(self, value):
        self.data = value

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if text:
            if not re.fullmatch(r"[0-9]{4}", text) or \
                    not FIRST_YEAR <= int(text) <= LAST_YEAR:
                raise ValueError(gettext("请选择有效的年份"))
            self.data = int(text)

    def iter_choices(self):
        yield "", gettext("全部"), self.data is None, {}
        # A year typed into the URL that has no data is still shown as chosen.
        years = sorted(set(self.years) | ({self.data} - {None}), reverse=True)
        for year in years:
            yield str(year), str(year), year == self.data, {}


class DayField(StringField):
    """A day as yyyy-mm-dd (the browser's date picker sends that)."""

    def __init__(self, label, **kwargs):
        super().__init__(label, render_kw={"type": "date"}, **kwargs)
        self.text = ""

    def process_formdata(self, valuelist):
        self.text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if self.text:
            try:
                day = datetime.date.fromisoformat(self.text)
            except ValueError:
                day = None
            if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise ValueError(gettext("请输入有效的日期（年-月-日）"))
            self.data = day

    def _value(self):
        return self.text or (self.data.isoformat() if self.data else "")


class ContributionFilters(Form):
    name = TextFilter(_l("客户名称"), 100)
    year = YearField(_l("年份"))


class CompositionFilters(Form):
    by = SelectField(_l("报表方式"), default="level", validate_choice=False,
                     choices=[(code, _l(label)) for code, label in
                              reports.COMPOSITION_BY.items()])

    def validate_by(self, field):
        if field.data not in reports.COMPOSITION_BY:
            raise ValidationError(gettext("请选择报表方式"))


class ServiceFilters(Form):
    year = YearField(_l("年份"))
    date_from = DayField(_l("开始日期"))
    date_to = DayField(_l("结束日期"))

    def validate_year(self, field):
        # One period or the other: both at once would silently mean their overlap.
        if field.data is not None and (self.date_from.data or self.date_to.data):
            raise ValidationError(gettext("请选择年份或日期范围，不要同时选择"))

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(gettext("结束日期不能早于开始日期"))


class ChurnFilters(Form):
    name = TextFilter(_l("客户名称"), 100)
    manager = TextFilter(_l("客户经理"), 50)


# -- the report page ----------------------------------------------------------------

class ReportView(CrmView):
    """One report at /admin/reports/<slug>/ (endpoint ``report_<slug>``), gated by its
    ``permission``: ``filters`` (a form class), ``columns()``, ``rows()``, ``cells()``,
    ``chart()`` and ``summary()``; with a ``page_size``, also ``total()``.

    ``index`` answers the page, or the export when ``export`` is csv or xlsx.
    Bad filters are answered on the page next to their field, never with a 500.
    """

    slug = None
    filters = None
    chart_label = None
    horizontal = False  # bars along the y axis, for long labels such as customer names
    page_size = None  # rows per page; None: the report is short and shows every row

    def __init__(self, **kwargs):
        super().__init__(endpoint=f"report_{self.slug}", url=f"/admin/reports/{self.slug}",
                         **kwargs)

    def customers(self):
        """The customer restriction of the user's scope: None for "all", else his own."""
        if current_scope(self.permission) == ALL:
            return None
        return customers_of(current_user)  # fails closed: anything but "all" is "own"

    def prepare(self, form, customers):
        """Fill the form's choices (the years that have data) before it is validated."""

    def columns(self, form):
        """[(header, kind)] of the table; the export writes the same."""
        raise NotImplementedError

    def rows(self, form, customers, offset=0, limit=None, read=None):
        """The rows from ``offset`` (``limit`` of them, every one when None); a long
        report reads them through ``read`` (models/reports.py)."""
        raise NotImplementedError

    def cells(self, form, row):
        """A row as the table's list of cells."""
        raise NotImplementedError

    def total(self, form, customers):
        """The totals over all rows of a paged report (``count``: the number of rows)."""
        raise NotImplementedError

    def chart(self, form, customers, rows):
        """(labels, values) of the bar chart (``rows``: the page's)."""
        raise NotImplementedError

    def summary(self, rows, total):
        return ""

    @expose("/")
    def index(self):
        with search.remembered():  # a name filter read once for the total, page and chart
            return self._index()

    def _index(self):
        export = request.args.get("export")
        if export and export not in EXPORTS:
            abort(404)
        customers = self.customers()
        form = self.filters(request.args)
        self.prepare(form, customers)
        if not form.validate():
            return self.render("admin/report.html", form=form, columns=None, cells=None,
                               data=None, summary="", export_urls={}, pages=0)
        columns = self.columns(form)
        if export:
            cells = (self.cells(form, row) for row in self.rows(form, customers,
                                                                 read=_chunks))
            return self.export(export, columns, cells)
        page, pages, total = 0, 1, None
        if self.page_size:
            total = self.total(form, customers)
            pages = max(1, -(-total.count // self.page_size))
            page = min(bounded_number(request.args.get("page"), 0, 0, MAX_PAGE), pages - 1)
            rows = list(self.rows(form, customers, page * self.page_size, self.page_size))
        else:
            rows = list(self.rows(form, customers))
        labels, values = self.chart(form, customers, rows)
        data = {"labels": labels, "values": values, "label": str(self.chart_label),
                "horizontal": self.horizontal, "money": columns[-1][1] == MONEY}
        # The filters only: any other parameter could be one of url_for's own (_scheme …).
        args = {name: request.args[name] for name in form._fields if name in request.args}
        export_urls = {kind: url_for(".index") + "?" + urlencode({**args, "export": kind})
                       for kind in EXPORTS}

        def page_url(number):
            return url_for(".index") + "?" + urlencode({**args, **(
                {"page": number} if number else {})})

        return self.render("admin/report.html", form=form, columns=columns,
                           cells=[self.cells(form, row) for row in rows], data=data,
                           summary=self.summary(rows, total), export_urls=export_urls,
                           page=page, pages=pages, page_url=page_url)

    # -- export ----------------------------------------------------------------
    def export(self, kind, columns, cells):
        """Every row, streamed (admin_views/exports.py): read in chunks, never held; the
        sheet and the file named after the report and the company's time
        (客户贡献分析_20261201_0930.xlsx, ASCII contribution_20261201_0930.xlsx)."""
        title = exports.screen_title(self.name)
        filename, fallback = exports.file_names(title, self.slug, kind)
        return exports.response(kind, filename, [str(header) for header, _ in columns], cells,
                                money_columns=[i for i, (_, k) in enumerate(columns)
                                               if k == MONEY],
                                fallback=fallback, title=title)


def _chunks(query):
    """A report's rows for an export: a server-side cursor on PostgreSQL, ``CHUNK`` rows
    at a time."""
    return itertools.chain.from_iterable(exports.chunks(query))


def _text(value):
    """A label from the model: a marked text is translated, data is shown as it is."""
    return gettext(value) if isinstance(value, Msgid) else value


def _number(value):
    return float(value) if isinstance(value, Decimal) else value


# -- the four reports ----------------------------------------------------------------

class ContributionReport(ReportView):
    """客户贡献分析: paid order amounts per customer, largest first, a page at a time."""

    slug = "contribution"
    permission = "reports.contribution"
    filters = ContributionFilters
    chart_label = _l("订单金额前 10 名（元）")
    horizontal = True
    page_size = 50

    def prepare(self, form, customers):
        form.year.years = reports.contribution_years(customers)

    def columns(self, form):
        return [(_l("编号"), RANK), (_l("客户名称"), TEXT), (_l("订单金额（元）"), MONEY)]

    def rows(self, form, customers, offset=0, limit=None, read=None):
        return reports.contribution(form.name.data or None, form.year.data, customers,
                                    offset, limit, read)

    def cells(self, form, row):
        return [row.rank, row.name, row.amount]

    def total(self, form, customers):
        return reports.contribution_total(form.name.data or None, form.year.data, customers)

    def chart(self, form, customers, rows):
        # The ten largest, whichever page is shown.
        top = rows[:CHART_TOP] if not rows or rows[0].rank == 1 else \
            list(self.rows(form, customers, 0, CHART_TOP))
        return [r.name for r in top], [_number(r.amount) for r in top]

    def summary(self, rows, total):
        return gettext("共 %(count)d 位客户，合计 %(total)s 元", count=total.count,
                       total=f"{total.amount:,.2f}")


class CompositionReport(ReportView):
    """客户构成分析: 正常 customers per 客户等级, 信用度 or 满意度."""

    slug = "composition"
    permission = "reports.composition"
    filters = CompositionFilters
    chart_label = _l("客户数量")
    HEADERS = {"level": _l("等级"), "credit": _l("信用度"), "satisfaction": _l("满意度")}

    def columns(self, form):
        return [(_l("编号"), RANK), (self.HEADERS[form.by.data], TEXT), (_l("客户数量"), COUNT)]

    def rows(self, form, customers, offset=0, limit=None, read=None):
        return reports.composition(form.by.data, customers)

    def cells(self, form, row):
        return [row.rank, _text(row.label), row.count]

    def chart(self, form, customers, rows):
        return [_text(r.label) for r in rows], [r.count for r in rows]

    def summary(self, rows, total):
        return gettext("共 %(count)d 位正常客户", count=sum(r.count for r in rows))


class ServiceReport(ReportView):
    """客户服务分析: services per 服务类型 created in a year or a date range."""

    slug = "service"
    permission = "reports.service"
    filters = ServiceFilters
    chart_label = _l("服务数量")

    def prepare(self, form, customers):
        form.year.years = reports.service_years(customers)

    def columns(self, form):
        return [(_l("编号"), RANK), (_l("条目"), TEXT), (_l("服务数量"), COUNT)]

    def rows(self, form, customers, offset=0, limit=None, read=None):
        return reports.service(form.year.data, form.date_from.data, form.date_to.data,
                               customers)

    def cells(self, form, row):
        return [row.rank, row.service_type, row.count]

    def chart(self, form, customers, rows):
        return [r.service_type for r in rows], [r.count for r in rows]

    def summary(self, rows, total):
        return gettext("共 %(count)d 次服务", count=sum(r.count for r in rows))


class ChurnReport(ReportView):
    """客户流失分析: confirmed churn, with the year it was confirmed, a page at a time;
    charted per year over all rows."""

    slug = "churn"
    permission = "reports.churn"
    filters = ChurnFilters
    chart_label = _l("确认流失客户数")
    page_size = 50

    def _filters(self, form):
        return form.name.data or None, form.manager.data or None

    def columns(self, form):
        return [(_l("编号"), RANK), (_l("年份"), YEAR), (_l("客户"), TEXT),
                (_l("客户经理"), TEXT), (_l("流失原因"), TEXT)]

    def rows(self, form, customers, offset=0, limit=None, read=None):
        return reports.churn(*self._filters(form), customers, offset, limit, read)

    def cells(self, form, row):
        return [row.rank, row.year, row.customer, row.manager, row.reason]

    def total(self, form, customers):
        return ChurnTotal(reports.churn_count(*self._filters(form), customers))

    def chart(self, form, customers, rows):
        per_year = reports.churn_per_year(*self._filters(form), customers)
        return [str(year) for year, _ in per_year], [count for _, count in per_year]

    def summary(self, rows, total):
        return gettext("共 %(count)d 条确认流失记录", count=total.count)


def views():
    category = _l("统计报表")
    return [
        ContributionReport(name=_l("客户贡献分析"), category=category),
        CompositionReport(name=_l("客户构成分析"), category=category),
        ServiceReport(name=_l("客户服务分析"), category=category),
        ChurnReport(name=_l("客户流失分析"), category=category),
    ]
