"""Chinese first, English selectable from any page and remembered; every string translated."""
import os
import subprocess
import sys

from babel.messages.pofile import read_po

from tests.conftest import login

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_ui_defaults_to_simplified_chinese(app, users):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "用户名" in page and "密码" in page and 'lang="zh-CN"' in page


def test_a_browser_asking_for_english_gets_english(app, users):
    page = app.test_client().get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Username" in page.get_data(as_text=True)


def test_flask_admins_own_texts_are_chinese_too(client_for):
    page = client_for("admin").get("/admin/dictionary/").get_data(as_text=True)
    assert "列表" in page and "创建" in page


def test_english_is_selectable_from_any_page_and_remembered(app, users, client_for):
    client = client_for("xiaoming")
    response = client.get("/locale/en?next=/admin/customer/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/customer/"
    page = client.get("/admin/customer/").get_data(as_text=True)
    assert "Customers" in page or "Customer" in page
    assert "Log out" in page
    # remembered on the user: a new session after logging in is English too
    other = app.test_client()
    login(other, "xiaoming")
    assert "Log out" in other.get("/admin/").get_data(as_text=True)
    client.get("/locale/zh_Hans_CN")
    assert "退出系统" in client.get("/admin/").get_data(as_text=True)


def test_the_language_switch_is_no_open_redirect(app, users):
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        response = app.test_client().get(f"/locale/en?next={target}")
        assert response.headers["Location"] == "/admin/"


def test_every_message_has_an_english_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "babel.cfg", "-k", "_l", "-k", "N_", "-k", "gettext", "-k", "_",
                    "-k", "lazy_pgettext:1c,2",
                    "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)
    with open(pot, "rb") as fh:
        extracted = {(m.context, m.id) for m in read_po(fh) if m.id}
    with open(os.path.join(ROOT, "translations/en/LC_MESSAGES/messages.po"), "rb") as fh:
        catalog = {(m.context, m.id): m.string for m in read_po(fh) if m.id}
    missing = sorted((m for m in extracted if not translated(catalog.get(m))), key=str)
    assert not missing, f"untranslated (run `make catalog`, then translate): {missing}"


def translated(string):
    """A translation, with every plural form (msgstr[0], msgstr[1] …) filled in."""
    forms = string if isinstance(string, tuple) else (string,)
    return all(forms)


def test_a_plural_with_an_empty_form_counts_as_untranslated():
    assert translated(("%(num)d customer imported", "%(num)d customers imported"))
    assert not translated(("%(num)d customer imported", ""))
    assert not translated(("", "")) and not translated("") and not translated(None)


def test_error_pages_speak_the_users_language(app, users):
    client = app.test_client()
    assert "页面不存在" in client.get("/no-such-page").get_data(as_text=True)
    client.get("/locale/en")
    assert "does not exist" in client.get("/no-such-page").get_data(as_text=True)
