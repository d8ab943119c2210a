"""Exports of any size: every row of the list (its filters, search and row scope),
streamed in bounded memory, as CSV (UTF-8 with BOM) or XLSX (admin_views/exports.py)."""
import csv
import io
import os
import tracemalloc
from decimal import Decimal

import openpyxl
import pytest

from admin_views import exports
from models import Customer
from tests.test_lists_at_scale import many_customers

OLD_CAP = 10000  # where the list exports used to stop, silently


def read(kind, body):
    if kind == "csv":
        text = body.decode("utf-8")
        assert text.startswith("\ufeff")
        return list(csv.reader(io.StringIO(text[1:])))
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).active
    return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_list_export_holds_every_row_of_the_scope_past_any_old_cap(client_for, users, kind):
    many_customers(users["xiaoming"], OLD_CAP + 50)
    many_customers(users["wangcai"], 30, start=OLD_CAP + 100)
    response = client_for("xiaoming").get(f"/admin/customer/export/{kind}/")
    assert response.status_code == 200 and response.is_streamed
    rows = read(kind, response.get_data())
    numbers = {row[rows[0].index("客户编号")] for row in rows[1:]}
    assert len(rows) - 1 == len(numbers) == OLD_CAP + 50  # all his, none of 旺财's
    assert numbers == {c.number for c in Customer.select().where(
        Customer.manager == users["xiaoming"])}
    assert rows[1][rows[0].index("客户经理")] == "小明"  # related labels, read per chunk


def test_an_export_follows_the_lists_filters_and_sort(client_for, users):
    many_customers(users["xiaoming"], 40)
    many_customers(users["wangcai"], 25, start=100)
    client = client_for("supervisor")
    rows = read("csv", client.get(
        f"/admin/customer/export/csv/?flt0_2={users['wangcai'].id}&sort=0&desc=1").get_data())
    numbers = [row[rows[0].index("客户编号")] for row in rows[1:]]
    assert numbers == sorted((f"KH{100 + i:09d}" for i in range(25)), reverse=True)


def test_an_export_reads_its_rows_in_chunks_not_row_by_row(client_for, users, database):
    many_customers(users["xiaoming"], 2 * exports.CHUNK + 10)
    client = client_for("xiaoming")
    client.get("/admin/customer/")  # warm: the user, his roles
    seen = []
    real = database.execute_sql
    database.execute_sql = lambda sql, *a, **k: seen.append(sql) or real(sql, *a, **k)
    try:
        client.get("/admin/customer/export/csv/").get_data()
    finally:
        database.execute_sql = real
    assert len(seen) < 20  # the rows once, the 客户经理 once per chunk: never one per row


def test_chunks_are_bounded_and_cover_the_query(users):
    many_customers(users["xiaoming"], 25)
    chunks = list(exports.chunks(Customer.select().order_by(Customer.id), size=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [c.id for chunk in chunks for c in chunk] == [
        c.id for c in Customer.select().order_by(Customer.id)]


def synthetic(count):
    return ([f"KH{i:09d}", f"=客户{i}", Decimal(i) / 4, None, i] for i in range(count))


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_export_takes_bounded_memory_whatever_its_size(app, kind):
    """Peak Python memory while answering 3,000 rows vs 6,000: not doubled (the rows are
    never all held; XLSX goes through a temporary file)."""
    def peak(count):
        with app.test_request_context():
            tracemalloc.start()
            try:
                body = exports.response(kind, "客户.x", ["编号", "名称", "金额", "空", "数"],
                                        synthetic(count), money_columns=[2])
                size = sum(len(block) for block in body.iter_encoded())
                return tracemalloc.get_traced_memory()[1], size
            finally:
                tracemalloc.stop()
    (small, small_size), (large, large_size) = peak(3000), peak(6000)
    assert large_size > 1.8 * small_size  # twice the rows were written
    assert large < 1.5 * small, (small, large)


def test_xlsx_cells_are_typed_and_the_temporary_file_goes(app):
    with app.test_request_context():
        fds = len(os.listdir("/proc/self/fd"))
        response = exports.response("xlsx", "客户导出.xlsx", ["编号", "名称", "金额", "空"],
                                    iter([["KH1", "=1+1", Decimal("7500.5"), None]]),
                                    money_columns=[2])
        body = b"".join(response.iter_encoded())
        assert len(os.listdir("/proc/self/fd")) == fds  # the temporary file is closed, gone
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    name, amount = sheet.cell(2, 2), sheet.cell(2, 3)
    assert (name.value, name.data_type) == ("=1+1", "s")  # text, never a formula, unchanged
    assert (amount.value, amount.number_format) == (7500.5, exports.MONEY_FORMAT)
    assert sheet.cell(2, 4).value is None
    assert "filename*=UTF-8''%E5%AE%A2%E6%88%B7" in response.headers["Content-Disposition"]


def test_csv_cells_are_safe_and_blank_for_none(app):
    with app.test_request_context():
        response = exports.response("csv", "x.csv", ["a", "b", "c"],
                                    iter([["@SUM(1)", None, Decimal("1.50")]]))
        assert response.is_streamed
        text = b"".join(response.iter_encoded()).decode("utf-8")
    assert text == "\ufeffa,b,c\r\n'@SUM(1),,1.50\r\n"
