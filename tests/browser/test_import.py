"""导入客户 in Chromium, as the 销售主管 uses it: the page from the list's 导入 tab, a file
chosen and previewed, 确认导入, and 撤销 after its question; no console error on the way."""
from models import Customer, ImportBatch
from tests.browser.test_marketing import shot
from tests.browser.test_shell import log_in

CSV = ("客户编号,名称,地区,客户经理,客户等级,客户满意度,客户信用度,地址,邮政编码,电话,传真,网址,"
       "法人,开户银行,银行帐号\r\n"
       ",杭州湖畔科技,华北,xiaoming,大客户,4,5,杭州市,310000,0571-1,0571-2,www.hp.cn,钱七,"
       "农业银行,6228\r\n"
       ",错误客户,火星,nobody,大客户,9,5,杭州市,310000,0571-3,0571-2,www.hp.cn,钱七,农业银行,6228\r\n")


def test_a_supervisor_previews_imports_and_undoes_a_file(page, app, users, tmp_path,
                                                         monkeypatch):
    monkeypatch.setitem(app.config, "CRM_IMPORT_FOLDER", str(tmp_path / "pending"))
    errors, questions = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    log_in(page, "supervisor")
    page.goto("/admin/customer/")
    with page.expect_navigation():
        page.click("#crm-import")
    assert page.is_visible("#crm-import-form") and page.is_checked("#mode-1")

    # a faulty row: every fault named, no 确认导入
    (tmp_path / "bad.csv").write_bytes(("\ufeff" + CSV).encode())
    page.set_input_files("#file", str(tmp_path / "bad.csv"))
    with page.expect_navigation():
        page.click("#crm-import-form button[type=submit]")
    faults = page.inner_text("tr[data-row='3']")
    assert "地区" in faults and "客户经理" in faults and "客户满意度" in faults
    assert not page.is_visible("#crm-import-confirm")
    shot(page, "import-faulty.png")

    # the file corrected: previewed, then confirmed
    (tmp_path / "good.csv").write_bytes(("\ufeff" + CSV.rsplit("\r\n", 2)[0] + "\r\n").encode())
    page.set_input_files("#file", str(tmp_path / "good.csv"))
    with page.expect_navigation():
        page.click("#crm-import-form button[type=submit]")
    assert "新增 1" in page.inner_text("#crm-import-counts")
    assert not Customer.select().exists()
    shot(page, "import-preview.png")
    with page.expect_navigation():
        page.click("#crm-import-confirm button[type=submit]")
    assert "导入完成" in page.inner_text(".alert-success")
    assert Customer.select().count() == 1
    batch = ImportBatch.get()

    # 撤销, after its question naming the file
    with page.expect_navigation():
        page.click(f"tr[data-batch='{batch.id}'] .crm-import-undo button")
    assert questions and "good.csv" in questions[-1]
    assert "已撤销" in page.inner_text(".alert-success")
    assert not Customer.select().exists()
    assert errors == []
