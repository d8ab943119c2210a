"""Passwords: 修改密码 for every user, and a password an administrator set is changed first.

Through the rendered pages: the navbar's user menu links Flask-Security's change page
(in our layout, in Chinese, under the one password policy), and a user whose password an
administrator set (``User.must_change_password``) is sent there from every other page
until he has chosen his own. The rule itself (who must change) is tested without HTTP.
"""
import re
from html import unescape

import pytest

from models import User
from tests.conftest import DEMO_USERS, PASSWORD, csrf_token, login, make_user

CHANGE = "/change"
FORCED = "您的密码由系统管理员设置，请先修改密码，再继续使用系统。"
NEW = "river-stone-88"


def text(response):
    return response.get_data(as_text=True)


def reload(user):
    return User.get_by_id(user.id)


def change_form(client):
    """The fields of the rendered change form: {name: value} (hidden ones filled in)."""
    page = text(client.get(CHANGE))
    form = re.search(r'<form[^>]*id="crm-change-password-form".*?</form>', page, re.S).group(0)
    fields = {name: unescape(value) for name, value in re.findall(
        r'<input[^>]*name="([^"]+)"(?:[^>]*value="([^"]*)")?', form)}
    assert re.search(r'action="/change"', form) and 'method="post"' in form
    return fields


def change(client, current, new, confirm=None):
    fields = change_form(client)
    assert {"password", "new_password", "new_password_confirm", "csrf_token"} <= set(fields)
    fields.update(password=current, new_password=new,
                  new_password_confirm=new if confirm is None else confirm)
    return client.post(CHANGE, data=fields)


def logged_in(app, username, password=PASSWORD):
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    return client


# -- 修改密码, for every user ----------------------------------------------------------------

@pytest.mark.parametrize("username", sorted(DEMO_USERS))
def test_every_user_finds_修改密码_in_the_navbar_user_menu(client_for, username):
    client = client_for(username)
    page = text(client.get("/admin/"))
    menu = re.search(r'id="crm-current-user".*?</li>', page, re.S).group(0)
    link = re.search(r'<a class="dropdown-item" href="([^"]+)" id="crm-change-password-link">'
                     r"([^<]+)</a>", menu)
    assert link and link.groups() == (CHANGE, "修改密码")
    form = text(client.get(link.group(1)))
    for label in ("修改密码", "当前密码", "新密码", "确认新密码", "至少 10 个字符", "退出系统"):
        assert label in form
    for english in ("Password", "Change", "Retype", "Submit"):
        assert english not in re.sub(r"<[^>]+>", " ", form)  # no English in the Chinese UI


def test_a_user_changes_his_password_and_his_other_sessions_end(app, users):
    client, elsewhere = logged_in(app, "xiaoming"), logged_in(app, "xiaoming")
    response = change(client, PASSWORD, NEW)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert "密码修改成功。" in text(client.get("/admin/"))
    assert client.get("/admin/opportunity/").status_code == 200  # he stays logged in
    assert elsewhere.get("/admin/").status_code == 302  # his other sessions end
    assert login(app.test_client(), "xiaoming", PASSWORD).status_code == 200  # refused
    assert login(app.test_client(), "xiaoming", NEW).status_code == 302


@pytest.mark.parametrize("current, new, confirm, message", [
    (PASSWORD, "12345678", None, "密码长度至少为 10 个字符"),
    (PASSWORD, "qwertyuiop", None, "这是最常用的 100 个密码之一"),
    (PASSWORD, "xiaoming2026", None, "密码过于简单"),  # his own 用户名
    (PASSWORD, NEW, "river-stone-89", "两次输入的密码不一致"),
    ("not-my-password", NEW, None, "密码错误"),
    (PASSWORD, PASSWORD, None, "新密码不能与原密码相同。"),
    (PASSWORD, "", None, "请填写密码"),
])
def test_the_change_form_refuses_in_chinese_and_keeps_the_password(app, users, current, new,
                                                                    confirm, message):
    client = logged_in(app, "xiaoming")
    response = change(client, current, new, confirm)
    assert response.status_code == 200
    page = text(response)
    assert message in page and "is-invalid" in page
    assert "guess" not in page and "characters" not in page  # zxcvbn's and FST's English
    assert reload(users["xiaoming"]).password == PASSWORD


def test_the_change_page_speaks_english_in_the_english_ui(app, users):
    client = logged_in(app, "xiaoming")
    client.get("/locale/en")
    page = text(client.get(CHANGE))
    assert "Change password" in page and "Current password" in page
    assert "修改密码" not in page
    assert "Password must be at least 10 characters" in text(change(client, PASSWORD, "12345678"))


# -- a password an administrator set is changed first ----------------------------------------

def test_who_must_change_the_password(users):
    xiaoming, admin = users["xiaoming"], users["admin"]
    xiaoming.set_password("x", by=admin)
    assert xiaoming.must_change_password  # chosen by somebody else
    xiaoming.set_password("x", by=xiaoming)
    assert not xiaoming.must_change_password  # his own choice
    new = User(username="qiuqiu", full_name="球球")
    new.set_password("x", by=admin)
    assert new.must_change_password  # a new account's first password
    before = reload(xiaoming).fs_uniquifier
    xiaoming.set_password("x", by=admin)
    xiaoming.save()
    assert reload(xiaoming).must_change_password and reload(xiaoming).fs_uniquifier != before
    xiaoming.password_changed()
    assert not reload(xiaoming).must_change_password


def _reset_by_administrator(client_for, user, password):
    from tests.test_security import _edit_user
    assert _edit_user(client_for("admin"), user, password).status_code == 302
    assert reload(user).must_change_password


def test_a_reset_by_an_administrator_forces_a_change_at_next_login(app, users, client_for):
    _reset_by_administrator(client_for, users["xiaoming"], "tea-garden-41")
    client = app.test_client()
    response = login(client, "xiaoming", "tea-garden-41")
    assert response.status_code == 302
    landing = client.get(response.headers["Location"])  # /admin/ sends him on
    assert landing.status_code == 302 and landing.headers["Location"] == CHANGE
    page = text(client.get(CHANGE))
    assert FORCED in page and 'id="crm-back"' not in page  # no way round it but 退出系统

    assert change(client, "tea-garden-41", NEW).status_code == 302
    assert not reload(users["xiaoming"]).must_change_password
    assert client.get("/admin/customer/").status_code == 200
    assert FORCED not in text(client.get(CHANGE))
    assert 'id="crm-back"' in text(client.get(CHANGE))


def test_a_new_user_created_by_an_administrator_changes_his_password_first(app, client_for):
    from tests.test_security import _user_form
    admin = client_for("admin")
    assert _user_form(admin, "/admin/user/new/", username="qiuqiu", full_name="球球",
                      new_password="tea-garden-41").status_code == 302
    client = logged_in(app, "qiuqiu", "tea-garden-41")
    assert client.get("/admin/").headers["Location"] == CHANGE


def every_page(app):
    """The URL of every GET page without a parameter in its path, by endpoint."""
    return {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not rule.arguments}


def test_while_the_change_is_due_every_page_but_the_exempt_ones_redirects(app, users):
    user = users["xiaoming"]
    user.set_password(PASSWORD, by=users["admin"])
    user.save()
    client = logged_in(app, "xiaoming")
    pages = every_page(app)
    assert len(pages) > 40 and "admin.index" in pages and "customer.index_view" in pages
    for endpoint, url in sorted(pages.items()):
        response = client.get(url)
        if endpoint in ("security.change_password", "healthz", "favicon"):
            assert response.status_code == 200, url
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"] == CHANGE, url
    assert client.get("/static/crm.css").status_code == 200
    assert client.get("/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css",
                      ).status_code == 200
    assert FORCED in text(client.get(CHANGE))  # what the redirects said, shown there
    switched = client.get("/locale/en?next=/change")  # the language, on the change page
    assert switched.status_code == 302 and switched.headers["Location"] == "/change"
    assert client.get("/admin/customer/").headers["Location"] == CHANGE
    page = text(client.get(CHANGE))
    assert "Your password was set by an administrator: change it before you go on." in page
    assert FORCED not in page


def test_while_the_change_is_due_nothing_is_written_through_another_page(app, users):
    from models import Opportunity
    user = users["xiaoming"]
    user.set_password(PASSWORD, by=users["admin"])
    user.save()
    client = logged_in(app, "xiaoming")
    token = csrf_token(client, CHANGE)
    response = client.post("/admin/opportunity/new/", data={
        "customer_name": "新客户", "probability": "50", "summary": "概要",
        "description": "描述", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == CHANGE
    assert not Opportunity.select().exists()


def test_while_the_change_is_due_logging_out_works(app, users):
    user = users["xiaoming"]
    user.set_password(PASSWORD, by=users["admin"])
    user.save()
    client = logged_in(app, "xiaoming")
    response = client.post("/logout", data={"csrf_token": csrf_token(client, CHANGE)})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(CHANGE).status_code == 302  # logged out: the change page wants a login
    assert "/login" in client.get("/admin/").headers["Location"]


def test_create_user_can_ask_for_a_change_at_first_login(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "zhangsan", "--full-name", "张三",
                                 "--role", "manager", "--password", NEW, "--must-change"])
    assert result.exit_code == 0, result.output
    assert User.get(User.username == "zhangsan").must_change_password
    result = runner.invoke(args=["create-user", "lisi", "--full-name", "李四",
                                 "--password", NEW])
    assert not User.get(User.username == "lisi").must_change_password  # his own password


def test_a_flagged_user_created_in_the_database_is_sent_to_the_change_page(app):
    make_user(app, "laowang", "老王", ["executive"])
    User.update(must_change_password=True).where(User.username == "laowang").execute()
    client = logged_in(app, "laowang")
    assert client.get("/admin/reports/contribution/").headers.get("Location") == CHANGE
