"""Flask-Admin's own texts, the seeded words and the list separators in the user's language.

Chinese first: every text of Flask-Admin's Chinese catalog reaches the page
(its compiled catalog lacks two), the page-size menu, booleans, the pickers'
texts. English: seeded role names, the system's dictionary categories, the
import columns and every list joined with ", " rather than "、".
"""
import io
import json
import os
import re

import flask_admin
import pytest
from babel.messages.pofile import read_po
from flask_admin import babel as admin_babel
from flask_admin.helpers import set_current_view

from admin_views.base import CrmModelView
from models import DictionaryEntry, Role
from models.customers import IMPORT_COLUMNS
from models.security import SEEDED_ROLE_TEXTS
from seed import reference
from tests.conftest import csrf_token

ADMIN_CATALOG = os.path.join(os.path.dirname(flask_admin.__file__),
                             "translations/zh_Hans_CN/LC_MESSAGES/admin.po")
ENGLISH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "translations/en/LC_MESSAGES/messages.po")


def text(response):
    return response.get_data(as_text=True)


def english(client):
    client.get("/locale/en")
    return client


def model_views(app):
    return [v for v in app.extensions["admin"][0]._views if isinstance(v, CrmModelView)]


# -- Flask-Admin's own texts ------------------------------------------------------

def test_every_text_of_flask_admins_chinese_catalog_is_shown_in_chinese(app):
    """Flask-Admin 2.2.1's compiled catalog lacks 'Failed to create record.' and
    'Failed to save record.'; translations/zh_Hans_CN/LC_MESSAGES/admin.po fills them."""
    with open(ADMIN_CATALOG, "rb") as fh:
        catalog = [m for m in read_po(fh) if m.id and m.string]
    view = model_views(app)[0]
    with app.test_request_context():
        set_current_view(view)
        wrong = []
        for message in catalog:
            translations = admin_babel.domain.get_translations()
            if isinstance(message.id, tuple):
                shown = translations.ungettext(message.id[0], message.id[1], 1)
                expected = message.string[0]
            else:
                shown, expected = translations.ugettext(message.id), message.string
            if shown != expected:
                wrong.append((message.id, shown))
    assert len(catalog) > 100 and not wrong


def test_a_failed_save_is_announced_in_chinese(client_for):
    client = client_for("admin")
    token = csrf_token(client, "/admin/")
    page = text(client.post("/admin/role/new/", data={"name": "", "csrf_token": token}))
    assert "创建记录失败。" in page and "Failed to" not in page
    role = Role.get(Role.code == "executive")
    page = text(client.post(f"/admin/role/edit/?id={role.id}",
                            data={"name": "", "csrf_token": token}))
    assert "保存记录失败。" in page and "Failed to" not in page


def test_the_page_size_menu_is_chinese_for_every_list(app, client_for):
    with app.test_request_context():
        for view in model_views(app):
            set_current_view(view)
            for size in view.page_size_options:
                assert admin_babel.ngettext(f"{size} item", f"{size} items", size) == \
                    f"{size} 条", (view.endpoint, size)
    page = text(client_for("admin").get("/admin/dictionary/"))
    assert "50 条" in page and "items" not in page


def test_booleans_are_yes_or_no_in_the_users_language(app, client_for, users):
    client = client_for("admin")
    page = text(client.get("/admin/user/"))
    assert 'title="启用：是"' in page and "true" not in page
    assert 'title="是否可编辑：否"' in text(client.get("/admin/dictionary/"))
    locked = DictionaryEntry.get(DictionaryEntry.editable == False)  # noqa: E712
    details = text(client.get(f"/admin/dictionary/details/?id={locked.id}"))
    assert re.search(r"<td>\s*否\s*</td>", details) and "False" not in details
    view = next(v for v in model_views(app) if v.endpoint == "user")
    with app.test_request_context():
        assert view.column_type_formatters_export[bool](view, True, "active") == "是"
    assert 'title="Enabled: Yes"' in text(english(client).get("/admin/user/"))


# -- the pickers' texts -------------------------------------------------------------

def locale_data(page):
    found = re.search(r'<script type="application/json" id="crm-locale-data">(.*?)</script>',
                      page, re.S)
    assert found, "crm-locale-data missing"
    return json.loads(found.group(1))


def test_the_pickers_get_their_texts_in_the_users_language(client_for):
    client = client_for("xiaoming")
    data = locale_data(text(client.get("/admin/contact/new/")))
    assert data["moment"] == "zh-cn"
    assert data["dateRange"]["applyLabel"] == "确定" and data["dateRange"]["cancelLabel"] == "取消"
    assert data["select2"]["noMatches"] == "未找到匹配项"
    assert data["select2"]["inputTooShort"] == ["请再输入 {n} 个字符"] * 2
    data = locale_data(text(english(client).get("/admin/contact/new/")))
    assert data["moment"] == "en" and data["dateRange"]["applyLabel"] == "Apply"
    assert data["select2"]["inputTooShort"] == ["Please enter {n} more character",
                                                "Please enter {n} more characters"]


def test_the_locale_script_runs_between_the_libraries_and_flask_admins_form_script(client_for):
    """moment and select2 must exist when it runs, and form.js must not have built a
    picker yet (it wraps daterangepicker when form.js announces itself)."""
    page = text(client_for("xiaoming").get("/admin/contact/new/"))
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    order = [next(i for i, s in enumerate(scripts) if name in s)
             for name in ("moment.min.js", "select2.min.js", "crm-locale.js", "form.js")]
    assert order == sorted(order)
    assert page.index('id="crm-locale-data"') < page.index("crm-locale.js")


# -- English: seeded words, separators ----------------------------------------------

def test_a_seeded_role_is_shown_by_its_translated_name_until_renamed(app):
    roles = {r.code: r for r in Role.select()}
    assert roles["supervisor"].display_name() == "销售主管"
    assert type(roles["supervisor"].display_name()).__name__ == "Msgid"
    renamed = roles["executive"]
    renamed.name = "总经理"
    assert renamed.display_name() == "总经理" and type(renamed.display_name()) is str
    assert Role(name="区域经理").display_name() == "区域经理"
    assert Role(name="区域经理", description="华东").display_description() == "华东"


def test_the_seeded_role_texts_are_the_seeds(app):
    assert {code: (name, description) for code, (name, description, _) in
            reference.ROLES.items()} == SEEDED_ROLE_TEXTS


def test_role_names_are_english_in_the_english_ui(client_for, users):
    Role.create(name="区域经理", code=None)
    client = english(client_for("admin"))
    assert "(Administrator)" in text(client.get("/admin/"))
    users_page = text(client.get("/admin/user/"))
    assert "Sales supervisor" in users_page and "Account manager" in users_page
    roles_page = text(client.get("/admin/role/"))
    assert "Executive" in roles_page and "Views all reports" in roles_page
    assert "区域经理" in roles_page  # the administrator's own role keeps its name
    assert "Sales supervisor" in text(client.get("/admin/permission/"))
    new_user = text(client.get("/admin/user/new/"))
    assert "Executive" in new_user and "高管" not in new_user
    assert "(Sales supervisor)" in text(english(client_for("supervisor")).get("/admin/"))


def test_the_systems_dictionary_categories_are_labels_in_english(client_for):
    DictionaryEntry.create(category="行业", item="制造业", value="1")
    page = text(english(client_for("admin")).get("/admin/dictionary/?page_size=100"))
    cells = {c.strip() for c in re.findall(r'<td class="col-category">(.*?)</td>', page, re.S)}
    assert cells == {"Customer level", "Region", "Service type", "行业"}


def test_the_import_page_names_the_columns_in_the_users_language(client_for):
    client = client_for("supervisor")
    columns = re.search(r'id="crm-import-columns">(.*?)</p>',
                        text(client.get("/admin/customer/import/")), re.S).group(1)
    assert columns.startswith("名称、地区、客户经理、")
    columns = re.search(r'id="crm-import-columns">(.*?)</p>',
                        text(english(client).get("/admin/customer/import/")), re.S).group(1)
    assert columns.startswith("Name, Region, Account manager, ")
    assert not re.search(r"[\u4e00-\u9fff]", columns)


def test_every_import_header_has_an_english_label():
    """The page translates the headers, which are not marked for extraction."""
    with open(ENGLISH, "rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh) if m.id and not m.context}
    assert [h for h in IMPORT_COLUMNS if not catalog.get(h)] == []


def test_the_import_message_is_english_in_the_english_ui(client_for, users):
    client = english(client_for("supervisor"))
    csv = ("名称,地区,客户经理,客户等级,客户满意度,客户信用度,地址,邮政编码,电话,传真,网址,"
           "法人,开户银行,银行帐号\r\n"
           "杭州湖畔科技,华北,xiaoming,大客户,4,5,杭州市,310000,0571-1,0571-2,www.hp.cn,"
           "钱七,农业银行,6228\r\n")
    preview = text(client.post("/admin/customer/import/", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(csv.encode()), "customers.csv"),
                                     "mode": "upsert",
                                     "csrf_token": csrf_token(client, "/admin/")}))
    assert "Confirm import" in preview and "New 1" in preview
    token = re.search(r'name="token" value="([^"]+)"', preview).group(1)
    client.post("/admin/customer/import/confirm/", data={
        "token": token, "csrf_token": csrf_token(client, "/admin/")})
    assert "Import done: 1 created, 0 updated, 0 skipped" in \
        text(client.get("/admin/customer/"))


@pytest.mark.parametrize("locale, joined", [("zh_Hans_CN", "客户编号、名称、地区"),
                                            ("en", "Customer no., Name, Region")])
def test_search_placeholders_join_with_the_languages_separator(client_for, locale, joined):
    client = client_for("supervisor")
    client.get(f"/locale/{locale}")
    assert f'placeholder="{joined}"' in text(client.get("/admin/customer/"))


# -- the layout -----------------------------------------------------------------------

def test_every_page_names_a_favicon_and_favicon_ico_answers(app, client_for):
    client = app.test_client()
    assert 'rel="icon" href="/static/favicon.svg"' in text(client.get("/login"))
    admin_page = text(client_for("admin").get("/admin/"))
    assert 'rel="icon" href="/static/favicon.svg"' in admin_page
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert client.get("/static/favicon.svg").status_code == 200


def test_lists_use_the_whole_width(client_for):
    assert 'class="container-fluid"' in text(client_for("admin").get("/admin/dictionary/"))
