"""Logging in: the throttle, the account lockout, sessions that end at logout, cookies,
and the one password policy (用户管理, ``flask create-user``, self-service change).

The lockout rule itself is a model method tested with explicit times; the pages show
that it holds from any address, through two app instances on one database and after a
restart, and that an administrator lifts it with the button the user list renders.
"""
import datetime
import html
import logging
import re
import uuid

import pytest
from flask_security.proxies import _security

from models import DomainError, User, db, now, schema
from seed import reference
from tests.conftest import DEMO_USERS, PASSWORD, csrf_token, login, make_user, race

NOW = datetime.datetime(2026, 11, 20, 9, 0)
LOCKED = "该账户已被锁定"


def minutes(n):
    return datetime.timedelta(minutes=n)


def reload(user):
    return User.get_by_id(user.id)


def fail(user, times=1, at=NOW, attempts=5, window=15):
    locked = [reload(user).record_failed_login(at, attempts, window) for _ in range(times)]
    return locked[-1]


def text(response):
    return response.get_data(as_text=True)


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# -- the rule (no HTTP) ---------------------------------------------------------------

def test_the_fifth_failure_locks_the_account_for_fifteen_minutes(users):
    xiaoming = users["xiaoming"]
    assert not fail(xiaoming, 4)
    assert reload(xiaoming).failed_logins == 4 and not reload(xiaoming).is_locked(now=NOW)
    assert fail(xiaoming, at=NOW + minutes(1))  # the fifth: locked by this one
    locked = reload(xiaoming)
    assert locked.locked_until == NOW + minutes(16)
    assert locked.is_locked(now=NOW + minutes(15)) and not locked.is_locked(now=NOW + minutes(16))
    locked.locked_until += datetime.timedelta(seconds=20)
    assert locked.lock_ends() == NOW + minutes(17)  # as shown: the minute, rounded up


def test_failures_while_locked_neither_count_nor_extend_the_lock(users):
    xiaoming = users["xiaoming"]
    fail(xiaoming, 5)
    assert not fail(xiaoming, 3, at=NOW + minutes(10))
    again = reload(xiaoming)
    assert again.failed_logins == 5 and again.locked_until == NOW + minutes(15)


def test_the_count_starts_again_after_a_quiet_window_or_an_expired_lock(users):
    xiaoming = users["xiaoming"]
    fail(xiaoming, 4)
    fail(xiaoming, at=NOW + minutes(16))  # the earlier four are older than the window
    assert reload(xiaoming).failed_logins == 1
    fail(xiaoming, 4, at=NOW + minutes(17))
    assert reload(xiaoming).is_locked(now=NOW + minutes(17))
    assert not fail(xiaoming, at=NOW + minutes(40))  # the lock expired: a fresh start
    after = reload(xiaoming)
    assert after.failed_logins == 1 and not after.is_locked(now=NOW + minutes(40))


def test_attempts_and_minutes_are_parameters(users):
    xiaoming = users["xiaoming"]
    assert fail(xiaoming, 3, attempts=3, window=60)
    assert reload(xiaoming).locked_until == NOW + minutes(60)


def test_a_success_clears_the_count_but_not_a_lock(users):
    xiaoming = users["xiaoming"]
    fail(xiaoming, 3)
    reload(xiaoming).reset_failed_logins(NOW)
    assert reload(xiaoming).failed_logins == 0
    fail(xiaoming, 5)
    reload(xiaoming).reset_failed_logins(NOW + minutes(1))
    assert reload(xiaoming).is_locked(now=NOW + minutes(1))  # the right password, locked
    reload(xiaoming).reset_failed_logins(NOW + minutes(15))  # after the lock expired
    assert reload(xiaoming).failed_logins == 0 and reload(xiaoming).locked_until is None


def test_unlock_lifts_the_lock_and_refuses_an_account_that_is_not_locked(users):
    xiaoming = users["xiaoming"]
    with pytest.raises(DomainError):
        reload(xiaoming).unlock(now=NOW)
    fail(xiaoming, 5)
    reload(xiaoming).unlock(now=NOW)
    assert not reload(xiaoming).is_locked(now=NOW) and reload(xiaoming).failed_logins == 0


def test_failures_arriving_at_the_same_moment_are_all_counted(users):
    xiaoming = users["xiaoming"]
    race(lambda i: User.get_by_id(xiaoming.id).record_failed_login(NOW, 5, 15), count=5)
    assert reload(xiaoming).failed_logins == 5 and reload(xiaoming).is_locked(now=NOW)


# -- the throttle: one account, however it is spelled --------------------------------

SPELLINGS = ["admin", "ａｄｍｉｎ", "admin ", "\tadmin", "ADMIN", " Admin", "ＡＤＭＩＮ",
             "admin\u3000", "aｄmin", "adMin"]


def test_every_spelling_of_an_account_is_the_same_account(app, users):
    for spelling in SPELLINGS:
        client = client_from(app, "10.0.0.9")
        assert login(client, spelling).status_code == 302, repr(spelling)


def test_rotating_spellings_hits_the_throttle_as_fast_as_one_spelling(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "LOCKOUT_ATTEMPTS", 100)  # the throttle alone
    guesser = client_from(app, "10.0.0.1")
    answers = [login(guesser, spelling, f"guess-{i}").status_code
               for i, spelling in enumerate(SPELLINGS)]
    assert answers == [200] * 10
    assert login(guesser, "ＡＤＭＩＮ ", PASSWORD).status_code == 429
    assert login(guesser, "\tadmin", PASSWORD).status_code == 429
    assert login(client_from(app, "10.0.0.2"), "admin").status_code == 302  # another address


# -- the lockout, through the login page ---------------------------------------------

def test_five_failures_lock_the_account_from_every_address(app, users):
    for i in range(4):
        response = login(client_from(app, f"10.0.1.{i}"), "xiaoming", "wrong")
        assert "用户名或密码错误" in text(response) and LOCKED not in text(response)
    fifth = login(client_from(app, "10.0.1.9"), "ｘｉａｏｍｉｎｇ", "wrong")
    assert LOCKED in text(fifth) and 'id="crm-login-error"' in text(fifth)
    locked = reload(users["xiaoming"])
    assert locked.failed_logins == 5 and locked.is_locked()

    elsewhere = client_from(app, "10.0.2.1")
    right = login(elsewhere, "xiaoming", PASSWORD)
    assert right.status_code == 200 and LOCKED in text(right)
    assert "用户名或密码错误" not in text(right)
    assert elsewhere.get("/admin/").status_code == 302  # not logged in
    wrong = login(client_from(app, "10.0.2.2"), "xiaoming", "still-wrong")
    assert text(wrong).count(LOCKED) == text(right).count(LOCKED) == 1  # the same answer
    after = reload(users["xiaoming"])
    assert (after.failed_logins, after.locked_until) == (5, locked.locked_until)  # not reset
    assert login(client_from(app, "10.0.2.3"), "wangcai").status_code == 302  # others log in


def test_after_the_lock_expires_the_right_password_logs_in_and_clears_the_count(app, users):
    for _ in range(5):
        login(app.test_client(), "xiaoming", "wrong")
    User.update(locked_until=now() - minutes(1)).where(
        User.id == users["xiaoming"].id).execute()
    assert login(app.test_client(), "xiaoming").status_code == 302
    after = reload(users["xiaoming"])
    assert after.failed_logins == 0 and after.locked_until is None
    assert after.login_count == 1  # Flask-Security's own tracking still saved


def test_a_successful_login_clears_earlier_failures(app, users):
    for _ in range(4):
        login(app.test_client(), "xiaoming", "wrong")
    assert login(app.test_client(), "xiaoming").status_code == 302
    for _ in range(4):
        login(app.test_client(), "xiaoming", "wrong")
    assert not reload(users["xiaoming"]).is_locked()  # 4 + 4 failures, a success between


def test_the_lock_message_speaks_english_in_the_english_ui(app, users):
    fail(users["xiaoming"], 5, at=now())
    client = app.test_client()
    client.get("/locale/en")
    page = text(login(client, "xiaoming"))
    assert "this account is locked until" in page and LOCKED not in page


def worker(fresh_app, path, **config):
    """A server process of its own: an app with its own limiter, on the shared database."""
    return fresh_app(TESTING=True, DATABASE_URL=f"sqlite:///{path}", SECRET_KEY="k",
                     SECURITY_PASSWORD_SALT="s", SECURITY_PASSWORD_HASH="plaintext", **config)


def test_two_workers_enforce_one_lockout_and_a_restart_keeps_it(fresh_app, tmp_path):
    path = tmp_path / "shared.db"
    first, second = worker(fresh_app, path), worker(fresh_app, path)
    with first.app_context():
        schema.upgrade(db.obj)
        reference.load()
    make_user(first, "laowang", "老王", ["manager"])
    for _ in range(3):
        assert LOCKED not in text(login(first.test_client(), "laowang", "wrong"))
    assert LOCKED not in text(login(second.test_client(), "laowang", "wrong"))
    assert LOCKED in text(login(second.test_client(), "laowang", "wrong"))  # 3 + 2 = 5
    assert LOCKED in text(login(first.test_client(), "laowang", PASSWORD))
    restarted = worker(fresh_app, path)
    client = restarted.test_client()
    assert LOCKED in text(login(client, "laowang", PASSWORD))
    assert client.get("/admin/").status_code == 302


# -- the log --------------------------------------------------------------------------

def test_failed_logins_lockouts_and_unlocks_are_logged(app, users, client_for, caplog):
    caplog.set_level(logging.WARNING, logger="crm.security")
    login(client_from(app, "10.0.3.1"), "nobody", "x")
    for _ in range(5):
        login(client_from(app, "10.0.3.2"), "xiaoming", "wrong")
    login(client_from(app, "10.0.3.3"), "xiaoming", PASSWORD)
    login(client_from(app, "10.0.3.4"), "xiaoming", "wrong")
    _unlock(client_for("admin"), users["xiaoming"])
    lines = [r.getMessage() for r in caplog.records if r.name == "crm.security"]
    assert lines[0] == "failed login: unknown user 'nobody' from 10.0.3.1"
    assert lines[1:5] == [f"failed login: 'xiaoming' from 10.0.3.2 ({n} of 5)"
                          for n in range(1, 5)]
    assert lines[5].startswith("account locked: 'xiaoming' from 10.0.3.2 after 5 failed logins,")
    assert lines[6] == ("login refused, account locked: 'xiaoming' from 10.0.3.3 "
                        "(right password)")
    assert lines[7] == "failed login while locked: 'xiaoming' from 10.0.3.4"
    assert lines[8] == "account unlocked: 'xiaoming' by 'admin' from 127.0.0.1"
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "crm.security")


# -- 用户管理: the lock shown, and lifted by the button --------------------------------

UNLOCK_FORM = re.compile(r'<form class="crm-row-action" method="POST" '
                         r'action="(/admin/user/unlock/)"[^>]*>(.*?)</form>', re.S)


def _unlock(admin, user):
    page = text(admin.get("/admin/user/"))
    for action, body in UNLOCK_FORM.findall(page):
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', body))
        if fields["id"] == str(user.id):
            return admin.post(action, data={k: html.unescape(v) for k, v in fields.items()})
    raise AssertionError(f"no 解锁 button for {user.username}")


def test_an_administrator_sees_the_lock_and_lifts_it_with_the_rendered_button(app, users,
                                                                               client_for):
    fail(users["xiaoming"], 5, at=now())
    admin = client_for("admin")
    page = text(admin.get("/admin/user/"))
    assert "已锁定至" in page and page.count('action="/admin/user/unlock/"') == 1
    assert 'data-confirm="确认解锁用户“小明”？"' in page
    response = _unlock(admin, users["xiaoming"])
    assert response.status_code == 302
    assert "已解锁用户“小明”" in text(admin.get(response.headers["Location"]))
    assert not reload(users["xiaoming"]).is_locked()
    assert login(app.test_client(), "xiaoming").status_code == 302
    assert "已锁定至" not in text(admin.get("/admin/user/"))


def test_unlocking_needs_the_user_management_permission(users, client_for):
    fail(users["xiaoming"], 5, at=now())
    supervisor = client_for("supervisor")
    response = supervisor.post("/admin/user/unlock/", data={
        "id": users["xiaoming"].id, "csrf_token": csrf_token(supervisor, "/admin/")})
    assert response.status_code == 403
    assert reload(users["xiaoming"]).is_locked()


# -- sessions end on the server --------------------------------------------------------

def _replay(app, name, value):
    """A browser that only has the copied cookie."""
    thief = app.test_client()
    thief.set_cookie(name, value)
    return thief


def test_a_cookie_copied_before_logout_is_refused_afterwards(app, users):
    client = app.test_client()
    assert login(client, "xiaoming").status_code == 302
    copied = client.get_cookie("session").value
    assert _replay(app, "session", copied).get("/admin/").status_code == 200  # it was valid
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")}) \
        .status_code == 302
    response = _replay(app, "session", copied).get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert login(app.test_client(), "xiaoming").status_code == 302  # he logs in again


def test_logging_out_on_one_computer_ends_the_session_on_the_others(app, users):
    office, home = app.test_client(), app.test_client()
    login(office, "xiaoming")
    login(home, "xiaoming")
    home.post("/logout", data={"csrf_token": csrf_token(home, "/admin/")})
    assert office.get("/admin/").status_code == 302


def _log_in_remembered(client, username="xiaoming", password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password,
                                       "remember": "y", "csrf_token": csrf_token(client)})


def test_a_remember_me_cookie_copied_before_logout_is_refused_afterwards(app, users):
    client = app.test_client()
    assert _log_in_remembered(client).status_code == 302
    copied = client.get_cookie("remember_token").value
    assert _replay(app, "remember_token", copied).get("/admin/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert _replay(app, "remember_token", copied).get("/admin/").status_code == 302


def test_remember_me_is_chosen_lasts_14_days_and_stays_on_this_site(app, users):
    plain = app.test_client()
    login(plain, "xiaoming")
    assert plain.get_cookie("remember_token") is None  # off unless ticked
    response = _log_in_remembered(app.test_client())
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("remember_token="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    expires = datetime.datetime.strptime(re.search(r"Expires=([^;]+)", cookie).group(1),
                                         "%a, %d %b %Y %H:%M:%S GMT")
    utc_now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    days = (expires - utc_now).total_seconds() / 86400
    assert 13.9 < days <= 14
    session = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Expires" not in session


def test_cookies_are_https_only_when_https_is_configured(fresh_app, monkeypatch):
    assert not fresh_app().config.get("SESSION_COOKIE_SECURE")
    monkeypatch.setenv("CRM_HTTPS", "1")
    config = fresh_app().config
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["PREFERRED_URL_SCHEME"] == "https"


def test_a_cookie_is_refused_after_the_user_changes_his_password(fresh_app, tmp_path):
    app = fresh_app(TESTING=True, DATABASE_URL=f"sqlite:///{tmp_path}/change.db",
                    SECRET_KEY="k", SECURITY_PASSWORD_SALT="s",
                    SECURITY_PASSWORD_HASH="plaintext", SECURITY_CHANGEABLE=True,
                    SECURITY_SEND_PASSWORD_CHANGE_EMAIL=False)
    with app.app_context():
        schema.upgrade(db.obj)
        reference.load()
    make_user(app, "laowang", "老王", ["manager"])
    client, other = app.test_client(), app.test_client()
    login(client, "laowang")
    login(other, "laowang")
    copied = client.get_cookie("session").value

    def change(new):
        return client.post("/change", data={
            "password": PASSWORD, "new_password": new, "new_password_confirm": new,
            "csrf_token": csrf_token(client, "/change")})
    weak = change("qwertyuiop")  # Flask-Security's own page, the same policy
    assert weak.status_code == 200 and "这是最常用的 100 个密码之一" in text(weak)
    assert change("river-stone-88").status_code == 302
    assert client.get("/admin/").status_code == 200  # the one who changed it stays in
    assert other.get("/admin/").status_code == 302  # every other session ends
    assert _replay(app, "session", copied).get("/admin/").status_code == 302


# -- one password policy ------------------------------------------------------------------

WEAK = [("12345678", "密码长度至少为 10 个字符"),
        ("1234567890", "这是最常用的 100 个密码之一"),
        ("password1234", "这是一个非常常见的密码"),
        ("qwertyuiop", "这是最常用的 100 个密码之一"),
        ("abcdefghij", "像“abc”或“6543”这样的序列很容易被猜到"),
        ("aaaaaaaaaa", "像“aaa”这样的重复很容易被猜到"),
        ("qiuqiu12345", "密码过于简单")]  # his own 用户名 and a sequence


@pytest.mark.parametrize("password, message", WEAK)
def test_the_user_form_refuses_weak_passwords_in_chinese(client_for, password, message):
    admin = client_for("admin")
    response = admin.post("/admin/user/new/", data={
        "username": "qiuqiu", "full_name": "球球", "email": "", "active": "y",
        "new_password": password, "csrf_token": csrf_token(admin, "/admin/user/new/")})
    assert response.status_code == 200
    page = text(response)
    assert message in page and "is-invalid" in page
    assert "guess" not in page and "common password" not in page  # zxcvbn's English
    assert not User.select().where(User.username == "qiuqiu").exists()


def test_the_user_form_speaks_english_in_the_english_ui(client_for):
    admin = client_for("admin")
    admin.get("/locale/en")
    response = admin.post("/admin/user/new/", data={
        "username": "qiuqiu", "full_name": "球球", "email": "", "active": "y",
        "new_password": "qwertyuiop", "csrf_token": csrf_token(admin, "/admin/user/new/")})
    assert "This is a top-100 common password." in text(response)


def test_an_edit_with_a_weak_password_is_refused_and_the_old_one_kept(app, users, client_for):
    from tests.test_security import _edit_user
    admin = client_for("admin")
    response = _edit_user(admin, users["xiaoming"], "xiaoming123")
    assert response.status_code == 200 and "is-invalid" in text(response)
    assert login(app.test_client(), "xiaoming").status_code == 302


@pytest.mark.parametrize("password", ["1", "12345678", "password1", "qwertyuiop", "zhangsan-1"])
def test_create_user_refuses_weak_passwords(app, password):
    result = app.test_cli_runner().invoke(args=[
        "create-user", "zhangsan", "--full-name", "张三", "--password", password])
    assert result.exit_code != 0
    assert "密码" in result.output
    assert not User.select().where(User.username == "zhangsan").exists()


def test_the_policy_is_one_function(app):
    with app.test_request_context():
        assert _security.password_util.validate("river-stone-88", True)[0] is None
        errors, _ = _security.password_util.validate("qwertyuiop", True)
        assert errors == ["这是最常用的 100 个密码之一。"]
        errors, _ = _security.password_util.validate("laowang-2026", True, username="laowang")
        assert errors  # the user's own name is easy to guess
    assert app.config["SECURITY_PASSWORD_LENGTH_MIN"] == 10


def test_the_demo_password_passes_the_policy(app):
    with app.test_request_context():
        for username, (full_name, _) in DEMO_USERS.items():
            assert _security.password_util.validate(
                PASSWORD, True, username=username, full_name=full_name)[0] is None


def test_an_unknown_uniquifier_in_a_session_is_no_session(app, users):
    thief = app.test_client()
    with thief.session_transaction() as session:
        session["_user_id"] = uuid.uuid4().hex
    assert thief.get("/admin/").status_code == 302


def test_a_throttle_store_that_is_down_stops_no_login(fresh_app, tmp_path):
    """Redis unreachable: the login still answers, and the lockout still counts."""
    app = worker(fresh_app, tmp_path / "down.db", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    with app.app_context():
        schema.upgrade(db.obj)
        reference.load()
    make_user(app, "laowang", "老王", ["manager"])
    response = login(app.test_client(), "laowang", PASSWORD)
    assert response.status_code == 302
    for _ in range(5):
        login(app.test_client(), "laowang", "wrong")
    assert LOCKED in text(login(app.test_client(), "laowang", PASSWORD))
