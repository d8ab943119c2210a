"""导入客户: preview (nothing written), the three modes, duplicates, the export → import round
trip, undo, the template, the permission on every URL and bad files — through the forms and
buttons the import page renders, as the 销售主管 who holds the import; the rules of
models/customers/imports.py also without HTTP."""
import csv
import datetime
import html
import io
import json
import re
import threading
from decimal import Decimal

import openpyxl
import pytest

from models import AuditEntry, Contact, Customer, DictionaryEntry, ImportBatch, User, audit
from models.base import local
from models.basedata import CUSTOMER_LEVEL, REGION
from models.customers import imports
from models.tabular import MAX_BYTES
from tests.conftest import csrf_token, make_user, race

NOW = datetime.datetime(2026, 11, 23, 2, 0)  # 10:00 in Beijing
PAGE = "/admin/customer/import/"
HEADERS = ["名称", "地区", "客户经理", "客户等级", "客户满意度", "客户信用度", "地址", "邮政编码",
           "电话", "传真", "网址", "法人", "开户银行", "银行帐号"]
GOOD = ["杭州湖畔科技", "华北", "xiaoming", "大客户", "4", "5", "杭州市", "310000", "0571-1",
        "0571-2", "www.hp.cn", "钱七", "农业银行", "6228"]


@pytest.fixture(autouse=True)
def pending_folder(app, tmp_path, monkeypatch):
    """Previews wait in the test's own folder, not in the instance folder."""
    monkeypatch.setitem(app.config, "CRM_IMPORT_FOLDER", str(tmp_path / "pending"))
    return tmp_path / "pending"


def text(response):
    return response.get_data(as_text=True)


def table(rows, headers=HEADERS):
    """A CSV as Excel saves it (UTF-8 with BOM, CRLF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def row(**cells):
    values = dict(zip(HEADERS, GOOD, strict=True))
    values.update(cells)
    return [values[h] for h in HEADERS]


def customer(users, name="上海东方贸易", phone="021-1", manager="xiaoming", **fields):
    """A complete customer, created as the app creates one (numbered, audited)."""
    values = {"name": name, "region": "北京", "manager": users[manager], "level": 1,
              "satisfaction": 3, "credit": 3, "address": "上海市", "zip_code": "200120",
              "phone": phone, "fax": "021-2", "website": "www.df.cn", "legal_person": "赵六",
              "bank": "建设银行", "bank_account": "6227", **fields}
    return Customer.create_numbered(NOW, **values)


def snapshot():
    return {c["id"]: c for c in Customer.select().order_by(Customer.id).dicts()}


# -- following the page ------------------------------------------------------------------

def form_of(page, form_id):
    found = re.search(rf'<form[^>]*id="{form_id}"[^>]*>(.*?)</form>', page, re.S)
    assert found, f"no form #{form_id}"
    opening = re.search(rf'<form[^>]*id="{form_id}"[^>]*>', page).group(0)
    action = html.unescape(re.search(r'action="([^"]*)"', opening).group(1))
    fields = {html.unescape(name): html.unescape(value) for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found.group(1))}
    return action, fields


def upload(client, content, filename="customers.csv", mode=None):
    """Choose the file (and a mode) on the import page and press 预览."""
    page = text(client.get(PAGE))
    action, fields = form_of(page, "crm-import-form")
    if mode is None:
        mode = re.search(r'name="mode"[^>]*value="([^"]+)"[^>]*checked|'
                         r'checked[^>]*name="mode"[^>]*value="([^"]+)"', page)
        mode = next(m for m in mode.groups() if m)
    assert f'value="{mode}"' in page
    return client.post(action, content_type="multipart/form-data",
                       data={**fields, "mode": mode, "file": (io.BytesIO(content), filename)})


def counts(page):
    return {outcome: int(count) for outcome, count in
            re.findall(r'data-outcome="(\w+)" data-count="(\d+)"', page)}


def preview_rows(page):
    """{row number: (outcome, [(column, message)…], text of the row)}."""
    found = {}
    body = page.split('id="crm-import-rows"', 1)[1].split("</table>", 1)[0]
    for number, outcome, cells in re.findall(
            r'<tr class="crm-import-\w+" data-row="(\d+)" data-outcome="(\w+)">(.*?)</tr>', body,
            re.S):
        faults = [(html.unescape(c), html.unescape(m).strip()) for c, m in re.findall(
            r'<li><span class="crm-import-column[^"]*">(.*?)</span>：(.*?)</li>', cells, re.S)]
        found[int(number)] = (outcome, faults, html.unescape(re.sub(r"<[^>]+>", " ", cells)))
    return found


def confirm(client, page):
    """Press 确认导入 on the preview."""
    action, fields = form_of(page, "crm-import-confirm")
    return client.post(action, data=fields)


def undo_button(page, batch):
    found = re.search(rf'<tr data-batch="{batch.id}">(.*?)</tr>', page, re.S)
    assert found, f"batch {batch.id} not listed"
    return re.search(r'<form[^>]*class="[^"]*crm-import-undo[^"]*"[^>]*>.*?</form>',
                     found.group(1), re.S)


def press_undo(client, batch):
    """Press 撤销 on the batch's row (after its question)."""
    button = undo_button(text(client.get(PAGE)), batch)
    assert button, "no 撤销 for this batch"
    assert "data-confirm=" in button.group(0) and batch.file_name in button.group(0)
    action = html.unescape(re.search(r'action="([^"]*)"', button.group(0)).group(1))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                             button.group(0)))
    return client.post(action, data=fields)


def flashed(client):
    page = text(client.get(PAGE))
    return " ".join(re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>.*?</[^>]+>", "", m)))
                    for m in re.findall(r'<div class="alert alert-[a-z]+[^"]*"[^>]*>(.*?)</div>',
                                        page, re.S)).strip()


def imported(client, content, filename="customers.csv", mode=None):
    """Upload, check the preview offers 确认导入, press it; the batch written."""
    page = text(upload(client, content, filename, mode))
    assert 'id="crm-import-confirm"' in page, preview_rows(page)
    assert confirm(client, page).status_code == 302
    return ImportBatch.select().order_by(ImportBatch.id.desc()).first()


# -- preview -----------------------------------------------------------------------------

def test_the_preview_counts_every_outcome_and_names_every_fault_of_a_row(client_for, users):
    changed = customer(users, "变更客户", "010-1")
    same = customer(users, "不变客户", "010-2")
    before, entries = snapshot(), AuditEntry.select().count()
    headers = ["客户编号", *HEADERS]
    content = table([
        ["", *row(名称="新客户")],
        [changed.number, *row(名称="变更客户", 电话="010-9", 地区="北京", 客户等级="普通客户",
                               客户满意度="3", 客户信用度="3", 地址="上海市", 邮政编码="200120")],
        [same.number, "不变客户", "北京", "小明", "普通客户", "☆☆☆", "☆☆☆", "上海市", "200120",
         "010-2", "021-2", "www.df.cn", "赵六", "建设银行", "6227"],
        ["", *row(名称="错客户", 地区="火星", 客户经理="nobody", 客户满意度="9", 地址="",
                  电话="010-5")],
    ], headers)
    page = text(upload(client_for("supervisor"), content))
    assert counts(page) == {"new": 1, "changed": 1, "skipped": 1, "faulty": 1}
    found = preview_rows(page)
    assert [found[n][0] for n in (2, 3, 4, 5)] == ["new", "changed", "skipped", "faulty"]
    faults = dict(found[5][1])
    assert set(faults) == {"地区", "客户经理", "客户满意度", "地址"}  # all of them, each by column
    assert "火星" in faults["地区"] and "nobody" in faults["客户经理"]
    assert "电话" in found[3][2] and "010-1" in found[3][2] and "010-9" in found[3][2]
    assert "确认导入" not in page and 'id="crm-import-refused"' in page  # an error: no confirm
    assert snapshot() == before and AuditEntry.select().count() == entries
    assert not ImportBatch.select().exists()


def test_a_preview_writes_nothing_and_the_confirmation_writes_it_all(client_for, users,
                                                                      pending_folder):
    client = client_for("supervisor")
    page = text(upload(client, table([row(), row(名称="第二家", 电话="0571-3",
                                               客户经理="旺财", 客户等级="5")])))
    assert counts(page) == {"new": 2, "changed": 0, "skipped": 0, "faulty": 0}
    assert not Customer.select().exists() and not AuditEntry.select().exists()
    waiting = list(pending_folder.iterdir())  # the checked rows wait on the server, 0600
    assert len(waiting) == 1 and waiting[0].stat().st_mode & 0o777 == 0o600
    assert pending_folder.stat().st_mode & 0o777 == 0o700
    assert "杭州湖畔科技" not in form_of(page, "crm-import-confirm")[1].values()  # a token only
    assert confirm(client, page).status_code == 302
    assert "导入完成：新增 2 个客户，更新 0 个，跳过 0 个" in flashed(client)
    assert list(pending_folder.iterdir()) == []
    first, second = Customer.select().order_by(Customer.number)
    assert (first.name, first.manager_id, first.level, first.satisfaction, first.credit) == (
        "杭州湖畔科技", users["xiaoming"].id, 3, 4, 5)
    assert second.manager_id == users["wangcai"].id and second.number.startswith("KH")
    batch = ImportBatch.get()
    assert (batch.user_id, batch.file_name, batch.mode, batch.created, batch.status) == (
        users["supervisor"].id, "customers.csv", imports.UPSERT, 2, ImportBatch.DONE)
    entries = list(AuditEntry.select().order_by(AuditEntry.id))
    assert [(e.action, e.entity, e.batch) for e in entries] == [
        (audit.CREATE, "customer", batch.id)] * 2 + [(audit.IMPORT, "customer", batch.id)]
    assert entries[-1].label == "customers.csv" and entries[-1].note is None
    assert entries[-1].changed == {"mode": (None, imports.UPSERT), "created": (None, 2),
                                   "updated": (None, 0), "unchanged": (None, 0)}
    assert entries[-1].user_id == users["supervisor"].id
    # the same token again imports nothing more
    assert confirm(client, page).status_code == 302
    assert "预览已失效" in flashed(client) and Customer.select().count() == 2


@pytest.mark.parametrize("mode, outcomes, names", [
    (imports.CREATE, ["skipped", "new"], {"老客户", "新客户"}),
    (imports.UPSERT, ["changed", "new"], {"老客户改名", "新客户"}),
    (imports.UPDATE, ["changed", "skipped"], {"老客户改名"}),
])
def test_each_mode_creates_or_updates_or_skips_what_it_says(client_for, users, mode, outcomes,
                                                             names):
    old = customer(users, "老客户", "010-1")
    content = table([[old.number, *row(名称="老客户改名", 电话="010-1")],
                     ["", *row(名称="新客户", 电话="010-7")]], ["客户编号", *HEADERS])
    client = client_for("supervisor")
    page = text(upload(client, content, mode=mode))
    assert [found[0] for _, found in sorted(preview_rows(page).items())] == outcomes
    confirm(client, page)
    assert {c.name for c in Customer.select()} == names
    assert Customer.select().count() == len(names)


def test_an_update_writes_only_the_columns_in_the_file(client_for, users):
    old = customer(users, "老客户", "010-1", website="www.old.cn")
    client = client_for("supervisor")
    imported(client, table([[old.number, "010-8"]], ["客户编号", "电话"]), mode=imports.UPDATE)
    after = Customer.get_by_id(old.id)
    assert after.phone == "010-8" and after.website == "www.old.cn" and after.number == old.number
    change, = [e for e in AuditEntry.of("customer", old.id) if e.action == audit.UPDATE]
    assert change.changed == {"phone": ("010-1", "010-8")}


def test_customers_are_matched_by_name_and_phone_when_no_number_is_given(client_for, users):
    old = customer(users, "老客户", "010-1")
    page = text(upload(client_for("supervisor"), table([row(名称="老客户", 电话="010-1",
                                                           网址="www.new.cn")])))
    assert counts(page)["changed"] == 1 and old.number in page


# -- duplicates --------------------------------------------------------------------------

def test_duplicates_within_the_file_are_errors_of_each_row(client_for, users):
    old = customer(users, "老客户", "010-1")
    content = table([
        [old.number, *row(名称="老客户", 电话="010-1")],
        ["", *row(名称="老客户", 电话="010-1")],  # the same customer by 名称 + 电话
        ["", *row(名称="新客户", 电话="010-5")],
        ["", *row(名称="新客户", 电话="010-5")],  # two new ones alike
        ["", *row(名称="另一家", 电话="010-6")],
    ], ["客户编号", *HEADERS])
    page = text(upload(client_for("supervisor"), content))
    found = preview_rows(page)
    assert {n: found[n][0] for n in found} == {2: "faulty", 3: "faulty", 4: "faulty",
                                               5: "faulty", 6: "new"}
    assert "与第 3 行是同一客户" in dict(found[2][1])["客户编号"]
    assert "与第 2 行是同一客户" in dict(found[3][1])["名称"]
    assert "与第 5 行的名称和电话相同" in dict(found[4][1])["名称"]
    assert "确认导入" not in page and Customer.select().count() == 1


def test_duplicates_against_the_database_are_errors_never_new_customers(client_for, users):
    twin_a = customer(users, "双胞胎", "010-1")
    customer(users, "双胞胎", "010-1")
    other = customer(users, "别家", "010-2")
    lost = customer(users, "流失客户", "010-3", status=Customer.LOST)
    content = table([
        ["", *row(名称="双胞胎", 电话="010-1")],  # two customers alike: which one?
        ["KH000000001", *row(名称="无此编号")],  # a 客户编号 matching nothing
        [other.number, *row(名称="双胞胎", 电话="010-1")],  # would make him a third twin
        [lost.number, *row(名称="流失客户", 电话="010-3")],  # only 正常 customers are updated
    ], ["客户编号", *HEADERS])
    page = text(upload(client_for("supervisor"), content))
    found = preview_rows(page)
    assert all(found[n][0] == "faulty" for n in (2, 3, 4, 5))
    assert "有 2 个客户的名称和电话与此行相同" in dict(found[2][1])["名称"]
    assert twin_a.number in dict(found[2][1])["名称"]
    assert "KH000000001" in dict(found[3][1])["客户编号"]
    assert "已有名称和电话相同的客户" in dict(found[4][1])["名称"]
    assert "已流失" in dict(found[5][1])["客户编号"]
    assert Customer.select().count() == 4


# -- the round trip -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize("english", [False, True])
def test_the_lists_own_export_imports_back_as_an_update_that_changes_nothing(
        app, client_for, users, kind, english):
    customer(users, "第一家", "010-1", registered_capital=Decimal("1234.50"),
             annual_revenue=Decimal("9876543.21"), level=3, satisfaction=5, credit=1,
             license_no="91330100", zip_code="010020")
    customer(users, "=1+1", "010-2", manager="wangcai")  # a name Excel would run as a formula
    customer(users, "第三家", "13800138000", national_tax_no="330100", website=None, fax=None)
    gone = make_user(app, "zhoujie", "周洁", ["manager"])
    customer(users | {"zhoujie": gone}, "离职经理的客户", "010-4", manager="zhoujie")
    User.update(active=False).where(User.id == gone.id).execute()  # he has left since
    client = client_for("supervisor")
    if english:
        client.get("/locale/en")
    before, entries = snapshot(), AuditEntry.select().count()
    listing = text(client.get("/admin/customer/"))
    link = re.search(rf'href="([^"]*/export/{kind}/[^"]*)"', listing).group(1)
    exported = client.get(html.unescape(link))
    assert exported.status_code == 200
    page = text(upload(client, exported.get_data(), f"export.{kind}", mode=imports.UPSERT))
    assert counts(page) == {"new": 0, "changed": 0, "skipped": 4, "faulty": 0}, \
        preview_rows(page)
    assert confirm(client, page).status_code == 302
    assert snapshot() == before
    assert AuditEntry.select().count() == entries + 1  # the import's own entry, nothing else
    batch = ImportBatch.get()
    assert (batch.created, batch.updated, batch.skipped) == (0, 0, 4)


def test_an_edited_export_updates_what_was_edited(client_for, users):
    first = customer(users, "第一家", "010-1")
    client = client_for("supervisor")
    exported = client.get("/admin/customer/export/xlsx/").get_data()
    book = openpyxl.load_workbook(io.BytesIO(exported))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    sheet.cell(2, header.index("客户满意度") + 1).value = 5  # a typed number now
    sheet.cell(2, header.index("注册资金（万元）") + 1).value = 88.5
    sheet.cell(2, header.index("地址") + 1).value = "上海市黄浦区"
    out = io.BytesIO()
    book.save(out)
    page = text(upload(client, out.getvalue(), "export.xlsx"))
    assert counts(page)["changed"] == 1
    confirm(client, page)
    after = Customer.get_by_id(first.id)
    assert (after.satisfaction, after.registered_capital, after.address) == (
        5, Decimal("88.50"), "上海市黄浦区")


# -- undo --------------------------------------------------------------------------------

def test_the_importer_undoes_his_batch_and_the_audit_log_records_both(client_for, users):
    client = client_for("supervisor")
    old = customer(users, "老客户", "010-1", address="旧地址")
    before = snapshot()
    same = ["老客户", "北京", "xiaoming", "普通客户", "3", "3", "新地址", "200120", "010-1",
            "021-2", "www.df.cn", "赵六", "建设银行", "6227"]  # only 地址 differs
    batch = imported(client, table([[old.number, *same], ["", *row(名称="新客户", 电话="010-7")]],
                                   ["客户编号", *HEADERS]))
    assert (batch.created, batch.updated) == (1, 1)
    assert Customer.get_by_id(old.id).address == "新地址"
    assert press_undo(client, batch).status_code == 302
    assert "已撤销导入批次" in flashed(client)
    assert snapshot() == before  # the new one gone, the old one as he was
    batch = ImportBatch.get_by_id(batch.id)
    assert (batch.status, batch.undone_by_id) == (ImportBatch.UNDONE, users["supervisor"].id)
    entries = list(AuditEntry.select().where(AuditEntry.batch == batch.id).order_by(AuditEntry.id))
    assert [e.action for e in entries] == [audit.UPDATE, audit.CREATE, audit.IMPORT,
                                           audit.UPDATE, audit.DELETE, audit.UNDO]
    assert entries[3].changed == {"address": ("新地址", "旧地址")}
    assert entries[-1].label == batch.file_name and entries[-1].user_id == users["supervisor"].id
    assert undo_button(text(client.get(PAGE)), batch) is None  # once only
    assert "已撤销" in text(client.get(PAGE))


def test_another_supervisor_may_not_undo_the_batch_an_administrator_may(app, client_for,
                                                                       users):
    old = customer(users, "老客户", "010-1")
    batch = imported(client_for("supervisor"), table([[old.number, "010-9"]], ["客户编号", "电话"]))
    other = make_user(app, "zhuguan2", "李主管", ["supervisor"])
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = other.fs_uniquifier
        session["_fresh"] = True
    page = text(client.get(PAGE))
    assert undo_button(page, batch) is None  # listed, without 撤销
    client.post("/admin/customer/import/undo/", data={  # crafted: no button
        "id": batch.id, "csrf_token": csrf_token(client, "/admin/")})
    assert "只有导入人或管理员可以撤销" in flashed(client)
    assert Customer.get_by_id(old.id).phone == "010-9"
    admin = client_for("admin")
    log = text(admin.get("/admin/audit/"))  # he finds the batch from its 导入 entry
    found = re.search(r'href="([^"]*/customer/import/)"', log)
    assert found, "the import entry leads to the import page"
    page = text(admin.get(html.unescape(found.group(1))))
    assert 'id="crm-import-form"' not in page  # he may undo, not import
    assert press_undo(admin, batch).status_code == 302
    assert Customer.get_by_id(old.id).phone == "010-1"
    assert ImportBatch.get_by_id(batch.id).undone_by_id == users["admin"].id


def test_no_undo_once_a_record_of_the_batch_changed_since(client_for, users):
    old = customer(users, "老客户", "010-1")
    client = client_for("supervisor")
    batch = imported(client, table([[old.number, "010-9"]], ["客户编号", "电话"]))
    edited = Customer.get_by_id(old.id)
    edited.website = "www.later.cn"  # 小明 edits his customer afterwards
    edited.save_active(["website"])
    press_undo(client, batch)
    message = flashed(client)
    assert "导入后又有改动" in message and old.number in message
    assert Customer.get_by_id(old.id).phone == "010-9"
    assert ImportBatch.get_by_id(batch.id).status == ImportBatch.DONE


def test_no_undo_once_a_created_customer_has_a_contact(client_for, users):
    client = client_for("supervisor")
    batch = imported(client, table([row()]))
    created = Customer.get()
    Contact.create(customer=created, name="张三", title="经理", office_phone="010-1")
    press_undo(client, batch)
    assert "已有联系人等记录" in flashed(client)
    assert Customer.select().count() == 1
    entries = AuditEntry.select().where(AuditEntry.action == audit.UNDO).count()
    assert entries == 0


def test_an_undo_of_a_batch_undone_already_is_refused(users):
    created = customer(users)
    plan, batch = imports.run_import(
        [(2, {"客户编号": created.number, "电话": "010-9"})], imports.UPSERT,
        file_name="a.csv", by=users["supervisor"], at=NOW)
    assert imports.undo_import(batch, by=users["supervisor"].id, at=NOW) == (0, 1)
    with pytest.raises(imports.DomainError, match="已撤销"):
        imports.undo_import(ImportBatch.get_by_id(batch.id), by=users["supervisor"].id, at=NOW)


# -- the template -----------------------------------------------------------------------

def test_the_xlsx_template_offers_the_valid_values_as_dropdowns(client_for, users):
    client = client_for("supervisor")
    link = re.search(r'href="([^"]+)" id="crm-import-template-xlsx"', text(client.get(PAGE)))
    response = client.get(html.unescape(link.group(1)))
    assert response.status_code == 200
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet, lists = book.worksheets
    assert lists.sheet_state == "hidden"
    header = [cell.value for cell in sheet[1]]
    export = text(client.get("/admin/customer/export/csv/")).lstrip("\ufeff").splitlines()[0]
    assert header == export.split(",")[:len(header)]  # the export's labels, in its order
    assert sheet.cell(2, header.index("名称") + 1).value  # one example row
    offered = {}
    for validation in sheet.data_validations.dataValidation:
        reference = validation.formula1.lstrip("=")
        sheet_name, cells = reference.rsplit("!", 1)
        assert sheet_name.strip("'") == lists.title
        first, last = (c.replace("$", "") for c in cells.split(":"))
        values = [row[0].value for row in lists[first:last]]
        for column in str(validation.sqref).split():
            offered[header[openpyxl.utils.column_index_from_string(
                re.match(r"[A-Z]+", column).group(0)) - 1]] = values
    managers = [u.full_name for u in User.managers()]
    assert offered["地区"] == DictionaryEntry.items(REGION)
    assert offered["客户等级"] == [e.item for e in DictionaryEntry.of(CUSTOMER_LEVEL)]
    assert offered["客户经理"] == managers and set(managers) == {"小明", "旺财"}
    assert offered["客户满意度"] == offered["客户信用度"] == ["☆" * n for n in range(1, 6)]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
@pytest.mark.parametrize("english", [False, True])
def test_the_templates_example_row_imports_as_one_new_customer(client_for, users, kind,
                                                               english):
    client = client_for("supervisor")
    if english:
        client.get("/locale/en")
    content = client.get(f"/admin/customer/import/template.{kind}").get_data()
    if kind == "csv" and not english:
        assert content.startswith("\ufeff客户编号,名称,地区,客户经理".encode())
        assert len(content.decode("utf-8-sig").splitlines()) == 2  # the headers, one example
    page = text(upload(client, content, f"template.{kind}"))
    assert counts(page) == {"new": 1, "changed": 0, "skipped": 0, "faulty": 0}, \
        preview_rows(page)


# -- who may ----------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["xiaoming", "executive"])
def test_every_import_url_answers_403_without_the_permission(client_for, users, username):
    client = client_for(username)
    token = csrf_token(client, "/admin/")
    assert 'id="crm-import"' not in text(client.get("/admin/customer/"))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"mode": "upsert", "csrf_token": token}).status_code == 403
    assert client.post("/admin/customer/import/confirm/", data={
        "token": "x" * 43, "csrf_token": token}).status_code == 403
    assert client.post("/admin/customer/import/undo/", data={
        "id": "1", "csrf_token": token}).status_code == 403
    for kind in ("csv", "xlsx"):
        assert client.get(f"/admin/customer/import/template.{kind}").status_code == 403


def test_an_administrator_reaches_only_the_batches(client_for, users):
    client = client_for("admin")
    token = csrf_token(client, "/admin/")
    assert client.get(PAGE).status_code == 200
    assert client.post(PAGE, content_type="multipart/form-data", data={
        "mode": "upsert", "file": (io.BytesIO(table([row()])), "c.csv"),
        "csrf_token": token}).status_code == 403
    assert client.post("/admin/customer/import/confirm/", data={
        "token": "x" * 43, "csrf_token": token}).status_code == 403
    assert client.get("/admin/customer/import/template.csv").status_code == 403
    assert not Customer.select().exists()


def test_anonymous_visitors_are_sent_to_the_login(app):
    client = app.test_client()
    for url in (PAGE, "/admin/customer/import/template.csv"):
        assert "/login" in client.get(url).headers["Location"]


def test_another_users_preview_token_imports_nothing(app, client_for, users):
    page = text(upload(client_for("supervisor"), table([row()])))
    _, fields = form_of(page, "crm-import-confirm")
    other = make_user(app, "zhuguan2", "李主管", ["supervisor"])
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = other.fs_uniquifier
        session["_fresh"] = True
    client.post("/admin/customer/import/confirm/", data={
        "token": fields["token"], "csrf_token": csrf_token(client, "/admin/")})
    assert "预览已失效" in flashed(client) and not Customer.select().exists()
    for token in ("../../secrets", "", "a" * 500):
        client.post("/admin/customer/import/confirm/", data={
            "token": token, "csrf_token": csrf_token(client, "/admin/")})
        assert not Customer.select().exists()


# -- bad files ---------------------------------------------------------------------------

@pytest.mark.parametrize("content, filename, message", [
    (b"\x89PNG\r\n\x1a\n....", "photo.png", "请上传 CSV 或 XLSX 文件"),
    (b"PK\x03\x04 not really a workbook", "customers.xlsx", "无法读取文件"),
    (b"x" * (MAX_BYTES + 1), "big.csv", "文件太大"),
    (b"", "empty.csv", "缺少表头"),
    ("名称,地区\r\n".encode(), "headers-only.csv", "文件中没有客户"),
    ("名字,地方\r\n甲,乙\r\n".encode(), "wrong.csv", "缺少“客户编号”或“名称”列"),
    ("名称,客户名称\r\n甲,乙\r\n".encode(), "twice.csv", "出现了两次"),
])
def test_a_bad_file_is_answered_next_to_the_field_and_writes_nothing(client_for, users, content,
                                                                      filename, message,
                                                                      pending_folder):
    response = upload(client_for("supervisor"), content, filename)
    assert response.status_code == 200
    page = text(response)
    assert 'is-invalid' in page and message in html.unescape(page)
    assert 'id="crm-import-preview"' not in page
    assert not Customer.select().exists() and not ImportBatch.select().exists()
    assert not pending_folder.exists() or not list(pending_folder.iterdir())


def test_a_form_without_a_file_is_answered_next_to_the_field(client_for, users):
    client = client_for("supervisor")
    action, fields = form_of(text(client.get(PAGE)), "crm-import-form")
    page = text(client.post(action, data={**fields, "mode": "upsert"}))
    assert "is-invalid" in page and not Customer.select().exists()
    page = text(client.post(action, content_type="multipart/form-data", data={
        **fields, "mode": "everything", "file": (io.BytesIO(table([row()])), "c.csv")}))
    assert "crm-import-preview" not in page and not Customer.select().exists()


def test_the_confirmation_checks_again_and_writes_nothing_if_a_row_went_wrong(client_for, users):
    old = customer(users, "老客户", "010-1")
    client = client_for("supervisor")
    page = text(upload(client, table([[old.number, *row(名称="老客户", 电话="010-9")],
                                      ["", *row(名称="新客户", 电话="010-8")]],
                                     ["客户编号", *HEADERS])))
    assert 'id="crm-import-confirm"' in page
    old.remove(by=users["xiaoming"].id, at=NOW)  # meanwhile, 删除
    answer = confirm(client, page)
    assert answer.status_code == 200
    again = text(answer)
    assert "再次检查发现错误" in again and preview_rows(again)[2][0] == "faulty"
    assert "确认导入" not in again
    assert Customer.select().count() == 1 and not ImportBatch.select().exists()


# -- the rules, without HTTP ------------------------------------------------------------

def plan(rows, mode=imports.UPSERT, **options):
    return imports.plan_import([(n, cells) for n, cells in enumerate(rows, start=2)], mode, NOW,
                               **options)


def cells(**values):
    return {**dict(zip(HEADERS, GOOD, strict=True)), **values}


@pytest.mark.parametrize("headers, column", [
    (["Customer No.", "Customer Name", "Phone", "Account Manager"], "客户经理"),
    (["编号", "客户名称", "联系电话", "负责人"], "客户经理"),
    (["customer_number", "NAME", "tel", "Registered Capital (10,000 CNY)"], "注册资金（万元）"),
    (["客户编号", "名称 ", "电话", "注册资金(万元)"], "注册资金（万元）"),
])
def test_headers_are_matched_in_chinese_and_english_and_by_common_aliases(headers, column):
    rows, unknown = imports.customer_rows([dict(zip(headers, ["KH1", "甲", "010", "x"],
                                                    strict=True))])
    assert rows == [(2, {"客户编号": "KH1", "名称": "甲", "电话": "010", column: "x"})]
    assert unknown == []


def test_typed_cells_read_as_what_a_user_typed():
    assert [imports.cell_text(v) for v in (4, 4.0, 88.5, Decimal("1234.50"), 310000.0,
                                           datetime.date(2026, 12, 1), "  x ", "'=1+1", "")] == [
        "4", "4", "88.5", "1234.50", "310000", "2026-12-01", "x", "=1+1", None]


def test_every_fault_of_a_row_names_its_column(users):
    row_plan, = plan([cells(地区="火星", 客户经理="", 客户等级="极品", 客户满意度="☆☆☆☆☆☆",
                            地址=" ", 银行帐号="", **{"注册资金（万元）": "很多"})]).rows
    assert row_plan.outcome == imports.FAULTY
    assert sorted(f.column for f in row_plan.faults) == sorted(
        ["地区", "客户经理", "客户等级", "客户满意度", "注册资金（万元）", "地址", "银行帐号"])


@pytest.mark.parametrize("column, value", [
    ("注册资金（万元）", "NaN"), ("注册资金（万元）", "sNaN"), ("年营业额", "Infinity"),
    ("年营业额", "1e999"), ("注册资金（万元）", "1e20"), ("注册资金（万元）", "1,234,567,890,123"),
    ("注册资金（万元）", "-5"), ("客户满意度", "²"), ("客户信用度", "9" * 5000),
    ("地址", "上海\x00浦东"), ("名称", "名" * 101)])
def test_an_imported_row_is_refused_what_an_edit_refuses(users, column, value):
    """Amounts finite and within their column, ratings 1–5, texts without control
    characters and within their length: as an edit checks them."""
    row_plan, = plan([cells(**{column: value})]).rows
    assert [f.column for f in row_plan.faults] == [column]


def test_an_imported_amount_within_the_column_is_kept(users):
    row_cells = cells(**{"注册资金（万元）": "999,999,999,999.99", "年营业额": "１２"})
    imports.run_import([(2, row_cells)], imports.CREATE, file_name="a.csv",
                       by=users["supervisor"], at=NOW)
    saved = Customer.get()
    assert (saved.registered_capital, saved.annual_revenue) == (
        Decimal("999999999999.99"), Decimal("12"))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_a_csv_is_read_as_excel_saves_it(client_for, users, encoding):
    content = table([row()]).decode("utf-8-sig").encode(encoding)
    imported(client_for("supervisor"), content)
    assert Customer.get().name == "杭州湖畔科技"


def test_an_import_numbers_its_customers_by_the_day(users):
    _, batch = imports.run_import([(2, cells()), (3, cells(名称="第二家", 电话="2"))],
                                  imports.CREATE, file_name="a.csv", by=users["supervisor"],
                                  at=NOW)
    day = local(NOW).strftime("%y%m%d")
    assert sorted(c.number for c in Customer.select()) == [f"KH{day}001", f"KH{day}002"]
    assert json.loads(batch.changes)["created"] == [c.id for c in Customer.select()
                                                     .order_by(Customer.id)]


def test_new_rows_beyond_the_days_last_number_are_faults(users):
    day = local(NOW).strftime("%y%m%d")
    Customer.insert_many([{"number": f"KH{day}{n:03d}", "name": f"客户{n}",
                           "manager": users["xiaoming"].id} for n in range(1, 998)]).execute()
    result = plan([cells(名称=f"新{n}", 电话=str(n)) for n in range(4)])
    assert [r.outcome for r in result.rows] == ["new", "new", "faulty", "faulty"]
    assert result.rows[2].faults[0].column == "客户编号"


def test_a_customer_is_handed_over_only_by_who_may_hand_over(users):
    old = customer(users)
    rows = [{"客户编号": old.number, "客户经理": "旺财"}]
    refused, = plan(rows).rows
    assert refused.outcome == imports.FAULTY and refused.faults[0].column == "客户经理"
    allowed, = plan(rows, may_hand_over=True).rows
    assert allowed.outcome == imports.CHANGED and allowed.fields["manager"].username == "wangcai"


def test_a_user_reaching_his_own_customers_updates_only_those(users):
    mine, theirs = customer(users, "我的"), customer(users, "他的", "2", manager="wangcai")
    result = plan([{"客户编号": mine.number, "电话": "9"},
                   {"客户编号": theirs.number, "电话": "8"}], owner=users["xiaoming"].id)
    assert [r.outcome for r in result.rows] == ["changed", "faulty"]


def test_two_managers_of_one_name_are_told_apart_by_username(app, users):
    make_user(app, "xiaoming2", "小明", ["manager"])
    faulty, = plan([cells(客户经理="小明")]).rows
    assert "请填写用户名" in faulty.faults[0].message
    ok, = plan([cells(客户经理="xiaoming2")]).rows
    assert ok.outcome == imports.NEW


def test_an_import_of_many_rows_writes_its_log_in_one_statement(users, database):
    for n in range(3):
        customer(users, f"客户{n}", str(n))
    rows = [(2 + n, {"客户编号": c.number, "电话": "9"}) for n, c in enumerate(Customer.select())]
    rows += [(10 + n, cells(名称=f"新{n}", 电话=f"1{n}",
                            客户经理=("xiaoming", "wangcai")[n % 2])) for n in range(300)]
    seen = []
    real = database.execute_sql
    database.execute_sql = lambda *a, **k: seen.append(a[0]) or real(*a, **k)
    try:
        plan, batch = imports.run_import(rows, imports.UPSERT, file_name="many.csv",
                                         by=users["supervisor"], at=NOW)
    finally:
        database.execute_sql = real
    assert batch is not None and (batch.created, batch.updated) == (300, 3)
    writes = [sql for sql in seen if sql.startswith('INSERT INTO "audit_entry"')]
    assert len(writes) == 1, len(writes)
    manager_reads = [sql for sql in seen if sql.startswith("SELECT") and 'FROM "user"' in sql]
    assert len(manager_reads) <= 4  # each 客户经理's label once, not once per row
    logged = list(AuditEntry.select().where(AuditEntry.batch == batch.id).order_by(AuditEntry.id))
    assert [e.action for e in logged] == [audit.UPDATE] * 3 + [audit.CREATE] * 300 + [
        audit.IMPORT]
    assert {e.changed["manager"][1] for e in logged[3:-1]} == {
        str(users["xiaoming"]), str(users["wangcai"])}
    assert logged[3].entity_id == Customer.get(Customer.name == "新0").id


def test_two_imports_of_one_new_customer_at_once_create_it_once(users, monkeypatch):
    """Each import plans, then waits up to a second for the other to have planned too:
    unless imports run one at a time, both plan the row as new and both create it."""
    planned = threading.Barrier(2)
    real = imports.plan_import

    def plan_then_wait(*args, **kwargs):
        result = real(*args, **kwargs)
        try:
            planned.wait(1)
        except threading.BrokenBarrierError:
            pass
        return result
    monkeypatch.setattr(imports, "plan_import", plan_then_wait)
    outcomes = race(lambda i: imports.run_import(
        [(2, cells())], imports.CREATE, file_name=f"{i}.csv", by=users["supervisor"], at=NOW))
    assert Customer.select().where(Customer.name == "杭州湖畔科技").count() == 1
    assert sorted((batch.created, batch.skipped) for _, batch in outcomes) == [(0, 1), (1, 0)]


def test_a_preview_of_many_rows_costs_a_few_queries(users, database):
    for n in range(5):
        customer(users, f"客户{n}", str(n))
    numbers = [c.number for c in Customer.select()]
    rows = [{"客户编号": number, "电话": "9"} for number in numbers] + [
        cells(名称=f"新{n}", 电话=f"1{n}") for n in range(50)]
    seen = []
    real = database.execute_sql
    database.execute_sql = lambda *a, **k: seen.append(a[0]) or real(*a, **k)
    try:
        result = plan(rows)
    finally:
        database.execute_sql = real
    assert result.counts == {"new": 50, "changed": 5, "skipped": 0, "faulty": 0}
    assert len(seen) <= 10, seen


def test_the_import_page_speaks_english_in_the_english_ui(client_for, users):
    client = client_for("supervisor")
    client.get("/locale/en")
    old = customer(users, "老客户", "010-1")
    imported(client, table([[old.number, "010-9"]], ["客户编号", "电话"]))
    page = text(upload(client, table([row(地区="火星"), row(名称="甲", 电话="1"),
                                      row(名称="甲", 电话="1")])))
    regions = ", ".join(DictionaryEntry.items(REGION))
    assert f"No region “火星” (choose from: {regions})" in html.unescape(page)
    assert "Same name and phone as row 4" in page and "Error" in page and "Preview" in page
    assert "Create and update" in page and "Imported" in page and ">Undo<" in page
    ui = re.sub(r"<td>.*?</td>|<script.*?</script>|<p class=\"crm-data\">.*?</p>", "",
                page, flags=re.S)
    body = ui.split("<h4>", 1)[1].split("<script", 1)[0]  # the page, not the menus
    assert not re.findall(r"[\u4e00-\u9fff（）：，、]+", re.sub(r"<[^>]+>", " ", body))


def test_no_undo_once_an_updated_field_was_written_past_the_audit_log(users):
    """A write that left no audit entry (SQL by hand) shows as a value that is not the
    batch's any more."""
    old = customer(users)
    _, batch = imports.run_import([(2, {"客户编号": old.number, "电话": "010-9"})],
                                  imports.UPDATE, file_name="a.csv", by=users["supervisor"], at=NOW)
    Customer.update(phone="010-7").where(Customer.id == old.id).execute()  # no entry
    with pytest.raises(imports.DomainError, match="导入后又有改动"):
        imports.undo_import(batch, by=users["supervisor"].id, at=NOW)
    assert Customer.get_by_id(old.id).phone == "010-7"
    assert ImportBatch.get_by_id(batch.id).status == ImportBatch.DONE


def test_the_batch_list_does_not_read_what_the_batches_changed(users):
    imports.run_import([(2, cells())], imports.CREATE, file_name="a.csv",
                       by=users["supervisor"], at=NOW)
    listed, = ImportBatch.recent("customer")
    assert "changes" not in listed.__data__ and listed.file_name == "a.csv"
