"""Login, logout, CSRF, password hashing, and permissions as data (权限管理)."""
import datetime
import re

import pytest
from flask_security import hash_password

from models import DomainError, PermissionChange, Role, User
from models.security import ALL, OWN, PERMISSIONS, parse_grant
from seed.reference import ROLES
from tests.conftest import CSRF, DEMO_USERS, PASSWORD, csrf_token, login, make_user
from tests.test_lists_at_scale import Queries


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_every_demo_user_can_log_in(app, users, username):
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    home = client.get("/admin/").get_data(as_text=True)
    assert DEMO_USERS[username][0] in home  # the header names the user …
    assert Role.get(Role.code == DEMO_USERS[username][1]).name in home  # … and his role
    assert "退出系统" in home


def test_a_wrong_password_is_refused_with_a_message(app, users):
    client = app.test_client()
    response = login(client, "xiaoming", "wrong-password")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="crm-login-error"' in page
    assert "用户名或密码错误" in page
    assert 'value="xiaoming"' in page  # what the user typed is kept
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_an_unknown_user_gets_the_same_message_as_a_wrong_password(app, users):
    wrong_password = login(app.test_client(), "xiaoming", "nope").get_data(as_text=True)
    unknown_user = login(app.test_client(), "nobody", "nope").get_data(as_text=True)
    assert "用户名或密码错误" in wrong_password and "用户名或密码错误" in unknown_user


def test_a_disabled_user_cannot_log_in(app, users):
    make_user(app, "gone", "离职员工", ["manager"], active=False)
    client = app.test_client()
    assert login(client, "gone").status_code == 200
    assert client.get("/admin/").status_code == 302


def test_logout_is_a_post_with_a_csrf_token(client_for):
    client = client_for("xiaoming")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no token: refused, still logged in
    assert client.get("/admin/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")}) \
        .status_code == 302
    assert client.get("/admin/").status_code == 302


def test_a_post_without_csrf_token_is_refused(app, users, client_for):
    anonymous = app.test_client()
    assert anonymous.post("/login", data={"username": "admin", "password": PASSWORD}) \
        .status_code == 400
    admin = client_for("admin")
    response = admin.post("/admin/dictionary/new/",
                          data={"category": "地区", "item": "华东", "value": "华东"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)  # a page, not Werkzeug's English
    assert not Role.select().where(Role.name == "华东").exists()


def test_passwords_are_hashed_with_argon2(fresh_app):
    app = fresh_app()
    assert app.config["SECURITY_PASSWORD_HASH"] == "argon2"
    with app.test_request_context():
        assert hash_password("crm-demo-pass").startswith("$argon2")


# -- permissions are data -----------------------------------------------------

def test_grants_merge_over_roles_and_all_beats_own(app, users):
    custom = Role.create(name="区域经理", permissions=["customers.customer:all"])
    xiaoming = users["xiaoming"]
    assert xiaoming.scope("customers.customer") == OWN
    xiaoming.set_roles([Role.get(Role.code == "manager"), custom])
    assert User.get_by_id(xiaoming.id).scope("customers.customer") == ALL
    assert xiaoming.scope("security.user") is None
    assert not User.get_by_id(xiaoming.id).can("security.user")


def test_the_signed_in_user_is_read_with_his_roles_in_one_query(app, users, database):
    custom = Role.create(name="区域经理", permissions=["customers.customer:all"])
    xiaoming = users["xiaoming"]
    xiaoming.set_roles([Role.get(Role.code == "manager"), custom])
    nobody = make_user(app, "nobody", "无角色", [])
    with Queries(database) as seen:
        user = User.signed_in(xiaoming.fs_uniquifier)
        assert [link.role.code for link in user.role_links()] == ["manager", custom.code]
        assert all(link.user is user for link in user.role_links())
        assert user.scope("customers.customer") == ALL
    assert len(seen) == 1
    assert User.signed_in(nobody.fs_uniquifier).role_links() == []
    assert User.signed_in("no-such-uniquifier") is None


def test_a_request_reads_its_user_and_his_roles_once(client_for, database):
    client = client_for("xiaoming")
    client.get("/admin/customer/")  # the first request of a process compiles templates
    with Queries(database) as seen:
        assert client.get("/admin/customer/").status_code == 200
    reads = [sql for sql in seen if '"userroles"' in sql.lower() or 'user_roles' in sql.lower()]
    assert len(reads) == 1 and "fs_uniquifier" in reads[0]


def test_the_user_list_reads_every_row_s_roles_in_one_query(client_for, app, database):
    """用户管理's 角色 column: one query for the page's role links, however many users."""
    client = client_for("admin")

    def page():
        client.get("/admin/user/")
        with Queries(database) as seen:
            body = client.get("/admin/user/").get_data(as_text=True)
        return body, len(seen)
    _, few = page()
    for i in range(5):
        make_user(app, f"extra{i}", f"新人{i}", ["manager", "executive"])
    body, many = page()
    assert many == few
    row = re.search(r"extra3.*?</tr>", body, re.S).group(0)
    assert "客户经理、高管" in row


def test_a_disabled_user_holds_no_permission(users):
    xiaoming = users["xiaoming"]
    xiaoming.active = False
    assert not xiaoming.can("customers.customer")


def test_grants_are_validated(users):
    role = Role.get(Role.code == "manager")
    with pytest.raises(DomainError):
        role.set_grants({"no.such.permission": None}, by=users["admin"])
    with pytest.raises(DomainError):
        role.set_grants({"customers.customer": None}, by=users["admin"])  # needs a scope


def test_every_seeded_grant_names_a_catalogued_permission():
    codes = {p.code for p in PERMISSIONS}
    for _, _, grants in ROLES.values():
        assert set(grants) <= codes


def test_every_grant_change_is_recorded(users):
    role = Role.get(Role.code == "executive")
    changes = role.set_grants({"reports.churn": OWN, "basedata.product": None},
                              by=users["admin"])
    recorded = {(c.permission, c.before, c.after) for c in PermissionChange.select()}
    assert recorded == {(c.permission, c.before, c.after) for c in changes} == {
        ("reports.churn", "all", "own"), ("reports.contribution", "all", "-"),
        ("reports.composition", "all", "-"), ("reports.service", "all", "-"),
        ("basedata.product", "-", "+")}
    assert all(c.changed_by_id == users["admin"].id for c in PermissionChange.select())
    assert Role.get_by_id(role.id).grants() == {"reports.churn": OWN, "basedata.product": None}


def test_a_permission_revoked_in_the_ui_takes_effect_on_the_next_request(client_for):
    supervisor = client_for("supervisor")
    admin = client_for("admin")
    assert supervisor.get("/admin/customer/").status_code == 200
    role = Role.get(Role.code == "supervisor")
    form = {code: scope or "on" for code, scope in role.grants().items()}
    del form["customers.customer"]
    form["csrf_token"] = csrf_token(admin, f"/admin/permission/?role={role.id}")
    response = admin.post(f"/admin/permission/?role={role.id}", data=form)
    assert response.status_code == 302
    assert "customers.customer" not in Role.get_by_id(role.id).grants()
    assert supervisor.get("/admin/customer/").status_code == 403
    change = PermissionChange.get(PermissionChange.permission == "customers.customer")
    assert (change.before, change.after, change.changed_by.username) == ("all", "-", "admin")


def test_the_permission_screen_shows_each_grant(client_for):
    page = client_for("admin").get(
        f"/admin/permission/?role={Role.get(Role.code == 'manager').id}").get_data(as_text=True)
    assert '<option value="own" selected>' in page
    for permission in PERMISSIONS:
        assert f'name="{permission.code}"' in page


def test_parse_grant_round_trips():
    assert parse_grant("customers.customer:own") == ("customers.customer", "own")
    assert parse_grant("security.user") == ("security.user", None)


# -- users and roles ------------------------------------------------------------

def _user_form(client, url, **fields):
    data = {"username": "", "full_name": "", "email": "", "active": "y", "new_password": "",
            "csrf_token": csrf_token(client, url)}
    data.update(fields)
    return client.post(url, data=data)


def test_an_administrator_creates_a_user_with_roles(client_for):
    admin = client_for("admin")
    manager = Role.get(Role.code == "manager")
    response = _user_form(admin, "/admin/user/new/", username="qiuqiu", full_name="球球",
                          new_password="tea-garden-41", role_ids=str(manager.id))
    assert response.status_code == 302
    user = User.get(User.username == "qiuqiu")
    assert user.role_names() == ["客户经理"] and user.fs_uniquifier
    assert user.password == "tea-garden-41"  # hashed by the configured scheme (plaintext in tests)
    assert login(admin.application.test_client(), "qiuqiu", "tea-garden-41").status_code == 302


@pytest.mark.parametrize("fields, field, message", [
    ({"username": "qiuqiu", "full_name": "球球"}, "new_password", "请设置密码"),
    ({"username": "xiaoming", "full_name": "小明二", "new_password": "tea-garden-41"},
     "username", "该用户名已被使用"),
    ({"username": "", "full_name": "球球", "new_password": "tea-garden-41"}, "username", ""),
    ({"username": "qiuqiu", "full_name": "球球", "new_password": "short"}, "new_password", ""),
])
def test_bad_user_input_is_answered_next_to_the_field(client_for, fields, field, message):
    admin = client_for("admin")
    before = User.select().count()
    response = _user_form(admin, "/admin/user/new/", **fields)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{field}"' in page and "is-invalid" in page
    if fields["full_name"]:
        assert f'value="{fields["full_name"]}"' in page  # the input is kept
    assert User.select().count() == before


def test_user_pages_never_show_password_hashes(client_for, users):
    admin = client_for("admin")
    users["xiaoming"].password = hash_password_marker = "SECRET-HASH-MARKER"
    users["xiaoming"].save()
    for url in ["/admin/user/", f"/admin/user/details/?id={users['xiaoming'].id}",
                "/admin/user/export/csv/"]:
        page = admin.get(url).get_data(as_text=True)
        assert hash_password_marker not in page
        assert users["xiaoming"].fs_uniquifier not in page


def test_users_cannot_be_deleted_only_disabled(client_for, users):
    admin = client_for("admin")
    response = admin.post("/admin/user/delete/", data={
        "id": users["wangcai"].id, "csrf_token": csrf_token(admin, "/admin/user/")})
    assert response.status_code == 403
    assert User.get_or_none(User.id == users["wangcai"].id) is not None


def test_a_role_still_held_cannot_be_deleted(client_for):
    admin = client_for("admin")
    role = Role.get(Role.code == "manager")
    admin.post("/admin/role/delete/", data={
        "id": role.id, "csrf_token": csrf_token(admin, "/admin/role/")})
    assert Role.get_or_none(Role.id == role.id) is not None
    assert "仍有用户" in admin.get("/admin/role/").get_data(as_text=True)


def test_password_guessing_is_slowed_per_account_and_address(app, users):
    guesser = app.test_client()
    answers = [login(guesser, "xiaoming", f"guess-{i}").status_code for i in range(11)]
    assert answers[:10] == [200] * 10 and answers[10] == 429
    assert "登录尝试过于频繁" in login(guesser, "xiaoming", PASSWORD).get_data(as_text=True)
    # a colleague behind the same address still logs in
    assert login(app.test_client(), "wangcai").status_code == 302


def test_last_login_is_shown_to_the_minute(client_for, users):
    # As Flask-Security stored it before it used the one clock: UTC, with microseconds.
    users["xiaoming"].last_login_at = datetime.datetime(2026, 11, 20, 9, 5, 42, 123456)
    users["xiaoming"].save()
    admin = client_for("admin")
    for url in ["/admin/user/", f"/admin/user/details/?id={users['xiaoming'].id}"]:
        page = admin.get(url).get_data(as_text=True)
        assert "2026-11-20 17:05" in page, url  # in Beijing
        assert "17:05:42" not in page and "123456" not in page, url


ROLE_BOX = re.compile(r'<input[^>]*type="checkbox"[^>]*>\s*<label[^>]*>([^<]+)</label>')


def test_roles_are_checkboxes_and_a_user_gets_two_through_the_rendered_form(client_for):
    admin = client_for("admin")
    page = admin.get("/admin/user/new/").get_data(as_text=True)
    assert not re.search(r'<select[^>]*name="role_ids"', page)  # no Ctrl+click listbox
    assert '<div class="crm-checkboxes" id="role_ids">' in page
    boxes = {}
    for match in ROLE_BOX.finditer(page):
        tag = match.group(0)
        if 'name="role_ids"' in tag:
            assert 'class="form-check-input"' in tag
            boxes[match.group(1).strip()] = re.search(r'value="(\d+)"', tag).group(1)
    assert set(boxes) == {"系统管理员", "销售主管", "客户经理", "高管"}
    response = admin.post("/admin/user/new/", data={
        "username": "zhoujie", "full_name": "周洁轮", "email": "", "active": "y",
        "new_password": "tea-garden-41", "role_ids": [boxes["客户经理"], boxes["销售主管"]],
        "csrf_token": CSRF.search(page).group(1)})
    assert response.status_code == 302
    user = User.get(User.username == "zhoujie")
    assert sorted(user.role_names()) == sorted(["客户经理", "销售主管"])
    edit = admin.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
    checked = {m.group(1).strip() for m in ROLE_BOX.finditer(edit) if "checked" in m.group(0)}
    assert checked == {"客户经理", "销售主管"}  # the edit form shows what he holds


def _edit_user(admin, user, new_password):
    """用户管理 → 编辑 of ``user``, saved with the values its form renders and a 密码."""
    from datetime import date

    from tests.test_crawl import form_data, parse
    url = f"/admin/user/edit/?id={user.id}"
    form = next(f for f in parse(admin.get(url).get_data(as_text=True)).iter("form")
                if "admin-form" in f.attrs.get("class", ""))
    data = {}
    for name, value in form_data(form, date.today(), lambda url: []):
        data.setdefault(name, []).append(value)
    data["new_password"] = [new_password]
    return admin.post(url, data=data)


def test_a_password_reset_by_an_administrator_ends_the_users_other_sessions(app, users,
                                                                            client_for):
    elsewhere = app.test_client()  # 小明, logged in on another computer
    assert login(elsewhere, "xiaoming").status_code == 302
    assert elsewhere.get("/admin/").status_code == 200
    admin = client_for("admin")
    assert _edit_user(admin, users["xiaoming"], "").status_code == 302
    assert elsewhere.get("/admin/").status_code == 200  # saving without a 密码 keeps it
    assert _edit_user(admin, users["xiaoming"], "new-secret-42").status_code == 302
    response = elsewhere.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert User.get_by_id(users["xiaoming"].id).role_names() == ["客户经理"]  # roles kept
    assert login(app.test_client(), "xiaoming", PASSWORD).status_code == 200  # old: refused
    assert login(app.test_client(), "xiaoming", "new-secret-42").status_code == 302
    assert admin.get("/admin/").status_code == 200  # the administrator stays logged in


def test_a_new_user_form_is_shown_without_errors_before_it_is_sent(client_for):
    page = client_for("admin").get("/admin/user/new/").get_data(as_text=True)
    assert "请设置密码" not in page and "is-invalid" not in page
