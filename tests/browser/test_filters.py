"""Filters as a user sets them in Chromium: a label picked from a list, a range of days
picked in the calendar; the list shows exactly the matching rows."""
import datetime
import os
from urllib.parse import parse_qs, urlsplit

from models import Customer, Order
from tests.browser.test_shell import SHOTS, log_in


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def book(users):
    at = datetime.datetime(2026, 11, 2, 9)
    made = [Customer.create_numbered(at, name=name, manager=users[manager], level=level,
                                     region="北京")
            for name, manager, level in (("京大客户", "xiaoming", 3), ("京普通客户", "xiaoming", 1),
                                         ("旺财大客户", "wangcai", 3))]
    for day, customer in zip((5, 10, 15), made, strict=True):
        Order.create(customer=customer, number=f"DD-{customer.name}", address="北京",
                     date=datetime.date(2026, 10, day))


def add_filter(page, label):
    page.click("a.nav-link:has-text('添加筛选器')")
    page.click(f".field-filters a.filter:has-text('{label}')")


def listed(page):
    return page.locator("table.model-list tbody").inner_text()


def open_filter(page, users, url, label):
    """As the 销售主管, on ``url``, the filter ``label`` added; the page errors, as they come."""
    book(users)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")
    page.goto(url)
    add_filter(page, label)
    return errors


def test_a_level_is_chosen_by_its_label(page, users):
    errors = open_filter(page, users, "/admin/customer/", "客户等级")
    page.click("#filter_form .select2-container.filter-val a")
    page.click(".select2-drop-active .select2-result-label:text-is('大客户')")
    shot(page, "filter-level.png")
    page.click("#filter_form button[type=submit]")
    page.wait_for_load_state()
    rows = listed(page)
    assert "京大客户" in rows and "旺财大客户" in rows and "京普通客户" not in rows
    assert not errors


def test_a_range_of_days_is_picked_in_the_calendar_and_filters_the_orders(page, users):
    errors = open_filter(page, users, "/admin/order/", "日期")
    page.click("#filter_form input.filter-val")
    picker = page.locator(".daterangepicker").first
    assert picker.is_visible()  # the calendar opens, no typing of "… to …" needed
    picker.locator("input[name=daterangepicker_start]").fill("2026-10-08")
    picker.locator("input[name=daterangepicker_end]").fill("2026-10-15")
    picker.locator("input[name=daterangepicker_end]").press("Enter")
    picker.locator(".applyBtn").click()
    assert page.input_value("#filter_form input.filter-val") == "2026-10-08 to 2026-10-15"
    shot(page, "filter-days.png")
    page.click("#filter_form button[type=submit]")
    page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert list(query.values()) == [["2026-10-08 to 2026-10-15"]]
    rows = listed(page)
    assert "DD-京普通客户" in rows and "DD-旺财大客户" in rows and "DD-京大客户" not in rows
    assert page.locator(".alert-danger").count() == 0  # the filter read the value
    assert not errors
