"""Who reaches what: the menu per role, 403 on every admin URL without the permission."""
import datetime
import re

import pytest

from models import Customer, Product, ServiceRequest
from tests.conftest import DEMO_USERS, csrf_token

REPORTS = ["客户贡献分析", "客户构成分析", "客户服务分析", "客户流失分析"]
# SPEC.md's role table, as the menu each role must see (in SPEC.md's module order).
EXPECTED_MENU = {
    "admin": [("基础数据", ["数据字典管理"]),
              ("权限管理", ["用户管理", "角色管理", "权限分配", "审计日志"])],
    "supervisor": [("营销管理", ["销售机会管理", "客户开发计划"]),
                   ("客户管理", ["客户信息管理", "客户流失管理"]),
                   ("服务管理", ["服务分配", "服务归档"]),
                   ("统计报表", REPORTS)],
    "xiaoming": [("营销管理", ["销售机会管理", "客户开发计划"]),
                 ("客户管理", ["客户信息管理", "客户流失管理"]),
                 ("服务管理", ["服务创建", "服务处理", "服务反馈", "服务归档"]),
                 ("基础数据", ["查询产品信息", "查询库存"])],
    "executive": [("统计报表", REPORTS)],
}
EXPECTED_MENU["wangcai"] = EXPECTED_MENU["xiaoming"]

# Every admin screen: endpoint → menu label, or None for screens reached from a row.
SCREENS = {
    "opportunity": "销售机会管理", "plan": "客户开发计划",
    "customer": "客户信息管理", "churn": "客户流失管理",
    "contact": None, "activity": None, "order": None,
    "service_create": "服务创建", "service_assign": "服务分配", "service_handle": "服务处理",
    "service_feedback": "服务反馈", "service_archive": "服务归档",
    "report_contribution": "客户贡献分析", "report_composition": "客户构成分析",
    "report_service": "客户服务分析", "report_churn": "客户流失分析",
    "dictionary": "数据字典管理", "product": "查询产品信息", "stock": "查询库存",
    "user": "用户管理", "role": "角色管理", "permission": "权限分配", "audit": "审计日志",
}
# The row-reached screens, by who maintains or views them (SPEC.md §2.1).
HIDDEN_ACCESS = {
    "contact": {"xiaoming", "wangcai"}, "activity": {"xiaoming", "wangcai"},
    "order": {"xiaoming", "wangcai", "supervisor"},
}


def allowed(username, endpoint):
    label = SCREENS[endpoint]
    if label is None:
        return username in HIDDEN_ACCESS[endpoint]
    return any(label in items for _, items in EXPECTED_MENU[username])


def menu_of(html):
    """[(category, [items])] of the main navigation bar."""
    nav = html.split('<ul class="nav navbar-nav mr-auto">', 1)[1].split("navbar-right", 1)[0]
    menu = []
    blocks = re.split(r'<li class="(?:active )?dropdown">', nav)[1:]
    for block in blocks:
        category = re.search(r"dropdown-toggle[^>]*>(.*?)<i", block, re.S).group(1)
        category = re.sub(r"<[^>]+>", "", category).strip()
        items = [re.sub(r"\s+", "", i) for i in
                 re.findall(r'class="dropdown-item[^"]*"[^>]*>(.*?)</a>', block, re.S)]
        menu.append((category, items))
    return menu


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_menu_matches_the_role_table(client_for, username):
    html = client_for(username).get("/admin/").get_data(as_text=True)
    assert menu_of(html) == EXPECTED_MENU[username]


def url_of(endpoint):
    return f"/admin/{endpoint.replace('report_', 'reports/')}/"


@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_every_screen_answers_403_without_the_permission(client_for, username):
    client = client_for(username)
    answers = {endpoint: client.get(url_of(endpoint)).status_code for endpoint in SCREENS}
    expected = {endpoint: 200 if allowed(username, endpoint) else 403 for endpoint in SCREENS}
    assert answers == expected


MODEL_SCREENS = [e for e in SCREENS if not e.startswith("report_") and e != "permission"]
PATHS = ["", "new/", "edit/?id=1", "details/?id=1", "export/csv/", "export/xlsx/",
         "ajax/lookup/?name=customer&query=a"]


@pytest.mark.parametrize("path", PATHS)
def test_a_role_without_the_screen_gets_403_on_every_path(client_for, path):
    client = client_for("executive")  # the executive holds nothing but reports
    answers = {endpoint: client.get(f"/admin/{endpoint}/{path}").status_code
               for endpoint in MODEL_SCREENS}
    assert answers == dict.fromkeys(MODEL_SCREENS, 403)


@pytest.mark.parametrize("path", ["new/", "edit/?id=1", "delete/", "action/", "ajax/update/"])
def test_posts_to_a_screen_without_the_permission_answer_403(client_for, path):
    client = client_for("executive")
    token = csrf_token(client, "/admin/")
    answers = {endpoint: client.post(f"/admin/{endpoint}/{path}",
                                     data={"id": "1", "csrf_token": token}).status_code
               for endpoint in MODEL_SCREENS}
    assert answers == dict.fromkeys(MODEL_SCREENS, 403)


def test_anonymous_visitors_are_sent_to_login(app, users):
    client = app.test_client()
    for url in ["/admin/", "/admin/user/", "/admin/customer/details/?id=1",
                "/admin/reports/churn/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_a_manager_opening_user_administration_gets_403(client_for):
    client = client_for("xiaoming")
    assert client.get("/admin/user/").status_code == 403
    assert client.get("/admin/user/new/").status_code == 403
    assert client.get("/admin/permission/").status_code == 403


def test_operations_not_granted_answer_403_inside_an_allowed_screen(client_for, users):
    customer = Customer.create_numbered(datetime.datetime(2026, 1, 5, 9), name="北京星光电子",
                                        manager=users["xiaoming"])
    product = Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                             price=7500)
    supervisor = client_for("supervisor")
    # the supervisor may see customers but neither edit them nor create services
    assert supervisor.get("/admin/customer/").status_code == 200
    assert supervisor.get(f"/admin/customer/edit/?id={customer.id}").status_code == 403
    assert supervisor.get("/admin/service_create/new/").status_code == 403
    # A valid CSRF token, so that the POSTs reach the permission check (without one,
    # CSRFProtect answers 400 before it).
    token = csrf_token(supervisor, "/admin/")
    assert supervisor.post(f"/admin/customer/edit/?id={customer.id}", data={
        "name": "改名了", "csrf_token": token}).status_code == 403
    assert supervisor.post("/admin/service_create/new/", data={
        "service_type": "咨询", "summary": "偷偷建的", "customer": customer.id,
        "request": "x", "csrf_token": token}).status_code == 403
    manager = client_for("xiaoming")
    assert manager.get("/admin/product/new/").status_code == 403
    assert manager.post("/admin/product/delete/", data={
        "id": product.id, "csrf_token": csrf_token(manager, "/admin/")}).status_code == 403
    assert Customer.get_by_id(customer.id).name == "北京星光电子"
    assert not ServiceRequest.select().exists()
    assert Product.get_or_none(Product.id == product.id) is not None



def test_the_kept_menu_follows_grants_language_and_page_at_once(app, client_for, users):
    """The menu is rendered once per grants, language and page (admin_views.main_menu):
    a role's new permission, another language and another page each show at once."""
    from models import Role
    client = client_for("executive")
    assert menu_of(client.get("/admin/").get_data(as_text=True)) == EXPECTED_MENU["executive"]
    role = Role.get(Role.code == "executive")
    role.permissions = [*role.permissions, "security.audit"]
    role.save()
    assert menu_of(client.get("/admin/").get_data(as_text=True)) == [
        *EXPECTED_MENU["executive"], ("权限管理", ["审计日志"])]
    assert client.get("/locale/en?next=/admin/").status_code == 302
    english = client.get("/admin/").get_data(as_text=True)
    assert [c for c, _ in menu_of(english)] == ["Reports", "Access control"]
    # the item of the page one is on is marked active, on each page
    for endpoint, label in [("report_churn", "Churn analysis"), ("audit", "Audit log")]:
        html = client.get(url_of(endpoint)).get_data(as_text=True)
        nav = html.split('<ul class="nav navbar-nav mr-auto">', 1)[1].split("navbar-right")[0]
        active = re.findall(r'class="dropdown-item active[^"]*"[^>]*>(.*?)</a>', nav, re.S)
        assert [re.sub(r"<[^>]+>", "", a).strip() for a in active] == [label]
