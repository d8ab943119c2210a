"""Flask-Admin's pickers speak the user's language, and lists use the screen's width.

The date pickers (daterangepicker + moment) and select2 are built by
Flask-Admin's form.js with English defaults; static/crm-locale.js gives them
the page's texts. Only a browser shows whether that worked.
"""

from models import Customer, ServiceRequest, now
from tests.browser.test_shell import log_in

NOW = now()  # as stored: UTC


def an_archived_service(users):
    customer = Customer.create_numbered(NOW, name="苏州河畔家电", manager=users["xiaoming"])
    return ServiceRequest.open(by=users["xiaoming"], at=NOW, service_type="咨询",
                               summary="电视机无法开机", customer=customer, request="说明")


def open_the_created_date_filter(page, add_filter="添加筛选器", created="创建日期"):
    page.goto("/admin/service_archive/")
    page.click(f"text={add_filter}")
    page.click(f"a.filter:has-text('{created}')")
    page.click("input.filter-val")
    picker = page.locator(".daterangepicker:visible")
    picker.wait_for()
    return picker


def watch_errors(page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    return errors


def test_the_date_range_picker_is_chinese_and_starts_on_monday(page, users):
    an_archived_service(users)
    errors = watch_errors(page)
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")
    picker = open_the_created_date_filter(page)
    assert picker.locator(".applyBtn").inner_text() == "确定"
    assert picker.locator(".cancelBtn").inner_text() == "取消"
    assert picker.locator(".daterangepicker_start_input label").text_content() == "开始"
    assert picker.locator(".daterangepicker_end_input label").text_content() == "结束"
    days = picker.locator(".calendar.left thead tr").last.locator("th").all_inner_texts()
    assert [d.strip() for d in days] == ["一", "二", "三", "四", "五", "六", "日"]
    months = picker.locator(".calendar.left select.monthselect option").all_inner_texts()
    assert months[0] == "1月" and months[11] == "12月"
    # the range still reaches the server in the format Flask-Admin parses
    picker.locator(".applyBtn").click()
    assert " to " in page.input_value("input.filter-val")
    assert not errors


def test_in_english_the_picker_is_english(page, users):
    an_archived_service(users)
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")
    page.goto("/locale/en?next=/admin/")
    picker = open_the_created_date_filter(page, "Add Filter", "Created")
    assert picker.locator(".applyBtn").inner_text() == "Apply"
    assert picker.locator(".cancelBtn").inner_text() == "Cancel"
    assert picker.locator(".daterangepicker_start_input label").text_content() == "From"
    days = picker.locator(".calendar.left thead tr").last.locator("th").all_inner_texts()
    assert [d.strip() for d in days][0] == "Su"
    months = picker.locator(".calendar.left select.monthselect option").all_inner_texts()
    assert months[0] == "Jan"


def search_a_customer_that_does_not_exist(page):
    page.goto("/admin/contact/new/")
    page.click("#s2id_customer a.select2-choice")
    page.fill("#select2-drop input.select2-input", "不存在的客户XYZ")
    message = page.locator("#select2-drop .select2-no-results")
    message.wait_for()
    return message.inner_text()


def test_the_pickers_say_no_matches_in_the_users_language(page, users):
    errors = watch_errors(page)
    log_in(page, "xiaoming")
    page.wait_for_url("**/admin/")
    assert search_a_customer_that_does_not_exist(page) == "未找到匹配项"
    page.goto("/locale/en?next=/admin/")
    assert search_a_customer_that_does_not_exist(page) == "No matches found"
    assert not errors


def test_every_select2_message_is_chinese(page, users):
    """select2 3.5's defaults, and the hint form.js gives comma-separated ("in list")
    filters, whichever screen builds one."""
    log_in(page, "xiaoming")
    page.wait_for_url("**/admin/")
    page.goto("/admin/contact/new/")
    messages = page.evaluate("""() => { const d = jQuery.fn.select2.defaults; return [
        d.formatSearching(), d.formatInputTooShort("", 3), d.formatInputTooShort("ab", 3),
        d.formatLoadMore(), d.formatAjaxError(), d.formatMatches(2)]; }""")
    assert messages == ["搜索中…", "请再输入 3 个字符", "请再输入 1 个字符", "正在加载更多结果…",
                        "加载失败", "找到 2 个结果，可用上下方向键选择"]
    page.evaluate("""() => { const el = jQuery('<input type="hidden" id="crm-tags">');
        jQuery('form').first().append(el); faForm.applyStyle(el, 'select2-tags'); }""")
    page.click("#s2id_crm-tags")
    page.keyboard.type("x")
    page.keyboard.press("Backspace")
    hint = page.locator(".select2-drop-active .select2-no-results")
    hint.wait_for()
    assert hint.inner_text() == "请输入值，以逗号分隔"


def test_the_menu_button_is_labelled_in_the_users_language(page, users):
    log_in(page, "xiaoming")
    page.wait_for_url("**/admin/")
    assert page.get_attribute(".navbar-toggler", "aria-label") == "展开或收起菜单"


def test_lists_use_the_whole_screen_and_headers_do_not_break(page, users):
    page.set_viewport_size({"width": 1920, "height": 1000})
    log_in(page, "supervisor")
    page.wait_for_url("**/admin/")
    page.goto("/admin/customer/")
    width = page.evaluate("document.querySelector('body > .container-fluid').clientWidth")
    assert width >= 1900
    wrapping = page.evaluate("""[...document.querySelectorAll('table.model-list th')]
        .filter(th => getComputedStyle(th).whiteSpace !== 'nowrap').length""")
    assert wrapping == 0
    assert page.evaluate("document.querySelector('link[rel=icon]').href").endswith(
        "/static/favicon.svg")
