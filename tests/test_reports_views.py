"""统计报表 through the client, as each role: access, table, chart, exports, bad filters, scope."""
import csv
import datetime
import html
import io
import json
import re
from decimal import Decimal
from urllib.parse import quote

import openpyxl
import pytest

from models import ChurnRecord, Customer, Order, OrderLine, Role, db
from models.base import local_today
from seed import demo
from tests.conftest import DEMO_USERS
from tests.test_reports import D, T, churned, customer, order, service

REPORTS = ["contribution", "composition", "service", "churn"]
READERS = {"supervisor", "executive"}  # SPEC.md: 销售主管 and 高管 see all reports
HEADERS = {
    "contribution": ["编号", "客户名称", "订单金额（元）"],
    "composition": ["编号", "等级", "客户数量"],
    "service": ["编号", "条目", "服务数量"],
    "churn": ["编号", "年份", "客户", "客户经理", "流失原因"],
}


def url(report, **args):
    query = "&".join(f"{k}={quote(str(v))}" for k, v in args.items())
    return f"/admin/reports/{report}/" + (f"?{query}" if query else "")


def text(response):
    return response.get_data(as_text=True)


def cell_text(cell):
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def table(response):
    """(headers, rows) of the report table, as the user reads them."""
    page = text(response)
    assert 'id="crm-report-table"' in page, "no report table"
    body = page.split('id="crm-report-table"', 1)[1].split("</table>", 1)[0]
    headers = [cell_text(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", body, re.S)]
    rows = [[cell_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)]
    return headers, rows


def chart_data(response):
    match = re.search(r"var data = (\{.*?\});\n", text(response))
    assert match, "no chart data"
    return json.loads(match.group(1))


def field_error(response, field):
    """The message shown under the filter ``field``, or None."""
    page = text(response)
    tag = re.search(rf'<(?:input|select)[^>]*id="{field}"[^>]*>', page)
    assert tag, f"no field {field}"
    if "is-invalid" not in tag.group(0):
        return None
    after = page[tag.end():]
    match = re.search(r'<div class="invalid-feedback">([^<]*)</div>', after)
    return html.unescape(match.group(1)) if match else None


def csv_rows(response):
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff"), "no byte order mark"
    return list(csv.reader(io.StringIO(body[1:])))


def xlsx_rows(response):
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()], sheet


@pytest.fixture
def sales(users):
    """Two paid customers of 小明 and one of 旺财, an unpaid order, services and churn."""
    with db.atomic():  # one commit: the fixture runs for most tests
        star = customer(users, "北京星光电子", level=3, credit=5)
        order(star, D(2025, 3, 1), [(2, "7500.00"), (10, "36.00")])
        order(star, D(2024, 6, 1), [(1, "9800.00")])
        hengyuan = customer(users, "天津恒远", manager="wangcai", level=1)
        order(hengyuan, D(2025, 5, 5), [(3, "16800.00")])
        order(hengyuan, D(2025, 6, 6), [(100, "16800.00")], status=Order.UNPAID)
        formula = customer(users, "=HYPERLINK(1)", level=1)
        order(formula, D(2025, 7, 7), [(1, "36.00")])
        for kind, at in (("咨询", T(2025, 1, 1, 0, 0)), ("咨询", T(2025, 12, 31, 23, 0)),
                         ("投诉", T(2024, 12, 31, 23, 59))):
            service(star, kind, at)
        churned(customer(users, "沈阳宝德", status=Customer.LOST), T(2023, 4, 4, 10),
                reason="资金紧张")
        churned(customer(users, "大连金鹏", manager="wangcai", status=Customer.LOST),
                T(2025, 9, 9, 10), reason="转向竞争对手")
        churned(customer(users, "仍在预警", manager="wangcai"), T(2025, 9, 9, 10),
                status=ChurnRecord.WARNING)
    return users


# -- who reaches what -----------------------------------------------------------------

@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_each_report_and_its_exports_answer_200_or_403_by_role(client_for, username):
    client = client_for(username)
    answers = {(r, e): client.get(url(r, **({"export": e} if e else {}))).status_code
               for r in REPORTS for e in (None, "csv", "xlsx")}
    expected = 200 if username in READERS else 403
    assert answers == dict.fromkeys(answers, expected)


def test_anonymous_visitors_are_sent_to_login_even_for_an_export(app, users):
    response = app.test_client().get(url("contribution", export="csv"))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_revoking_a_report_closes_page_and_export_on_the_next_request(client_for, users):
    client = client_for("executive")
    assert client.get(url("churn")).status_code == 200
    role = Role.get(Role.code == "executive")
    grants = role.grants()
    del grants["reports.churn"]
    role.set_grants(grants, by=users["admin"])
    assert client.get(url("churn")).status_code == 403
    assert client.get(url("churn", export="xlsx")).status_code == 403
    assert client.get(url("service")).status_code == 200


# -- tables ---------------------------------------------------------------------------

def test_the_contribution_table_ranks_paid_amounts_largest_first(client_for, sales):
    headers, rows = table(client_for("executive").get(url("contribution")))
    assert headers == HEADERS["contribution"]
    assert rows == [["1", "天津恒远", "50,400.00"], ["2", "北京星光电子", "25,160.00"],
                    ["3", "=HYPERLINK(1)", "36.00"]]


def test_the_contribution_filters_are_applied(client_for, sales):
    client = client_for("supervisor")
    _, rows = table(client.get(url("contribution", year=2024)))
    assert rows == [["1", "北京星光电子", "9,800.00"]]
    _, rows = table(client.get(url("contribution", name="星光", year=2025)))
    assert rows == [["1", "北京星光电子", "15,360.00"]]
    _, rows = table(client.get(url("contribution", name="不存在")))
    assert rows == [["没有符合条件的数据"]]


def test_the_year_choices_are_the_years_that_have_orders(client_for, sales):
    page = text(client_for("supervisor").get(url("contribution")))
    select = re.search(r'<select[^>]*id="year".*?</select>', page, re.S).group(0)
    assert re.findall(r'value="([^"]*)"', select) == ["", "2025", "2024"]


@pytest.mark.parametrize("by, header, labels", [
    ("level", "等级", ["普通客户", "重点开发客户", "大客户", "合作伙伴", "战略合作伙伴"]),
    ("credit", "信用度", ["☆", "☆☆", "☆☆☆", "☆☆☆☆", "☆☆☆☆☆"]),
    ("satisfaction", "满意度", ["☆", "☆☆", "☆☆☆", "☆☆☆☆", "☆☆☆☆☆"]),
])
def test_the_composition_table_lists_every_level_by_the_chosen_measure(client_for, sales, by,
                                                                       header, labels):
    headers, rows = table(client_for("supervisor").get(url("composition", by=by)))
    assert headers == ["编号", header, "客户数量"]
    assert [row[1] for row in rows] == labels
    assert sum(int(row[2]) for row in rows) == 4  # the 正常 customers only


def test_the_composition_defaults_to_levels(client_for, sales):
    _, rows = table(client_for("supervisor").get(url("composition")))
    assert rows == [["1", "普通客户", "3"], ["2", "重点开发客户", "0"], ["3", "大客户", "1"],
                    ["4", "合作伙伴", "0"], ["5", "战略合作伙伴", "0"]]


def test_the_service_table_counts_per_type_in_the_year_or_the_range(client_for, sales):
    client = client_for("supervisor")
    headers, rows = table(client.get(url("service", year=2025)))
    assert headers == HEADERS["service"]
    assert rows == [["1", "咨询", "2"], ["2", "建议", "0"], ["3", "投诉", "0"]]
    _, rows = table(client.get(url("service", date_from="2024-12-31", date_to="2025-01-01")))
    assert rows == [["1", "咨询", "1"], ["2", "建议", "0"], ["3", "投诉", "1"]]


def test_the_churn_table_lists_confirmed_churn_with_its_year(client_for, sales):
    client = client_for("supervisor")
    headers, rows = table(client.get(url("churn")))
    assert headers == HEADERS["churn"]
    assert rows == [["1", "2025", "大连金鹏", "旺财", "转向竞争对手"],
                    ["2", "2023", "沈阳宝德", "小明", "资金紧张"]]
    _, rows = table(client.get(url("churn", manager="小明")))
    assert [row[2] for row in rows] == ["沈阳宝德"]
    _, rows = table(client.get(url("churn", name="金鹏")))
    assert [row[2] for row in rows] == ["大连金鹏"]


def test_a_report_reads_the_search_index_once_for_its_name_filter(client_for, sales, database):
    """The total, the page and the chart share one look-up of the name (search.remembered)."""
    from tests.test_lists_at_scale import Queries
    client = client_for("supervisor")
    for report, name, shown in (("churn", "金鹏", "大连金鹏"),
                                ("contribution", "星光", "北京星光电子")):
        client.get(url(report, name=name))
        with Queries(database) as seen:
            _, rows = table(client.get(url(report, name=name)))
        assert [row for row in rows if shown in row]
        looked_up = [sql for sql in seen if "customer_bigram" in sql or "customer_search" in sql]
        assert len(looked_up) == 1, (report, looked_up)


# -- charts ---------------------------------------------------------------------------

def test_the_chart_loads_the_vendored_chart_js_and_gets_the_rows(app, client_for, sales):
    client = client_for("supervisor")
    page = client.get(url("service", year=2025))
    assert re.search(r'<script[^>]*src="/static/vendor/chart\.umd\.min\.js"', text(page))
    assert "cdn" not in text(page).lower()
    assert chart_data(page)["labels"] == ["咨询", "建议", "投诉"]
    assert chart_data(page)["values"] == [2, 0, 0]
    script = client.get("/static/vendor/chart.umd.min.js")
    assert script.status_code == 200 and b"Chart.js v4.6.1" in script.get_data()


def test_the_contribution_chart_shows_the_top_ten(client_for, users):
    for i in range(12):
        order(customer(users, f"客户{i:02d}"), D(2025, 1, 1), [(1, str(100 + i))])
    data = chart_data(client_for("supervisor").get(url("contribution")))
    assert data["labels"] == [f"客户{i:02d}" for i in range(11, 1, -1)]
    assert data["values"][0] == 111.0


def test_the_churn_chart_counts_confirmed_churn_per_year(client_for, sales):
    data = chart_data(client_for("supervisor").get(url("churn")))
    assert (data["labels"], data["values"]) == (["2023", "2024", "2025"], [1, 0, 1])


# -- exports --------------------------------------------------------------------------

@pytest.mark.parametrize("report, args", [("contribution", {"year": 2025}),
                                          ("composition", {"by": "credit"}),
                                          ("service", {"date_from": "2024-12-31"}),
                                          ("churn", {"manager": "旺财"})])
def test_exports_hold_the_rows_of_the_table(client_for, sales, report, args):
    client = client_for("supervisor")
    headers, rows = table(client.get(url(report, **args)))
    exported = csv_rows(client.get(url(report, **args, export="csv")))
    assert exported[0] == headers
    assert len(exported) == len(rows) + 1
    for mine, theirs in zip(exported[1:], rows):
        assert [c.replace(",", "") for c in theirs] == [c.lstrip("'") for c in mine]
    cells, _ = xlsx_rows(client.get(url(report, **args, export="xlsx")))
    assert [str(c) for c in cells[0]] == headers
    assert len(cells) == len(rows) + 1


def test_the_csv_export_is_utf8_with_a_bom_and_a_chinese_file_name(client_for, sales):
    response = client_for("executive").get(url("contribution", export="csv"))
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii()
    assert re.fullmatch(r'attachment; filename="contribution_\d{8}_\d{4}\.csv"; '
                        r"filename\*=UTF-8''(%[0-9A-F]{2})+_\d{8}_\d{4}\.csv", disposition)
    assert quote("客户贡献分析_") in disposition
    assert csv_rows(response)[1] == ["1", "天津恒远", "50400.00"]


def test_the_xlsx_export_has_numbers_and_text_stays_text(client_for, sales):
    response = client_for("supervisor").get(url("contribution", export="xlsx"))
    assert response.headers["Content-Type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="contribution_' in response.headers["Content-Disposition"]
    cells, sheet = xlsx_rows(response)
    assert cells[1] == [1, "天津恒远", 50400]
    assert sheet.cell(2, 3).number_format == "#,##0.00"
    # A name that looks like a formula is written as text, never run by Excel.
    assert cells[3][1] == "=HYPERLINK(1)" and sheet.cell(4, 2).data_type == "s"


def test_a_csv_cell_that_excel_would_run_as_a_formula_is_quoted(client_for, sales):
    exported = csv_rows(client_for("supervisor").get(url("contribution", export="csv")))
    assert exported[3][1] == "'=HYPERLINK(1)"


def test_the_export_links_carry_the_filters(client_for, sales):
    page = text(client_for("supervisor").get(url("contribution", name="星光", year=2025)))
    links = re.findall(r'href="([^"]*export=[^"]*)"', page)
    assert len(links) == 2
    for link in links:
        link = html.unescape(link)
        assert "year=2025" in link and f"name={quote('星光')}" in link


def test_an_unknown_export_format_is_not_found(client_for):
    assert client_for("supervisor").get(url("churn", export="pdf")).status_code == 404


# -- bad filters ----------------------------------------------------------------------

BAD_FILTERS = [
    ("contribution", {"year": "abc"}, "year", "请选择有效的年份"),
    ("contribution", {"year": "20251"}, "year", "请选择有效的年份"),
    ("contribution", {"year": "１２３４"}, "year", "请选择有效的年份"),
    ("contribution", {"name": "名" * 101}, "name", "客户名称不能超过 100 个字"),
    ("composition", {"by": "region"}, "by", "请选择报表方式"),
    ("service", {"year": "0"}, "year", "请选择有效的年份"),
    ("service", {"date_from": "2025-13-01"}, "date_from", "请输入有效的日期（年-月-日）"),
    ("service", {"date_to": "9999-12-31"}, "date_to", "请输入有效的日期（年-月-日）"),
    ("service", {"date_from": "2025-05-01", "date_to": "2025-04-30"}, "date_to",
     "结束日期不能早于开始日期"),
    ("service", {"year": "2025", "date_from": "2025-05-01"}, "year",
     "请选择年份或日期范围，不要同时选择"),
    ("churn", {"manager": "经" * 51}, "manager", "客户经理不能超过 50 个字"),
]


@pytest.mark.parametrize("report, args, field, message", BAD_FILTERS)
def test_bad_filters_are_answered_next_to_the_field(client_for, report, args, field, message):
    client = client_for("supervisor")
    response = client.get(url(report, **args))
    assert response.status_code == 200
    assert field_error(response, field) == message
    assert 'id="crm-report-table"' not in text(response)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_export_with_bad_filters_answers_the_page_with_the_message(client_for, kind):
    export = client_for("supervisor").get(url("service", date_from="2025-05-01",
                                              date_to="2025-04-30", export=kind))
    assert export.status_code == 200 and export.content_type.startswith("text/html")
    assert field_error(export, "date_to") == "结束日期不能早于开始日期"


def test_good_filters_show_no_message(client_for, sales):
    response = client_for("supervisor").get(url("service", date_from="2025-05-01",
                                                date_to="2025-05-01"))
    assert field_error(response, "date_from") is None and field_error(response, "date_to") is None
    assert 'id="crm-report-table"' in text(response)


# -- scope "own" ----------------------------------------------------------------------

def grant_own_contribution(users):
    role = Role.get(Role.code == "manager")
    role.set_grants({**role.grants(), "reports.contribution": "own"}, by=users["admin"])


def test_a_manager_granted_contribution_own_sees_only_his_customers(client_for, sales):
    grant_own_contribution(sales)
    client = client_for("xiaoming")
    _, rows = table(client.get(url("contribution")))
    assert [row[1] for row in rows] == ["北京星光电子", "=HYPERLINK(1)"]
    exported = csv_rows(client.get(url("contribution", export="csv")))
    assert [row[1] for row in exported[1:]] == ["北京星光电子", "'=HYPERLINK(1)"]
    cells, _ = xlsx_rows(client.get(url("contribution", export="xlsx")))
    assert [row[1] for row in cells[1:]] == ["北京星光电子", "=HYPERLINK(1)"]
    # only this report was granted
    assert client.get(url("composition")).status_code == 403
    # 旺财 holds the same grant: his own customer, and only the years of his orders
    page = client_for("wangcai").get(url("contribution"))
    assert [row[1] for row in table(page)[1]] == ["天津恒远"]
    assert re.findall(r'<option[^>]*value="(\d{4})"', text(page)) == ["2025"]


def test_the_menu_shows_a_granted_report(client_for, sales):
    grant_own_contribution(sales)
    page = text(client_for("xiaoming").get("/admin/"))
    assert "客户贡献分析" in page and "客户构成分析" not in page


# -- the demo data --------------------------------------------------------------------

def test_every_report_and_export_works_on_the_demo_data(app, client_for, users):
    with app.app_context():
        demo.load()
    client = client_for("executive")
    for report in REPORTS:
        page = client.get(url(report))
        assert page.status_code == 200
        headers, rows = table(page)
        assert headers == HEADERS[report] and rows and chart_data(page)["labels"]
        for kind in ("csv", "xlsx"):
            assert client.get(url(report, export=kind)).status_code == 200
    # the amounts add up to the paid order lines of the demo
    total = sum(Decimal(row[2].replace(",", ""))
                for row in table(client.get(url("contribution")))[1])
    paid = sum(line.amount for line in
               OrderLine.select().join(Order).where(Order.status == Order.PAID))
    assert total == paid
    assert local_today().year in [int(y) for y in re.findall(
        r'<option[^>]*value="(\d{4})"', text(client.get(url("service"))))]


# Every character that makes Excel (or LibreOffice) read a cell as a formula.
FORMULA_NAMES = ["=1+1", "+1", "-1", "@SUM(1)", "\tx", "\rx"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_no_formula_start_is_run_from_a_report_export(client_for, users, kind):
    """CSV has no cell types: a name starting with = + - @ tab or CR gets a quote. XLSX
    has them: the name is written as text (a quote would show there), never a formula."""
    for name in FORMULA_NAMES:
        order(customer(users, name), D(2025, 7, 7), [(1, "36.00")])
    response = client_for("supervisor").get(url("contribution", export=kind))
    if kind == "csv":
        names = [row[1] for row in csv_rows(response)[1:]]
        assert all(name.startswith("'") for name in names), names
        assert sorted(name[1:] for name in names) == sorted(FORMULA_NAMES)
    else:
        _, sheet = xlsx_rows(response)
        cells = [sheet.cell(row, 2) for row in range(2, sheet.max_row + 1)]
        assert all(cell.data_type == "s" for cell in cells), [c.data_type for c in cells]
        assert sorted(c.value.replace("\n", "\r") for c in cells) == sorted(FORMULA_NAMES)


# -- input from requests --------------------------------------------------------------

@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_report_export_never_fails_on_control_characters_stored_earlier(client_for, users,
                                                                          kind):
    """Old rows may hold characters a worksheet cannot: every report still exports.
    (No NUL: PostgreSQL never stored one.)"""
    for name, reason in (("天津\x0b恒远", "价格\x01太高"), ("北京\x1f星光", "\x7f")):
        lost = customer(users, name)
        churned(lost, datetime.datetime(2025, 5, 1, 9), reason)
        order(lost, datetime.date(2025, 5, 1), [(1, Decimal("100"))])
    client = client_for("supervisor")
    for report in REPORTS:
        response = client.get(url(report, export=kind))
        body = response.get_data()  # a streamed file is read whole, as a browser does
        assert response.status_code == 200, report
    if kind == "csv":
        assert b"\x0b" not in body and b"\x01" not in body
    else:
        cells, _ = xlsx_rows(client.get(url("churn", export="xlsx")))
        assert {row[2] for row in cells[1:]} == {"天津恒远", "北京星光"}


@pytest.mark.parametrize("report", REPORTS)
def test_a_control_character_in_a_filter_is_read_as_a_space(client_for, users, report):
    """A NUL in the query string (which PostgreSQL refuses) never reaches the database."""
    client = client_for("supervisor")
    for name in ("name", "manager", "year", "by", "date_from"):
        assert client.get(f"/admin/reports/{report}/?{name}=%E5%A4%A9%00%01").status_code == 200


def test_the_export_links_carry_nothing_but_the_filters(client_for, sales):
    """Any other parameter stays out of the links (url_for would read _scheme, _external
    or _anchor as its own: the export link would lead off the site)."""
    page = text(client_for("supervisor").get(
        "/admin/reports/contribution/?year=2025&_scheme=javascript&_external=1"
        "&_anchor=x&endpoint=y&other=1"))
    links = [html.unescape(link) for link in re.findall(r'href="([^"]*export=[^"]*)"', page)]
    assert len(links) == 2
    for link in links:
        assert link.startswith("/admin/reports/contribution/?year=2025&export=")


# -- pages: nothing grows with the data -----------------------------------------------------

@pytest.fixture
def many_customers(users):
    """120 paid customers of 小明 (amounts 1 … 120 yuan) and 60 confirmed churn records,
    written in bulk (the summary's triggers fire on bulk inserts too)."""
    from models import Product
    with db.atomic():
        product = Product.create(name="幸福牌电视机", model="818 FFT", batch="P1", unit="台",
                                 price=Decimal("1"))
        Customer.insert_many([{"number": f"KHP{i:06d}", "name": f"分页客户{i:03d}",
                               "manager": users["xiaoming"].id, "status": Customer.ACTIVE,
                               "created_at": datetime.datetime(2025, 1, 1)}
                              for i in range(1, 121)]).execute()
        ids = {c.number: c.id for c in Customer.select(Customer.id, Customer.number)}
        Order.insert_many([{"customer": ids[f"KHP{i:06d}"], "number": f"DDP{i:06d}",
                            "date": D(2025, 1, 1), "address": "北京", "status": Order.PAID}
                           for i in range(1, 121)]).execute()
        orders = {o.number: o.id for o in Order.select(Order.id, Order.number)}
        OrderLine.insert_many([{"order": orders[f"DDP{i:06d}"], "product": product.id,
                                "quantity": 1, "unit": "台", "price": Decimal(i)}
                               for i in range(1, 121)]).execute()
        for i in range(60):
            churned(customer(users, f"流失客户{i:02d}", status=Customer.LOST),
                    T(2023 + i % 3, 5, 1 + i % 28, 10))
    return users


def test_contribution_shows_a_page_with_the_totals_of_every_row(client_for, many_customers):
    client = client_for("supervisor")
    page = client.get(url("contribution"))
    _, rows = table(page)
    assert len(rows) == 50 and rows[0] == ["1", "分页客户120", "120.00"]
    assert rows[-1][:2] == ["50", "分页客户071"]
    assert "共 120 位客户，合计 7,260.00 元" in text(page)
    assert 'id="crm-report-pager"' in text(page)
    _, rows = table(client.get(url("contribution", page=2)))
    assert [row[0] for row in rows] == [str(rank) for rank in range(101, 121)]
    assert rows[-1] == ["120", "分页客户001", "1.00"]
    # a page past the last shows the last; a bad page number the first
    assert table(client.get(url("contribution", page=99)))[1] == rows
    assert table(client.get(url("contribution", page="x")))[1][0][0] == "1"


def test_the_pager_keeps_the_filters_and_the_export_has_every_row(client_for, many_customers):
    client = client_for("supervisor")
    page = text(client.get(url("contribution", name="分页", year=2025)))
    pager = page.split('id="crm-report-pager"', 1)[1].split("</nav>", 1)[0]
    links = {html.unescape(link) for link in re.findall(r'href="([^"]*page=[^"]*)"', pager)}
    assert links and all("year=2025" in link and f"name={quote('分页')}" in link
                         for link in links)
    export_links = re.findall(r'href="([^"]*export=[^"]*)"', page)
    assert export_links and not any("page=" in link for link in export_links)
    exported = csv_rows(client.get(url("contribution", page=1, export="csv")))
    assert len(exported) == 121 and exported[1] == ["1", "分页客户120", "120.00"]
    cells, _ = xlsx_rows(client.get(url("contribution", export="xlsx")))
    assert len(cells) == 121 and cells[-1] == [120, "分页客户001", 1]


def test_the_chart_shows_the_top_ten_on_every_page(client_for, many_customers):
    data = chart_data(client_for("supervisor").get(url("contribution", page=1)))
    assert data["labels"] == [f"分页客户{i:03d}" for i in range(120, 110, -1)]


def test_churn_shows_a_page_its_count_and_the_chart_counts_every_row(client_for,
                                                                     many_customers):
    client = client_for("supervisor")
    page = client.get(url("churn"))
    _, rows = table(page)
    assert len(rows) == 50 and "共 60 条确认流失记录" in text(page)
    assert (chart_data(page)["labels"], chart_data(page)["values"]) == (
        ["2023", "2024", "2025"], [20, 20, 20])
    _, rows = table(client.get(url("churn", page=1)))
    assert [row[0] for row in rows] == [str(rank) for rank in range(51, 61)]
    assert len(csv_rows(client.get(url("churn", export="csv")))) == 61


def test_a_managers_own_totals_count_only_his_customers(client_for, sales):
    grant_own_contribution(sales)
    page = text(client_for("xiaoming").get(url("contribution")))
    assert "共 2 位客户，合计 25,196.00 元" in page
    page = text(client_for("wangcai").get(url("contribution", year=2024)))
    assert "共 0 位客户，合计 0.00 元" in page
