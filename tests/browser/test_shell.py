"""The shell as a person uses it: log in, find the role's menu, switch language, log out."""
import os

from tests.conftest import PASSWORD

SHOTS = os.environ.get("SCREENSHOTS")  # a folder to keep screenshots in, when set


def log_in(page, username, password=PASSWORD):
    page.goto("/admin/")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():  # the next page is read only once it has arrived
        page.click("#crm-login")


def test_a_manager_logs_in_sees_his_menu_switches_to_english_and_logs_out(page, users):
    log_in(page, "xiaoming")
    page.wait_for_url("**/admin/")
    menu = page.locator("#admin-navbar-collapse .navbar-nav.mr-auto > li > a")
    assert [t.strip() for t in menu.all_inner_texts()] == ["首页",
        "营销管理", "客户管理", "服务管理", "基础数据"]
    assert "小明" in page.inner_text("#crm-current-user")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "home-zh.png"), full_page=True)

    page.click("#crm-locale")
    with page.expect_navigation():
        page.click("text=English")
    assert "Log out" in page.inner_text("#crm-logout")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "home-en.png"), full_page=True)

    page.click("#crm-logout")
    page.wait_for_url("**/login**")
    page.goto("/admin/customer/")
    assert "/login" in page.url


def test_a_wrong_password_shows_a_message_and_keeps_the_username(page, users):
    log_in(page, "xiaoming", "wrong")
    assert page.is_visible("#crm-login-error")
    assert page.input_value("#username") == "xiaoming"


def test_the_administrator_grants_a_permission_in_the_matrix(page, users):
    log_in(page, "admin")
    page.wait_for_url("**/admin/")
    page.goto("/admin/permission/")
    page.click("text=高管")
    page.check('input[name="basedata.product"]')
    with page.expect_navigation():
        page.click("#crm-permission-form button[type=submit]")
    assert page.is_visible(".alert-success")
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "permissions.png"), full_page=True)
    assert page.is_checked('input[name="basedata.product"]')
