"""The ERP hand-over: ``import_stock`` and ``import_orders`` on the models, ``flask
import-stock`` / ``import-orders`` through the CLI, and the sample files of seed/erp/ on the
demo data (what the README shows)."""
import csv
import datetime
import io
import os
import re
from decimal import Decimal

import openpyxl
import pytest
from flask_babel import force_locale, gettext

from models import Customer, CustomerSales, Order, OrderLine, Product, Stock
from models.base import Msgid, stored
from models.basedata import import_stock
from models.customers import import_orders
from models.tabular import ImportRefused
from seed import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "seed", "erp")
NOW = stored(datetime.datetime(2026, 11, 23, 10, 0))
TV = {"商品名称": "幸福牌电视机", "型号": "818 FFT", "批次": "2388 EA03"}
RADIO = {"商品名称": "幸福牌收音机", "型号": "天语007", "批次": "7878 006A"}


@pytest.fixture
def products():
    return {"tv": Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                                 price=Decimal("7500")),
            "radio": Product.create(name="幸福牌收音机", model="天语007", batch="7878 006A",
                                    unit="台", price=Decimal("36"))}


def stock_row(product=TV, **cells):
    return {**product, "仓库": "北京-西直门库", "货位": "A-01-03", "件数": "120", "备注": "",
            **cells}


def levels():
    """Every stock row as (product name, 仓库, 货位, 件数, 备注), in id order."""
    return [(s.product.name, s.warehouse, s.location, s.quantity, s.note)
            for s in Stock.select().order_by(Stock.id)]


def faults(refused):
    """(row, column, message) of every fault of an ImportRefused."""
    return [(row, params.get("column"), message) for row, message, params in refused.errors]


# -- import_stock -------------------------------------------------------------------------

def test_a_stock_import_creates_updates_and_leaves_unchanged(products):
    Stock.create(product=products["tv"], warehouse="北京-西直门库", location="A-01-03",
                 quantity=120, note="样机")
    Stock.create(product=products["tv"], warehouse="北京-马甸库", location="B-02-01", quantity=45)
    Stock.create(product=products["radio"], warehouse="北京-大钟寺库", location="D-01-04",
                 quantity=9)  # a place the file does not name keeps its stock
    rows = [stock_row(件数="112", 备注="样机"),  # updated
            stock_row(仓库="北京-马甸库", 货位="B-02-01", 件数="45"),  # unchanged
            stock_row(RADIO, 仓库="天津-恒远电子C库", 货位="C-02-06", 件数="1,500",
                      备注="整箱存放"),  # created
            stock_row(RADIO, 仓库="北京-西直门库", 货位="A-03-07", 件数="0")]  # created: 0 counts
    done = import_stock(rows)
    assert (done.created, done.updated, done.unchanged) == (2, 1, 1)
    assert levels() == [("幸福牌电视机", "北京-西直门库", "A-01-03", 112, "样机"),
                        ("幸福牌电视机", "北京-马甸库", "B-02-01", 45, None),
                        ("幸福牌收音机", "北京-大钟寺库", "D-01-04", 9, None),
                        ("幸福牌收音机", "天津-恒远电子C库", "C-02-06", 1500, "整箱存放"),
                        ("幸福牌收音机", "北京-西直门库", "A-03-07", 0, None)]
    ids = [s.id for s in Stock.select().order_by(Stock.id)]
    again = import_stock(rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert [s.id for s in Stock.select().order_by(Stock.id)] == ids
    assert Product.select().count() == 2


def test_a_stock_file_without_notes_keeps_them_and_a_blank_note_clears_one(products):
    Stock.create(product=products["tv"], warehouse="北京-西直门库", location="A-01-03",
                 quantity=120, note="其中2台为展示样机")
    row = {k: v for k, v in stock_row(件数="100").items() if k != "备注"}
    assert import_stock([row]).updated == 1
    assert levels()[0][3:] == (100, "其中2台为展示样机")
    assert import_stock([stock_row(件数="100")]).updated == 1
    assert levels()[0][3:] == (100, None)


def test_a_place_held_twice_in_the_database_keeps_one_row(products):
    for quantity in (5, 7):
        Stock.create(product=products["tv"], warehouse="北京-西直门库", location="A-01-03",
                     quantity=quantity)
    assert import_stock([stock_row(件数="5")]).updated == 1
    assert levels() == [("幸福牌电视机", "北京-西直门库", "A-01-03", 5, None)]


def test_a_stock_import_reports_every_fault_of_every_row_and_writes_nothing(products):
    Stock.create(product=products["tv"], warehouse="北京-西直门库", location="A-01-03",
                 quantity=120)
    before = levels()
    rows = [stock_row(件数="130"),  # fine, but the import is refused as a whole
            stock_row(商品名称="", 仓库="", 件数="-3"),
            {k: "" for k in stock_row()},  # a blank row is skipped, and still counted
            stock_row(批次="9999", 货位="x" * 51, 件数="两", 备注="a\x00b"),
            stock_row(RADIO, 件数="1.5"),
            stock_row(货位="A-01-04", 件数="７"),
            stock_row()]  # the place of row 2 again
    with pytest.raises(ImportRefused) as refused:
        import_stock(rows)
    assert faults(refused.value) == [
        (3, "商品名称", "请填写%(label)s"), (3, "仓库", "请填写%(label)s"),
        (3, "件数", "%(label)s须为不小于 0 的整数"),
        (5, "货位", "%(label)s不能超过 %(limit)d 个字"),
        (5, "件数", "%(label)s须为不小于 0 的整数"),
        (5, "备注", "%(label)s含有不可见的控制字符"),
        (5, "商品名称", "商品“%(product)s”不存在（按商品名称、型号、批次查找）"),
        (6, "件数", "%(label)s须为不小于 0 的整数"),
        (7, "件数", "%(label)s须为不小于 0 的整数"),
        (8, "货位", "与第 %(row)d 行是同一商品、仓库和货位")]
    assert refused.value.params == {"count": 5}  # rows, not faults
    assert refused.value.errors[6][2]["product"] == "幸福牌电视机-818 FFT-9999"
    assert refused.value.errors[-1][2]["row"] == 2
    assert levels() == before and Product.select().count() == 2  # stock never adds products


def test_stock_quantities_are_whole_numbers_as_excel_writes_them(products):
    done = import_stock([stock_row(件数="1,200"), stock_row(货位="A-01-04", 件数="12.0"),
                         stock_row(货位="A-01-05", 件数=7)])  # an XLSX number cell
    assert done.created == 3
    assert [level[3] for level in levels()] == [1200, 12, 7]
    with pytest.raises(ImportRefused) as refused:
        import_stock([stock_row(件数="3000000000")])
    assert faults(refused.value) == [(2, "件数", "%(label)s最大为 %(limit)d")]


def test_stock_columns_may_have_their_english_names(products):
    rows = [{"Name": "幸福牌电视机", "MODEL": "818 FFT", "batch": "2388 EA03",
             "Warehouse": "北京-西直门库", "Bin location": "A-01-03", "Quantity": "3",
             "notes": "新到货", "ignored": "x"}]
    assert import_stock(rows).created == 1
    assert levels() == [("幸福牌电视机", "北京-西直门库", "A-01-03", 3, "新到货")]


def test_a_stock_file_missing_columns_is_refused_naming_each(products):
    with pytest.raises(ImportRefused) as refused:
        import_stock([{"name": "幸福牌电视机", "商品名称": "幸福牌电视机", "仓库": "北京"}])
    assert [(row, message, params["label"]) for row, message, params in refused.value.errors] == [
        (1, "“%(label)s”列出现了两次", "商品名称"), (1, "缺少“%(label)s”列", "型号"),
        (1, "缺少“%(label)s”列", "批次"), (1, "缺少“%(label)s”列", "货位"),
        (1, "缺少“%(label)s”列", "件数")]
    assert Stock.select().count() == 0


def test_a_stock_refusal_reads_in_english(app, products):
    with pytest.raises(ImportRefused) as refused:
        import_stock([stock_row(件数="-1")])
    (row, message, params), = refused.value.errors
    with app.app_context(), force_locale("en"):
        shown = gettext(message, **{k: gettext(v) if isinstance(v, Msgid) else v
                                    for k, v in params.items()})
        total = gettext(refused.value.message, **refused.value.params)
        column = gettext(params["column"])
    assert (row, column, shown) == (2, "Quantity", "Quantity must be a whole number, 0 or more")
    assert total == "Import failed: 1 rows are wrong; no stock was imported"


# -- import_orders: every fault, idempotence, customers by name ----------------------------

def order_row(**cells):
    row = {"订单编号": "DD2026001", "客户编号": "KH261123001", "日期": "2026-11-01",
           "送货地址": "北京市海淀区", "状态": "已回款", **TV, "数量": "2", "单位": "台",
           "单价": "7,500"}
    return {**row, **cells}


@pytest.fixture
def customer(users):
    return Customer.create_numbered(NOW, name="北京恒通电子有限公司", manager=users["xiaoming"])


def test_an_order_row_reports_every_fault_with_its_column(customer):
    rows = [order_row(),
            order_row(订单编号="DD2", 客户编号="KH0", 日期="2026-13-01", 状态="部分回款",
                      型号="", 数量="0", 单价="NaN"),
            order_row(订单编号="DD3", 单价="-1", 单位="台" * 21)]
    with pytest.raises(ImportRefused) as refused:
        import_orders(rows)
    assert faults(refused.value) == [
        (3, "客户编号", "客户编号“%(value)s”不存在"), (3, "日期", "日期须为 年-月-日"),
        (3, "状态", "状态须为已回款或未回款"), (3, "型号", "请填写%(label)s"),
        (3, "数量", "%(label)s须为大于 0 的整数"), (3, "单价", "%(label)s须为数字"),
        (4, "单位", "%(label)s不能超过 %(limit)d 个字"), (4, "单价", "%(label)s不能为负数")]
    assert Order.select().count() == 0 and Product.select().count() == 0


def test_the_lines_of_one_order_must_repeat_its_header(customer):
    with pytest.raises(ImportRefused) as refused:
        import_orders([order_row(), order_row(日期="2026-11-02", 状态="未回款", 数量="1")])
    assert faults(refused.value) == [(3, "日期", "同一订单的%(label)s与第 %(row)d 行不同"),
                                     (3, "状态", "同一订单的%(label)s与第 %(row)d 行不同")]
    assert refused.value.errors[0][2]["row"] == 2


def test_importing_the_same_orders_again_changes_nothing(customer):
    rows = [order_row(), order_row(**RADIO, 数量="10", 单价="36.50"),
            order_row(订单编号="DD2026002", 日期="2026/11/5", 数量="1")]
    done = import_orders(rows)
    assert (done.created, done.updated, done.unchanged, done.products) == (2, 0, 0, 2)
    assert done == (2, 0)  # as a tuple: (created, updated), as before
    lines = list(OrderLine.select().order_by(OrderLine.id).tuples())
    again = import_orders(rows)
    assert (again.created, again.updated, again.unchanged, again.products) == (0, 0, 2, 0)
    assert list(OrderLine.select().order_by(OrderLine.id).tuples()) == lines  # not rewritten
    changed = import_orders([*rows[:2], order_row(订单编号="DD2026002", 日期="2026-11-05",
                                                  数量="3")])
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)
    order = Order.get(Order.number == "DD2026002")
    assert (order.date, order.total) == (datetime.date(2026, 11, 5), Decimal("22500"))


def test_an_order_names_its_customer_by_number_or_else_by_name(customer, users):
    Customer.create_numbered(NOW, name="同名公司", manager=users["xiaoming"])
    Customer.create_numbered(NOW, name="同名公司", manager=users["wangcai"])
    gone = Customer.create_numbered(NOW, name="已删除公司", manager=users["wangcai"])
    gone.remove(by=users["supervisor"].id, at=NOW)
    rows = [order_row(客户编号="", 客户名称="北京恒通电子有限公司"),
            order_row(订单编号="DD2", 客户编号=customer.number, 客户名称="别的名字")]
    assert import_orders(rows).created == 2
    assert {o.customer_id for o in Order.select()} == {customer.id}
    with pytest.raises(ImportRefused) as refused:
        import_orders([order_row(订单编号="DD3", 客户编号="", 客户名称="同名公司"),
                       order_row(订单编号="DD4", 客户编号="", 客户名称="已删除公司"),
                       order_row(订单编号="DD5", 客户编号="", 客户名称="")])
    assert faults(refused.value) == [
        (2, "客户名称", "有多个客户名为“%(value)s”，请填写客户编号"),
        (3, "客户名称", "客户名称“%(value)s”不存在"),
        (4, "客户编号", "请填写客户编号或客户名称")]


def test_order_columns_may_have_their_english_names_and_xlsx_cells_their_types(customer):
    row = {"Order No.": "DD9", "customer name": customer.name,
           "Date": datetime.datetime(2026, 11, 20), "Delivery address": "北京", "status": "Paid",
           "product": "幸福牌电视机", "model": "818 FFT", "batch": "2388 EA03", "qty": 3,
           "unit": "台", "unit price": 7350.5}
    assert import_orders([row]).created == 1
    order = Order.get(Order.number == "DD9")
    assert (order.date, order.status, order.total) == (datetime.date(2026, 11, 20), Order.PAID,
                                                       Decimal("22051.50"))


def test_an_orders_file_without_a_customer_column_is_refused(customer):
    row = {k: v for k, v in order_row().items() if k != "客户编号"}
    with pytest.raises(ImportRefused) as refused:
        import_orders([row])
    assert [(r, m, p) for r, m, p in refused.value.errors] == [
        (1, "缺少“%(label)s”或“%(other)s”列", {"label": "客户编号", "other": "客户名称"})]


# -- the commands ---------------------------------------------------------------------------

def write_csv(path, rows, encoding="utf-8-sig"):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return str(path)


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_flask_import_stock_reports_what_it_did_in_chinese_or_english(app, products, tmp_path):
    path = write_csv(tmp_path / "stock.csv", [stock_row(), stock_row(RADIO, 件数="1,500")],
                     encoding="gb18030")  # as Excel saves a CSV on a Chinese Windows
    first = cli(app, "import-stock", path)
    assert first.exit_code == 0, first.output
    assert first.output == "库存：新增 2，更新 0，未变 0\n"
    again = cli(app, "import-stock", "--lang", "en", path)
    assert again.exit_code == 0 and again.output == "Stock: 0 created, 0 updated, 2 unchanged\n"
    assert cli(app, "import-stock", "--lang", "zh", path).output == "库存：新增 0，更新 0，未变 2\n"


def test_flask_import_stock_refuses_a_bad_file_with_every_fault(app, products, tmp_path):
    path = write_csv(tmp_path / "stock.csv", [stock_row(件数="5"), stock_row(仓库="", 件数="-1"),
                                              stock_row(RADIO, 批次="X")])
    result = cli(app, "import-stock", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "第 3 行“仓库”列：请填写仓库",
        "第 3 行“件数”列：件数须为不小于 0 的整数",
        "第 4 行“商品名称”列：商品“幸福牌收音机-天语007-X”不存在（按商品名称、型号、批次查找）",
        "导入失败：2 行有误，未导入任何库存"]
    english = cli(app, "import-stock", "--lang", "en", path)
    assert english.exit_code == 1
    assert english.stderr.splitlines() == [
        "Row 3, column “Warehouse”: Warehouse is required",
        "Row 3, column “Quantity”: Quantity must be a whole number, 0 or more",
        "Row 4, column “Product name”: There is no product “幸福牌收音机-天语007-X” "
        "(looked up by product name, model and batch)",
        "Import failed: 2 rows are wrong; no stock was imported"]
    assert Stock.select().count() == 0


def test_flask_import_stock_refuses_what_it_cannot_read(app, tmp_path):
    missing = cli(app, "import-stock", str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and missing.stderr == f"无法打开文件“{tmp_path}/none.csv”\n"
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    unreadable = cli(app, "import-stock", "--lang", "en", str(tmp_path / "bad.xlsx"))
    assert unreadable.exit_code == 1
    assert unreadable.stderr == "The file cannot be read: please upload a CSV or XLSX file\n"
    headers = write_csv(tmp_path / "headers.csv", [{"名称": "x", "件数": "1"}])
    result = cli(app, "import-stock", headers)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "第 1 行：缺少“商品名称”列", "第 1 行：缺少“型号”列", "第 1 行：缺少“批次”列",
        "第 1 行：缺少“仓库”列", "第 1 行：缺少“货位”列",
        "导入失败：文件的表头有误，未导入任何数据"]


def test_flask_import_orders_reports_and_refuses_in_the_users_language(app, customer,
                                                                       tmp_path):
    good = write_csv(tmp_path / "orders.csv", [order_row(), order_row(**RADIO, 单价="36")])
    first = cli(app, "import-orders", good)
    assert first.exit_code == 0 and first.output == "订单：新增 1，更新 0，未变 0；新增商品 2\n"
    again = cli(app, "import-orders", "--lang", "en", good)
    assert again.exit_code == 0
    assert again.output == "Orders: 0 created, 0 updated, 1 unchanged; 0 new products\n"
    bad = write_csv(tmp_path / "bad.csv", [order_row(订单编号="DD2", 日期="昨天", 数量="两"),
                                           order_row(订单编号="DD3", 客户编号="KH0")])
    result = cli(app, "import-orders", bad)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "第 2 行“日期”列：日期须为 年-月-日", "第 2 行“数量”列：数量须为大于 0 的整数",
        "第 3 行“客户编号”列：客户编号“KH0”不存在", "导入失败：2 行有误，未导入任何订单"]
    english = cli(app, "import-orders", "--lang", "en", bad)
    assert english.exit_code == 1
    assert english.stderr.splitlines() == [
        "Row 2, column “Date”: The date must be year-month-day",
        "Row 2, column “Quantity”: Quantity must be a whole number above 0",
        "Row 3, column “Customer no.”: Customer number “KH0” does not exist",
        "Import failed: 2 rows are wrong; no order was imported"]
    assert [o.number for o in Order.select()] == ["DD2026001"]


def test_the_report_speaks_the_installations_language_by_default(fresh_app, tmp_path):
    from models import db, schema
    from seed import reference
    app = fresh_app(DATABASE_URL=f"sqlite:///{tmp_path}/en.db", SECRET_KEY="k",
                    SECURITY_PASSWORD_SALT="s", BABEL_DEFAULT_LOCALE="en")
    with app.app_context():
        schema.upgrade(db.obj)
        reference.load()
    result = cli(app, "import-stock", write_csv(tmp_path / "s.csv", [stock_row()]))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Row 2, column “Product name”: There is no")


# -- the sample files of seed/erp/ on the demo data ---------------------------------------------

def snapshot():
    """Everything an ERP import writes or derives."""
    return {
        "orders": list(Order.select(Order.id, Order.number, Order.customer, Order.date,
                                    Order.address, Order.status).order_by(Order.id).tuples()),
        "lines": list(OrderLine.select().order_by(OrderLine.id).tuples()),
        "products": list(Product.select().order_by(Product.id).tuples()),
        "stock": list(Stock.select().order_by(Stock.id).tuples()),
        "sales": list(CustomerSales.select().order_by(CustomerSales.customer,
                                                      CustomerSales.year).tuples()),
    }


SAMPLE_RUNS = [  # what the first import of each sample file does on the demo data
    ("import-orders", "orders.csv", "订单：新增 5，更新 0，未变 0；新增商品 0",
     "订单：新增 0，更新 0，未变 5；新增商品 0"),
    ("import-orders", "orders.xlsx", "订单：新增 3，更新 0，未变 0；新增商品 0",
     "订单：新增 0，更新 0，未变 3；新增商品 0"),
    ("import-stock", "stock.csv", "库存：新增 2，更新 5，未变 7", "库存：新增 0，更新 0，未变 14"),
]


@pytest.mark.parametrize("day", [None, datetime.date(2031, 2, 10)])
def test_the_sample_files_import_cleanly_into_the_demo_and_again_change_nothing(app, day):
    """On the demo as ``flask seed-demo`` (= init-db --demo-if-new) loads it today, and as it
    would on another day: its 客户编号 change with the day, its names do not."""
    if day is None:
        assert cli(app, "seed-demo").exit_code == 0
    else:
        with app.app_context():
            demo.load(today=day)
    orders = Order.select().count()
    for command, name, first, second in SAMPLE_RUNS:
        path = os.path.join(SAMPLES, name)
        result = cli(app, command, path)
        assert (result.exit_code, result.output) == (0, first + "\n"), result.output
        before = snapshot()
        result = cli(app, command, path)
        assert (result.exit_code, result.output) == (0, second + "\n"), result.output
        assert snapshot() == before
    assert Order.select().count() == orders + 8
    assert OrderLine.select().join(Order).where(Order.number.startswith("ERP")).count() == 21
    assert Stock.select().where(Stock.location == "C-05-03").get().quantity == 60


def test_the_sample_orders_have_several_lines_each_and_typed_xlsx_cells():
    book = openpyxl.load_workbook(os.path.join(SAMPLES, "orders.xlsx"))
    rows = list(book.active.iter_rows(values_only=True))
    numbers = [row[0] for row in rows[1:]]
    assert all(numbers.count(number) >= 2 for number in numbers)
    assert isinstance(rows[1][2], datetime.datetime) and isinstance(rows[1][8], int)
    with open(os.path.join(SAMPLES, "orders.csv"), encoding="utf-8-sig") as fh:
        numbers = [line.split(",")[0] for line in fh.read().splitlines()[1:]]
    assert all(numbers.count(number) >= 2 for number in numbers)


def test_the_readme_shows_the_import_commands_on_the_shipped_samples():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    shown = re.findall(r"flask (import-orders|import-stock) seed/erp/(\S+)", readme)
    assert sorted(shown) == sorted((command, name) for command, name, _, _ in SAMPLE_RUNS)


def test_an_import_is_audited_with_what_it_did(app):
    """One import batch tags every audit entry an import writes, with one 导入 entry of its
    counts, from the command (models/audit.py)."""
    from models import AuditEntry, ImportBatch
    from models.audit import CREATE, IMPORT
    assert cli(app, "seed-demo").exit_code == 0
    assert cli(app, "import-stock", os.path.join(SAMPLES, "stock.csv")).exit_code == 0
    with app.app_context():
        batch = ImportBatch.get(ImportBatch.entity == "stock")
        assert (batch.file_name, batch.mode, batch.created, batch.updated, batch.skipped) == (
            "stock.csv", "erp", 2, 5, 7)
        entry = AuditEntry.get(AuditEntry.action == IMPORT)
        assert (entry.entity, entry.origin, entry.batch, entry.label) == (
            "stock", "flask import-stock", batch.id, "stock.csv")
        assert {name: after for name, (_, after) in entry.changed.items()} == {
            "created": 2, "updated": 5, "unchanged": 7}
        tagged = AuditEntry.select().where(AuditEntry.batch == batch.id)
        assert [e.action for e in tagged].count(CREATE) == 2
        assert tagged.count() == 2 + 5 + 1  # each record it created or changed, and itself
