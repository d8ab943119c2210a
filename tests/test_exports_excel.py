"""Exports that open right in Excel on a Chinese Windows (issue 11): typed XLSX cells
(numbers, amounts with two decimals, dates, times in the company's zone), a sheet named
after the screen, columns as wide as their Chinese text, the header frozen under an
autofilter, file names in Chinese with the screen and the local time (RFC 5987, with an
ASCII fallback), for lists and reports; and the 历史订单 export, granted like its list.

Every file is opened with openpyxl or csv and compared cell by cell.
"""
import csv
import datetime
import html
import io
import re
from decimal import Decimal
from urllib.parse import quote

import openpyxl
import pytest

from admin_views import exports
from models import Customer, Order, Product
from models.base import local, now
from tests.test_reports import customer, order
from tests.test_time import an_opportunity

MOMENT = datetime.datetime(2026, 11, 30, 17, 30)  # stored (UTC): 1 December 01:30 in Beijing
ORDER_HEADER = ["客户", "订单编号", "日期", "送货地址", "状态", "总金额",
                "商品", "数量", "单位", "单价", "金额"]


def body_of(response):
    return b"".join(response.iter_encoded()) if response.is_streamed else response.get_data()


def csv_rows(body):
    text = body.decode("utf-8")
    assert text.startswith("\ufeff"), "no byte order mark"
    return list(csv.reader(io.StringIO(text[1:])))


def workbook(body):
    return openpyxl.load_workbook(io.BytesIO(body))


def values(sheet):
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def export_links(page):
    """{kind: URL} of the export links a list page renders (Flask-Admin's 导出 menu)."""
    links = [html.unescape(link) for link in
             re.findall(r'href="([^"]*/export/(?:csv|xlsx)/[^"]*)"', page)]
    return {re.search(r"/export/(csv|xlsx)/", link).group(1): link for link in links}


def stamps(before, after):
    """The file-name stamps (local time, to the minute) a request between the two stored
    moments may carry."""
    minute, found = local(before).replace(second=0), set()
    while minute <= local(after):
        found.add(minute.strftime("%Y%m%d_%H%M"))
        minute += datetime.timedelta(minutes=1)
    return found


def assert_named(response, screen, fallback, kind, before, after):
    """The download is called ``screen_<local time>.kind`` (RFC 5987), ``fallback_…``
    for old clients."""
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii()
    assert any(disposition == f'attachment; filename="{fallback}_{stamp}.{kind}"; '
                              f"filename*=UTF-8''{quote(f'{screen}_{stamp}.{kind}', safe='')}"
               for stamp in stamps(before, after)), disposition


# -- the file: cells, sheet, widths, header ----------------------------------------------

ROW = ["KH1", "=1+1", Decimal("7500.5"), 12, 3.5, 50400, datetime.date(2025, 3, 1), MOMENT,
       None, "北京"]
HEADER = ["编号", "名称", "金额", "数量", "比例", "合计", "日期", "时间", "空", "地区"]


def test_xlsx_cells_are_typed_per_kind(app):
    with app.test_request_context():
        response = exports.response("xlsx", "客户信息_x.xlsx", HEADER, iter([ROW]),
                                    money_columns=[5], title="客户信息")
        sheet = workbook(body_of(response)).active
    cells = {HEADER[i]: sheet.cell(2, i + 1) for i in range(len(HEADER))}
    assert (cells["编号"].value, cells["编号"].data_type) == ("KH1", "s")
    assert (cells["名称"].value, cells["名称"].data_type) == ("=1+1", "s")  # text, not run
    assert (cells["金额"].value, cells["金额"].number_format) == (7500.5, "#,##0.00")
    assert (cells["数量"].value, cells["数量"].data_type) == (12, "n")
    assert cells["数量"].number_format == "General"
    assert (cells["比例"].value, cells["比例"].number_format) == (3.5, "General")
    assert (cells["合计"].value, cells["合计"].number_format) == (50400, "#,##0.00")  # money column
    assert cells["日期"].is_date and cells["日期"].number_format == "yyyy-mm-dd"
    assert cells["日期"].value == datetime.datetime(2025, 3, 1)
    # a stored (UTC) time, as Beijing's clock reads it, shown to the minute
    assert cells["时间"].is_date and cells["时间"].number_format == "yyyy-mm-dd hh:mm"
    assert cells["时间"].value == datetime.datetime(2026, 12, 1, 1, 30)
    assert cells["空"].value is None
    assert (cells["地区"].value, cells["地区"].data_type) == ("北京", "s")


def test_csv_keeps_its_bom_quotes_formulas_and_shows_local_times(app):
    with app.test_request_context():
        response = exports.response("csv", "客户信息_x.csv", HEADER, iter([ROW]),
                                    money_columns=[5])
        rows = csv_rows(body_of(response))
    assert rows == [HEADER, ["KH1", "'=1+1", "7500.50", "12", "3.5", "50400", "2025-03-01",
                             "2026-12-01 01:30", "", "北京"]]


def test_the_sheet_is_named_its_header_bold_frozen_and_filtered_over_every_row(app):
    count = 2 * exports.CHUNK + 5  # past the rows held to measure the columns
    with app.test_request_context():
        response = exports.response("xlsx", "f.xlsx", ["编号", "名称", "金额"],
                                    ([i, f"客户{i}", Decimal(i)] for i in range(count)),
                                    title="销售机会")
        book = workbook(body_of(response))
    sheet = book.active
    assert book.sheetnames == ["销售机会"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:C{count + 1}"
    assert sheet.max_row == count + 1 and sheet.cell(count + 1, 2).value == f"客户{count - 1}"
    assert all(cell.font.b for cell in sheet[1]) and not sheet.cell(2, 2).font.b
    assert [cell.data_type for cell in sheet[1]] == ["s", "s", "s"]


def test_an_empty_export_still_has_its_header_filtered(app):
    with app.test_request_context():
        sheet = workbook(body_of(exports.response("xlsx", "f.xlsx", ["编号", "名称"], iter([]),
                                                  title="客户"))).active
    assert values(sheet) == [["编号", "名称"]]
    assert sheet.auto_filter.ref == "A1:B1" and sheet.freeze_panes == "A2"


def test_column_widths_count_a_chinese_character_as_two(app):
    header = ["名称", "code", "备注", "金额", "日期"]
    rows = [["北京星光电子有限公司", "ABCDEFGHIJ", "长" * 100, Decimal("1234567.5"),
             datetime.date(2025, 1, 1)],
            ["天津", "AB", None, Decimal("1"), None]]
    assert exports.display_width("北京星光电子有限公司") == 20
    assert exports.display_width("ＡＢ") == 4  # fullwidth letters are wide too
    assert exports.display_width("ABCDEFGHIJ") == 10
    assert exports.display_width("短\n长长长长") == 8  # a text of lines: its longest
    with app.test_request_context():
        sheet = workbook(body_of(exports.response("xlsx", "f.xlsx", header, iter(rows),
                                                  title="客户"))).active
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDE"]
    # its widest cell (+2), the header with room for bold and the filter button (+4)
    assert widths == [22, 12, exports.MAX_WIDTH, len("1,234,567.50") + 2, 12]
    assert widths[0] > widths[1]  # ten Chinese characters are twice ten letters


@pytest.mark.parametrize("name, title", [
    ("客户信息管理", "客户信息"), ("销售机会管理", "销售机会"), ("客户贡献分析", "客户贡献分析"),
    ("Customers", "Customers"), ("管理", "管理"), ("客户[A]:B*?/\\C", "客户 A  B    C")])
def test_a_screen_title_is_the_data_it_holds_and_fits_a_sheet_and_a_file(name, title):
    assert exports.screen_title(name) == title


def test_a_sheet_title_is_cut_to_what_excel_takes(app):
    assert exports.sheet_title("客" * 40) == "客" * 31
    assert exports.sheet_title("'a[b]'") == "a b"
    with app.test_request_context():
        book = workbook(body_of(exports.response("xlsx", "f.xlsx", ["a"], iter([["x"]]),
                                                 title="客" * 40)))
    assert book.sheetnames == ["客" * 31]


def test_file_names_carry_the_screen_and_the_local_time():
    assert exports.file_names("客户信息", "customer", "xlsx", at=MOMENT) == (
        "客户信息_20261201_0130.xlsx", "customer_20261201_0130.xlsx")
    assert exports.disposition(*exports.file_names("客户信息", "customer", "csv", at=MOMENT)) == (
        'attachment; filename="customer_20261201_0130.csv"; '
        "filename*=UTF-8''%E5%AE%A2%E6%88%B7%E4%BF%A1%E6%81%AF_20261201_0130.csv")


# -- lists ---------------------------------------------------------------------------

@pytest.fixture
def rich_customer(users):
    star = customer(users, "北京星光电子有限公司")
    Customer.update(registered_capital=Decimal("1500.5"), annual_revenue=Decimal("98000000"),
                    region="北京", phone="=HYPERLINK(1)").where(Customer.id == star.id).execute()
    return Customer.get_by_id(star.id)


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_the_customer_list_exports_through_its_own_link_named_after_the_screen(
        client_for, rich_customer, kind):
    client = client_for("supervisor")
    links = export_links(client.get("/admin/customer/").get_data(as_text=True))
    assert set(links) == {"csv", "xlsx"}
    before = now()
    response = client.get(links[kind])
    assert_named(response, "客户信息", "customer", kind, before, now())
    body = body_of(response)
    if kind == "csv":
        rows = csv_rows(body)
        row = dict(zip(rows[0], rows[1], strict=True))
        assert (row["注册资金（万元）"], row["年营业额"]) == ("1500.50", "98000000.00")
        assert row["电话"] == "'=HYPERLINK(1)"  # quoted: never run
        return
    book = workbook(body)
    sheet = book.active
    assert book.sheetnames == ["客户信息"]
    header = [cell.value for cell in sheet[1]]
    cells = {label: sheet.cell(2, index + 1) for index, label in enumerate(header)}
    for label, amount in (("注册资金（万元）", 1500.5), ("年营业额", 98000000)):
        assert (cells[label].value, cells[label].number_format) == (amount, "#,##0.00")
    assert (cells["电话"].value, cells["电话"].data_type) == ("=HYPERLINK(1)", "s")
    assert cells["客户满意度"].value == "☆☆☆"  # a rating stays as the list shows it
    assert cells["传真"].value is None  # nothing is a blank cell, not an empty text
    last = sheet.cell(1, len(header)).column_letter
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:{last}2"
    name = header.index("名称") + 1
    number = header.index("客户编号") + 1
    width = sheet.column_dimensions
    assert width[sheet.cell(1, name).column_letter].width == 2 * len(rich_customer.name) + 2
    assert width[sheet.cell(1, number).column_letter].width == len(rich_customer.number) + 2


def test_a_list_export_in_english_is_named_in_english(client_for, rich_customer):
    client = client_for("supervisor")
    client.get("/locale/en")
    links = export_links(client.get("/admin/customer/").get_data(as_text=True))
    before = now()
    response = client.get(links["xlsx"])
    assert_named(response, "Customers", "customer", "xlsx", before, now())
    book = workbook(body_of(response))
    assert book.sheetnames == ["Customers"]
    assert not any(re.search(r"[\u4e00-\u9fff]", str(c.value)) for c in book.active[1])


def test_a_list_exports_times_as_typed_local_times(client_for, users):
    an_opportunity(users, at=MOMENT)
    client = client_for("supervisor")
    links = export_links(client.get("/admin/opportunity/").get_data(as_text=True))
    before = now()
    response = client.get(links["xlsx"])
    assert_named(response, "销售机会", "opportunity", "xlsx", before, now())
    book = workbook(body_of(response))
    sheet = book.active
    assert book.sheetnames == ["销售机会"]
    header = [cell.value for cell in sheet[1]]
    created = sheet.cell(2, header.index("创建时间") + 1)
    assert created.value == datetime.datetime(2026, 12, 1, 1, 30)
    assert created.is_date and created.number_format == "yyyy-mm-dd hh:mm"
    assert sheet.cell(2, header.index("编号") + 1).data_type == "n"  # a number
    rows = csv_rows(client.get(links["csv"]).get_data())
    assert rows[1][rows[0].index("创建时间")] == "2026-12-01 01:30"


# -- reports -------------------------------------------------------------------------

@pytest.mark.parametrize("language, screen", [("zh", "客户贡献分析"),
                                              ("en", "Contribution analysis")])
def test_a_report_export_is_named_after_the_report_in_the_users_language(
        client_for, users, language, screen):
    order(customer(users, "北京星光电子"), datetime.date(2025, 3, 1), [(2, "7500.00")])
    client = client_for("supervisor")
    if language == "en":
        client.get("/locale/en")
    page = client.get("/admin/reports/contribution/").get_data(as_text=True)
    links = {re.search(r"export=(\w+)", link).group(1): html.unescape(link)
             for link in re.findall(r'href="([^"]*export=[^"]*)"', page)}
    for kind in ("csv", "xlsx"):
        before = now()
        response = client.get(links[kind])
        body_of(response)  # read, as a browser does
        assert_named(response, screen, "contribution", kind, before, now())
    book = workbook(body_of(client.get(links["xlsx"])))
    sheet = book.active
    assert book.sheetnames == [screen]
    assert values(sheet)[1] == [1, "北京星光电子", 15000]
    assert sheet.cell(2, 3).number_format == "#,##0.00"
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:C2"


# -- 历史订单 ----------------------------------------------------------------------------

@pytest.fixture
def orders(users):
    """小明's customer with an order of two lines (one to a formula-like address) and one
    without lines; 旺财's customer with an order."""
    mine = customer(users, "北京星光电子")
    two = order(mine, datetime.date(2025, 3, 1), [(2, "7500.00"), (10, "36.50")])
    Order.update(address="=HYPERLINK(1)").where(Order.id == two.id).execute()
    empty = order(mine, datetime.date(2025, 5, 5), [], status=Order.UNPAID)
    theirs = order(customer(users, "天津恒远", manager="wangcai"), datetime.date(2025, 4, 4),
                   [(1, "16800.00")])
    return {"mine": mine, "two": Order.get_by_id(two.id), "empty": empty, "theirs": theirs}


def expected_order_rows(orders):
    """The 客户经理's export, newest first (as listed): one row per line."""
    product = str(Product.get())
    mine, two, empty = str(orders["mine"]), orders["two"], orders["empty"]
    return [
        [mine, empty.number, datetime.datetime(2025, 5, 5), "北京市海淀区", "未回款", 0,
         None, None, None, None, None],
        [mine, two.number, datetime.datetime(2025, 3, 1), "=HYPERLINK(1)", "已回款", 15365,
         product, 2, "台", 7500, 15000],
        [mine, two.number, datetime.datetime(2025, 3, 1), "=HYPERLINK(1)", "已回款", 15365,
         product, 10, "台", 36.5, 365],
    ]


def test_a_manager_exports_his_customers_orders_from_the_list_link(client_for, orders):
    client = client_for("xiaoming")
    links = export_links(client.get("/admin/order/").get_data(as_text=True))
    assert set(links) == {"csv", "xlsx"}  # the list offers its export
    before = now()
    response = client.get(links["xlsx"])
    assert response.status_code == 200 and response.is_streamed
    assert_named(response, "历史订单", "order", "xlsx", before, now())
    book = workbook(body_of(response))
    sheet = book.active
    assert book.sheetnames == ["历史订单"]
    assert values(sheet) == [ORDER_HEADER, *expected_order_rows(orders)]  # none of 旺财's
    for row in range(2, 5):
        assert sheet.cell(row, 3).is_date and sheet.cell(row, 3).number_format == "yyyy-mm-dd"
        assert sheet.cell(row, 6).number_format == "#,##0.00"  # 总金额
        assert sheet.cell(row, 4).data_type == "s"  # the formula-like address is text
    assert [sheet.cell(3, column).number_format for column in (8, 10, 11)] == [
        "General", "#,##0.00", "#,##0.00"]  # 数量, 单价, 金额
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:K4"

    rows = csv_rows(client.get(links["csv"]).get_data())
    assert rows[0] == ORDER_HEADER
    assert [row[1] for row in rows[1:]] == [orders["empty"].number, *[orders["two"].number] * 2]
    assert rows[2][2:5] == ["2025-03-01", "'=HYPERLINK(1)", "已回款"]
    assert [Decimal(rows[2][5]), Decimal(rows[2][9]), Decimal(rows[3][10])] == [
        Decimal("15365"), Decimal("7500"), Decimal("365")]
    assert rows[1][6:] == [""] * 5  # an order without lines: once, its line cells blank


def test_a_customers_order_list_exports_that_customers_orders(client_for, orders):
    client = client_for("supervisor")
    page = client.get(f"/admin/order/?customer={orders['theirs'].customer_id}")
    links = export_links(page.get_data(as_text=True))
    rows = csv_rows(client.get(links["csv"]).get_data())
    assert [row[1] for row in rows[1:]] == [orders["theirs"].number]
    everything = csv_rows(client.get("/admin/order/export/csv/").get_data())
    assert sorted({row[1] for row in everything[1:]}) == sorted(
        o.number for o in (orders["two"], orders["empty"], orders["theirs"]))


def test_a_role_without_the_order_list_gets_403_on_its_export(client_for, orders):
    client = client_for("executive")  # reports only
    for path in ("/admin/order/", "/admin/order/export/csv/", "/admin/order/export/xlsx/"):
        assert client.get(path).status_code == 403, path
