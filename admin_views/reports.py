"""统计报表 pages: the four reports of SPEC.md §4, each with filters, a table, a chart
and export to CSV and XLSX.

A report is a GET page: its filters are query-string parameters, so a report
can be bookmarked and its export links (``?…&export=csv`` / ``export=xlsx``)
carry the same filters and produce the very rows of the table. The rows come
from ``models/reports.py``; this module parses the filters, applies the user's
scope and renders or exports them.

Scope: a user whose grant of the report's permission is "own" (an
administrator may grant that to a 客户经理) sees only the customers he manages;
"all" sees everything. Page and export are the same view, so the permission
and the scope hold on both.
"""
import datetime
import io
import re
from decimal import Decimal
from urllib.parse import quote, urlencode

import openpyxl
import tablib
from flask import Response, abort, request, url_for
from flask_admin import expose
from flask_babel import gettext
from flask_security import current_user
from wtforms import Form, SelectField, StringField
from wtforms.validators import ValidationError

from models import reports
from models.base import Msgid, local, now
from models.customers import customers_of
from models.security import ALL

from .base import CrmView, _l, current_scope, spreadsheet_safe, spreadsheet_text

# Column kinds: how a cell is aligned and formatted (money with two decimals).
RANK, YEAR, COUNT, MONEY, TEXT = "rank", "year", "count", "money", "text"
CHART_TOP = 10  # 客户贡献分析 charts the ten largest customers
FIRST_YEAR, LAST_YEAR = 1900, 9998  # a year or date outside is a typing error
EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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
    ``permission``: ``filters`` (a form class), ``rows()``, ``table()`` and ``chart()``.

    ``index`` answers the page, or the export when ``export`` is csv or xlsx.
    Bad filters are answered on the page next to their field, never with a 500.
    """

    slug = None
    filters = None
    chart_label = None
    horizontal = False  # bars along the y axis, for long labels such as customer names

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

    def rows(self, form, customers):
        raise NotImplementedError

    def table(self, form, rows):
        """[(header, kind)] and the rows as lists of cells; the export writes the same."""
        raise NotImplementedError

    def chart(self, form, rows):
        """(labels, values) of the bar chart."""
        raise NotImplementedError

    def summary(self, rows):
        return ""

    @expose("/")
    def index(self):
        export = request.args.get("export")
        if export and export not in EXPORTS:
            abort(404)
        customers = self.customers()
        form = self.filters(request.args)
        self.prepare(form, customers)
        if not form.validate():
            return self.render("admin/report.html", form=form, columns=None, cells=None,
                               data=None, summary="", export_urls={})
        rows = self.rows(form, customers)
        columns, cells = self.table(form, rows)
        if export:
            return self.export(export, columns, cells)
        labels, values = self.chart(form, rows)
        data = {"labels": labels, "values": values, "label": str(self.chart_label),
                "horizontal": self.horizontal, "money": columns[-1][1] == MONEY}
        # The filters only: any other parameter could be one of url_for's own (_scheme …).
        args = {name: request.args[name] for name in form._fields if name in request.args}
        export_urls = {kind: url_for(".index") + "?" + urlencode({**args, "export": kind})
                       for kind in EXPORTS}
        return self.render("admin/report.html", form=form, columns=columns, cells=cells,
                           data=data, summary=self.summary(rows), export_urls=export_urls)

    # -- export ----------------------------------------------------------------
    def export(self, kind, columns, cells):
        dataset = tablib.Dataset(headers=[str(header) for header, _ in columns],
                                 title=str(self.name)[:31])
        for row in cells:
            # Stored texts may hold control characters an XLSX cell cannot (older rows).
            dataset.append([spreadsheet_safe(cell) if kind == "csv" else spreadsheet_text(cell)
                            for cell in row])
        if kind == "csv":
            # Excel on a Chinese Windows reads CSV as UTF-8 only with a byte order mark.
            body = ("\ufeff" + dataset.export("csv")).encode("utf-8")
        else:
            body = _xlsx(dataset, [i for i, (_, k) in enumerate(columns, 1) if k == MONEY])
        stamp = local(now()).strftime("%Y%m%d_%H%M%S")  # the company's clock
        response = Response(body, content_type=EXPORTS[kind])
        # An ASCII name for old clients, the report's own name (RFC 5987) for the others.
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{self.slug}_{stamp}.{kind}"; '
            f"filename*=UTF-8''{quote(f'{self.name}_{stamp}.{kind}', safe='')}")
        return response


def _xlsx(dataset, money_columns):
    """The dataset as XLSX: text stays text (a name starting with = is no formula), and
    amounts are numbers shown with two decimals."""
    book = openpyxl.load_workbook(io.BytesIO(dataset.export("xlsx")))
    sheet = book.active
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
            if cell.column in money_columns:
                cell.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _text(value):
    """A label from the model: a marked text is translated, data is shown as it is."""
    return gettext(value) if isinstance(value, Msgid) else value


def _number(value):
    return float(value) if isinstance(value, Decimal) else value


# -- the four reports ----------------------------------------------------------------

class ContributionReport(ReportView):
    """客户贡献分析: paid order amounts per customer, largest first."""

    slug = "contribution"
    permission = "reports.contribution"
    filters = ContributionFilters
    chart_label = _l("订单金额前 10 名（元）")
    horizontal = True

    def prepare(self, form, customers):
        form.year.years = reports.contribution_years(customers)

    def rows(self, form, customers):
        return reports.contribution(form.name.data or None, form.year.data, customers)

    def table(self, form, rows):
        columns = [(_l("编号"), RANK), (_l("客户名称"), TEXT), (_l("订单金额（元）"), MONEY)]
        return columns, [[r.rank, r.name, r.amount] for r in rows]

    def chart(self, form, rows):
        top = rows[:CHART_TOP]
        return [r.name for r in top], [_number(r.amount) for r in top]

    def summary(self, rows):
        total = sum((r.amount for r in rows), Decimal("0.00"))
        return gettext("共 %(count)d 位客户，合计 %(total)s 元", count=len(rows),
                       total=f"{total:,.2f}")


class CompositionReport(ReportView):
    """客户构成分析: 正常 customers per 客户等级, 信用度 or 满意度."""

    slug = "composition"
    permission = "reports.composition"
    filters = CompositionFilters
    chart_label = _l("客户数量")
    HEADERS = {"level": _l("等级"), "credit": _l("信用度"), "satisfaction": _l("满意度")}

    def rows(self, form, customers):
        return reports.composition(form.by.data, customers)

    def table(self, form, rows):
        columns = [(_l("编号"), RANK), (self.HEADERS[form.by.data], TEXT),
                   (_l("客户数量"), COUNT)]
        return columns, [[r.rank, _text(r.label), r.count] for r in rows]

    def chart(self, form, rows):
        return [_text(r.label) for r in rows], [r.count for r in rows]

    def summary(self, rows):
        return gettext("共 %(count)d 位正常客户", count=sum(r.count for r in rows))


class ServiceReport(ReportView):
    """客户服务分析: services per 服务类型 created in a year or a date range."""

    slug = "service"
    permission = "reports.service"
    filters = ServiceFilters
    chart_label = _l("服务数量")

    def prepare(self, form, customers):
        form.year.years = reports.service_years(customers)

    def rows(self, form, customers):
        return reports.service(form.year.data, form.date_from.data, form.date_to.data,
                               customers)

    def table(self, form, rows):
        columns = [(_l("编号"), RANK), (_l("条目"), TEXT), (_l("服务数量"), COUNT)]
        return columns, [[r.rank, r.service_type, r.count] for r in rows]

    def chart(self, form, rows):
        return [r.service_type for r in rows], [r.count for r in rows]

    def summary(self, rows):
        return gettext("共 %(count)d 次服务", count=sum(r.count for r in rows))


class ChurnReport(ReportView):
    """客户流失分析: confirmed churn, with the year it was confirmed; charted per year."""

    slug = "churn"
    permission = "reports.churn"
    filters = ChurnFilters
    chart_label = _l("确认流失客户数")

    def rows(self, form, customers):
        return reports.churn(form.name.data or None, form.manager.data or None, customers)

    def table(self, form, rows):
        columns = [(_l("编号"), RANK), (_l("年份"), YEAR), (_l("客户"), TEXT),
                   (_l("客户经理"), TEXT), (_l("流失原因"), TEXT)]
        return columns, [[r.rank, r.year, r.customer, r.manager, r.reason] for r in rows]

    def chart(self, form, rows):
        per_year = reports.churn_per_year(rows)
        return [str(year) for year, _ in per_year], [count for _, count in per_year]

    def summary(self, rows):
        return gettext("共 %(count)d 条确认流失记录", count=len(rows))


def views():
    category = _l("统计报表")
    return [
        ContributionReport(name=_l("客户贡献分析"), category=category),
        CompositionReport(name=_l("客户构成分析"), category=category),
        ServiceReport(name=_l("客户服务分析"), category=category),
        ChurnReport(name=_l("客户流失分析"), category=category),
    ]
