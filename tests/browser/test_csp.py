"""Under the Content-Security-Policy, in Chromium: what used inline script still works.

The policy runs no inline handler and no script without the page's nonce
(app.py: _secure_headers). Flask-Admin's bulk-action and filter menus had inline
handlers (templates/admin/actions.html, model/layout.html now hand them to
static/crm.js); the confirmations and the report charts are scripts of their own.
Each test fails on any policy violation the page reports.
"""
import datetime

import pytest

from admin_views import reports
from models import Opportunity, PlanItem
from seed import demo
from tests.browser.test_shell import log_in

VIOLATIONS_JS = """() => document.addEventListener('securitypolicyviolation', event =>
  window.cspViolation(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`))"""


@pytest.fixture
def violations(page):
    """The policy violations the pages of ``page`` report, as they come."""
    seen = []
    page.expose_function("cspViolation", lambda text: seen.append(text))
    page.add_init_script(f"({VIOLATIONS_JS})()")
    page.on("console", lambda message: message.type == "error" and
            "Content Security Policy" in message.text and seen.append(message.text))
    return seen


def opportunity(users, name):
    return Opportunity.open(users["supervisor"], customer_name=name, summary="门店换新",
                            probability=50, contact="周女士", description="春节前完成")


def open_as(page, username, url):
    log_in(page, username)
    page.wait_for_url("**/admin/")
    page.goto(url)


def test_the_policy_is_enforced_in_chromium(page, users, violations):
    """A script without the nonce does not run, and is reported (the tests below can fail)."""
    open_as(page, "supervisor", "/admin/opportunity/")
    ran = page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.crmInjected = true'; document.body.appendChild(s);
        return window.crmInjected === true; }""")
    assert not ran
    page.wait_for_function("() => true")  # the report arrives with the next task
    assert any("script-src" in v for v in violations)


def test_with_selected_assign_checks_the_selection_and_opens_the_assign_page(
        page, users, violations):
    first, second = (opportunity(users, name) for name in ("苏州河畔家电", "无锡太湖电器"))
    open_as(page, "supervisor", "/admin/opportunity/")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))

    page.click("text=选中的")
    page.click(".dropdown-menu >> text=指派")  # nothing selected: Flask-Admin says so
    page.wait_for_function("() => true")
    assert len(asked) == 1 and "/assign/" not in page.url and not page.url.endswith("#")

    page.check(f"input.action-checkbox[value='{first.id}']")
    page.check(f"input.action-checkbox[value='{second.id}']")
    page.click("text=选中的")
    page.click(".dropdown-menu >> text=指派")
    page.wait_for_url("**/admin/opportunity/assign/**")
    assert "苏州河畔家电" in page.content() and "无锡太湖电器" in page.content()
    assert not violations


def test_the_filter_menu_adds_a_filter_without_leaving_the_page(page, users, violations):
    open_as(page, "supervisor", "/admin/customer/")
    here = page.url
    page.click("a.nav-link:has-text('添加筛选器')")
    page.click(".field-filters a.filter:has-text('客户等级')")
    page.wait_for_selector("#filter_form table.filters tr")
    assert page.url == here
    page.click("#crm-locale")  # a menu of ours, next to them
    assert page.is_visible("#crm-locale + .dropdown-menu")
    assert not violations


def test_a_plan_items_delete_asks_first_and_deletes_only_on_ok(page, users, violations):
    assigned = opportunity(users, "苏州河畔家电")
    assigned.assign(users["xiaoming"], users["supervisor"])
    today = datetime.date.today()
    item = assigned.add_plan_item(today, "上门演示新款电视", today)
    open_as(page, "xiaoming", "/admin/plan/")
    page.click("a.crm-row-action:has-text('制定计划')")
    delete = f"#crm-item-{item.id} form.crm-item-delete button"

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click(delete)
    page.wait_for_function("() => true")
    assert asked == ["确认删除计划项“上门演示新款电视”？"]
    assert PlanItem.select().where(PlanItem.id == item.id).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(delete)
    assert not page.is_visible(f"#crm-item-{item.id}")
    assert not PlanItem.select().where(PlanItem.id == item.id).exists()
    assert not violations


def test_every_report_draws_its_chart(page, app, users, violations):
    with app.app_context():
        demo.load()
    log_in(page, "executive")
    page.wait_for_url("**/admin/")
    slugs = [view.slug for view in reports.views()]
    assert slugs
    for slug in slugs:
        page.goto(f"/admin/reports/{slug}/")
        page.wait_for_function("() => window.Chart && Chart.getChart('crm-report-chart')")
        drawn = page.evaluate("""() => {
            const canvas = document.getElementById('crm-report-chart');
            const pixels = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i]) painted++; }
            return painted; }""")
        assert drawn > 1000, slug  # bars, axes and labels, not a blank canvas
    assert not violations
