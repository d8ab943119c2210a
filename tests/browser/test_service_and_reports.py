"""服务管理 and 统计报表 as people use them: assign in the row, handle, feed back; a chart."""
import datetime
import os

from models import Customer, Order, OrderLine, Product, ServiceRequest
from tests.browser.test_shell import SHOTS, log_in

NOW = datetime.datetime(2026, 11, 20, 9, 0)


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def test_a_complaint_is_assigned_handled_sent_back_and_archived(page, browser, live_server,
                                                                users):
    customer = Customer.create_numbered(NOW, name="苏州河畔家电", manager=users["xiaoming"])
    service = ServiceRequest.open(by=users["xiaoming"], at=NOW, service_type="投诉",
                                  summary="电视机无法开机", customer=customer,
                                  request="新购电视机第二天无法开机")
    page.on("dialog", lambda dialog: dialog.accept())

    # 销售主管 assigns it in its row
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")
    page.goto("/admin/service_assign/")
    page.select_option(".crm-service-assign select", label="小明（xiaoming）")
    page.click(".crm-service-assign button")
    page.wait_for_selector(".alert-success")
    assert ServiceRequest.get_by_id(service.id).status == ServiceRequest.ASSIGNED

    # 小明 handles it, the customer is unhappy (2 stars), he handles it again, 4 stars
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    manager = context.new_page()
    manager.set_default_timeout(10000)
    log_in(manager, "xiaoming")
    manager.wait_for_url("**/admin/")
    for handling, stars, result in (("上门检查电源", "2", "仍无法开机"),
                                    ("更换主板", "4", "已正常使用")):
        manager.goto("/admin/service_handle/")
        manager.click("a.crm-row-action:has-text(\"处理\")")
        manager.fill("#handling", handling)
        manager.click("#crm-service-form button[type=submit]")
        manager.wait_for_selector(".alert-success")
        manager.goto("/admin/service_feedback/")
        manager.click("a.crm-row-action:has-text(\"反馈\")")
        manager.fill("#result", result)
        manager.check(f"#crm-satisfaction input[value=\"{stars}\"]")
        shot(manager, f"service-feedback-{stars}.png")
        manager.click("#crm-service-form button[type=submit]")
        manager.wait_for_selector(".alert")
    assert ServiceRequest.get_by_id(service.id).status == ServiceRequest.ARCHIVED

    # the archive shows both rounds
    manager.goto(f"/admin/service_archive/details/?id={service.id}")
    history = manager.inner_text("#crm-status-history")
    assert "上门检查电源" in history and "更换主板" in history and "仍无法开机" in history
    shot(manager, "service-archive.png")
    context.close()


def test_the_contribution_report_draws_its_chart_and_exports(page, users):
    product = Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                             price=7500)
    for i, (name, quantity) in enumerate((("北京星光电子", 3), ("天津海河贸易", 1))):
        customer = Customer.create_numbered(NOW, name=name, manager=users["xiaoming"])
        order = Order.create(customer=customer, number=f"DD{i}", date=NOW.date(),
                             address="北京", status=Order.PAID)
        OrderLine.create(order=order, product=product, quantity=quantity, unit="台", price=7500)
    log_in(page, "executive")
    page.wait_for_url("**/admin/")
    page.goto("/admin/reports/contribution/")
    page.wait_for_function("() => window.Chart && Chart.getChart('crm-report-chart')")
    labels = page.evaluate("Chart.getChart('crm-report-chart').data.labels")
    assert labels == ["北京星光电子", "天津海河贸易"]
    assert "22,500.00" in page.inner_text("table")
    shot(page, "report-contribution.png")
    with page.expect_download() as download:
        page.click("text=导出 Excel")
    assert download.value.suggested_filename.endswith(".xlsx")
