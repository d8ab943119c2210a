"""营销管理 as people do it: a supervisor records and assigns, a manager plans and develops."""
import os

from models import Customer, Opportunity
from models.base import local_today
from tests.browser.test_shell import SHOTS, log_in


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def test_from_opportunity_to_customer(page, browser, live_server, users):
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")

    # 创建: a name of blanks is answered next to the field, the rest is kept
    page.goto("/admin/opportunity/new/")
    page.fill("#customer_name", "   ")
    page.fill("#probability", "80")
    page.fill("#summary", "门店换新 30 台电视")
    page.fill("#contact", "周女士")
    page.fill("#contact_phone", "0512-6666")
    page.fill("#description", "春节前完成")
    with page.expect_navigation():  # read the answer, not the page it replaces
        page.click("input[type=submit].btn-primary")
    assert page.is_visible("#customer_name.is-invalid")
    assert page.input_value("#summary") == "门店换新 30 台电视"
    shot(page, "opportunity-invalid.png")
    page.fill("#customer_name", "苏州河畔家电")
    page.click("input[type=submit].btn-primary")
    page.wait_for_url("**/admin/opportunity/")
    assert page.is_visible(".alert-success")
    assert "苏州河畔家电" in page.inner_text("table.model-list")

    # 指派 the selected row to 小明
    page.check("input.action-checkbox")
    page.click("text=选中的")
    page.click(".dropdown-menu >> text=指派")
    page.wait_for_url("**/admin/opportunity/assign/**")
    shot(page, "opportunity-assign.png")
    page.select_option("#manager", label="小明（xiaoming）")
    page.click("#crm-assign-form button[type=submit]")
    page.wait_for_url(lambda url: "/assign/" not in url)
    assert "已指派给 小明" in page.inner_text(".alert-success")
    assert Opportunity.get().status == Opportunity.ASSIGNED

    # 小明 plans, executes and develops it
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    manager = context.new_page()
    manager.set_default_timeout(10000)
    manager.on("dialog", lambda dialog: dialog.accept())
    log_in(manager, "xiaoming")
    manager.wait_for_url("**/admin/")
    manager.goto("/admin/plan/")
    manager.click("a.crm-row-action:has-text(\"制定计划\")")
    manager.fill("#date", local_today().isoformat())  # the company's day
    manager.fill("#content", "上门演示新款电视")
    with manager.expect_navigation():
        manager.click("#crm-plan-add button[type=submit]")
    assert "上门演示新款电视" in manager.input_value(".crm-item-edit input[name=content]")
    manager.click("text=执行计划")
    manager.fill(".crm-item-result textarea", "客户确认订购")
    with manager.expect_navigation():
        manager.click(".crm-item-result button")
    assert manager.input_value(".crm-item-result textarea") == "客户确认订购"
    shot(manager, "plan-execute.png")
    manager.goto("/admin/plan/")
    questions = []
    manager.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    manager.click("form.crm-row-action button:has-text(\"开发成功\")")
    manager.wait_for_selector(".alert-success")
    assert questions == ["确认“苏州河畔家电”开发成功？系统将创建客户。"]
    customer = Customer.get(Customer.name == "苏州河畔家电")
    assert customer.number in manager.inner_text(".alert-success")
    shot(manager, "plan-developed.png")
    with manager.expect_navigation():
        manager.click(f"text={customer.number}")
    assert "苏州河畔家电" in manager.inner_text("#crm-customer-title")  # his 360° page
    context.close()
