"""营销管理 through the client, as each role: every screen, action, bad input and scope."""
import datetime
import html
import json
import re

import pytest

from models import Customer, Opportunity, PlanItem, StatusChange
from models.base import local, local_today
from tests.conftest import csrf_token

NOW = datetime.datetime(2026, 11, 20, 10, 0)
TODAY = local_today()  # the company's day (TIMEZONE), not UTC's
FORM = {"source": "展会", "customer_name": "上海远景科技", "probability": "70",
        "summary": "更新 50 台笔记本", "contact": "陈工", "contact_phone": "021-5555",
        "description": "预算已批"}


def opportunity(users, by="xiaoming", **fields):
    return Opportunity.open(by=users[by], at=NOW, **{**FORM, "probability": 70, **fields})


def assigned(users, to="xiaoming", **fields):
    o = opportunity(users, by="supervisor", **fields)
    o.assign(users[to], by=users["supervisor"], at=NOW)
    return Opportunity.get_by_id(o.id)


def post(client, url, data, token_url=None):
    data = {**data, "csrf_token": csrf_token(client, token_url or "/admin/")}
    return client.post(url, data=data)


def text(response):
    return response.get_data(as_text=True)


def flashes(client):
    return text(client.get("/admin/"))


# -- 销售机会管理: list --------------------------------------------------------------

def test_the_list_shows_the_unassigned_opportunities_with_their_columns(client_for, users):
    opportunity(users, customer_name="未指派的")
    assigned(users, customer_name="已指派的")
    page = text(client_for("supervisor").get("/admin/opportunity/"))
    assert "未指派的" in page and "已指派的" not in page
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    headers = [re.sub(r"<[^>]+>|\s|&nbsp;", "", cell) for cell in cells]
    assert [h for h in headers if h] == ["编号", "客户名称", "概要", "联系人", "联系人电话",
                                         "创建时间"]


@pytest.mark.parametrize("term, found", [("远景", True), ("笔记本", True), ("陈工", True),
                                         ("不存在的词", False)])
def test_the_list_is_searched_by_name_summary_and_contact(client_for, users, term, found):
    opportunity(users)
    page = text(client_for("xiaoming").get(f"/admin/opportunity/?search={term}"))
    assert ("上海远景科技" in page) is found


def test_a_manager_sees_the_opportunities_he_created_a_supervisor_all(client_for, users):
    opportunity(users, by="xiaoming", customer_name="小明建的")
    opportunity(users, by="wangcai", customer_name="旺财建的")
    mine = text(client_for("xiaoming").get("/admin/opportunity/"))
    assert "小明建的" in mine and "旺财建的" not in mine
    csv = text(client_for("xiaoming").get("/admin/opportunity/export/csv/"))
    assert "小明建的" in csv and "旺财建的" not in csv
    everything = text(client_for("supervisor").get("/admin/opportunity/"))
    assert "小明建的" in everything and "旺财建的" in everything


# -- create ---------------------------------------------------------------------------

def test_a_manager_creates_an_opportunity_and_cannot_forge_its_stamps(client_for, users):
    client = client_for("xiaoming")
    response = post(client, "/admin/opportunity/new/", {
        **FORM, "created_by": users["wangcai"].id, "created_at": "2001-01-01 00:00:00",
        "status": "developed", "assigned_to": users["wangcai"].id, "id": "999"},
        "/admin/opportunity/new/")
    assert response.status_code == 302
    o = Opportunity.get(Opportunity.customer_name == "上海远景科技")
    assert (o.created_by_id, o.status, o.assigned_to_id) == (
        users["xiaoming"].id, Opportunity.NEW, None)
    assert local(o.created_at).date() == TODAY
    assert [c.to_status for c in StatusChange.of(o)] == ["new"] and o.id != 999
    assert "保存成功" in flashes(client)


@pytest.mark.parametrize("english", [False, True])
def test_the_create_screen_shows_number_creator_and_time_read_only(client_for, users, english):
    client = client_for("xiaoming")
    if english:
        client.get("/locale/en")
    page = text(client.get("/admin/opportunity/new/"))
    stamps = dict(re.findall(r'<label for="crm-stamp-\w+"[^>]*>(.*?)&nbsp;</label>\s*'
                             r'(<input[^>]*>)', page))
    labels = ["ID", "Created by", "Created at"] if english else ["编号", "创建人", "创建时间"]
    assert list(stamps) == labels
    for field in stamps.values():
        assert " readonly" in field and " name=" not in field  # shown, never posted
    number, creator, created = (re.search(r'value="([^"]*)"', stamps[label]).group(1)
                                for label in labels)
    assert number == ("Assigned on saving" if english else "自动生成")
    assert creator == users["xiaoming"].full_name
    assert created.startswith(TODAY.isoformat())
    assert page.index("crm-stamp-created_at") < page.index('name="customer_name"')


def test_a_supervisor_creates_an_opportunity_too(client_for, users):
    response = post(client_for("supervisor"), "/admin/opportunity/new/", FORM)
    assert response.status_code == 302
    assert Opportunity.get().created_by_id == users["supervisor"].id


BAD_INPUT = [
    ({"probability": "-1"}, "probability"),
    ({"probability": "101"}, "probability"),
    ({"probability": "abc"}, "probability"),
    ({"probability": ""}, "probability"),
    ({"customer_name": ""}, "customer_name"),
    ({"summary": ""}, "summary"),
    ({"description": ""}, "description"),
    ({"customer_name": "名" * 101}, "customer_name"),
    ({"summary": "要" * 201}, "summary"),
    ({"source": "源" * 51}, "source"),
    ({"contact": "人" * 51}, "contact"),
    ({"contact_phone": "1" * 51}, "contact_phone"),
    ({"description": "述" * 2001}, "description"),
]


@pytest.mark.parametrize("change, field", BAD_INPUT)
def test_bad_input_is_answered_next_to_the_field_keeps_the_input_and_writes_nothing(
        client_for, users, change, field):
    client = client_for("xiaoming")
    response = post(client, "/admin/opportunity/new/", {**FORM, **change})
    assert response.status_code == 200
    page = text(response)
    field_html = re.search(rf'<input[^>]*id="{field}"[^>]*>|<textarea[^>]*id="{field}"', page)
    assert field_html and "is-invalid" in field_html.group(0), f"no error on {field}"
    kept = {**FORM, **change}
    for name in ("customer_name", "summary", "contact"):
        if kept[name]:
            assert kept[name] in page  # what the user typed is still there
    assert not Opportunity.select().exists()


def test_a_whitespace_only_required_field_is_refused_next_to_the_field(client_for):
    response = post(client_for("xiaoming"), "/admin/opportunity/new/",
                    {**FORM, "customer_name": "   "})
    assert response.status_code == 200 and "is-invalid" in text(response)
    assert not Opportunity.select().exists()


def test_an_executive_cannot_create_opportunities(client_for):
    client = client_for("executive")
    assert client.get("/admin/opportunity/new/").status_code == 403
    assert post(client, "/admin/opportunity/new/", FORM).status_code == 403
    assert not Opportunity.select().exists()


# -- edit -----------------------------------------------------------------------------

def test_the_creator_edits_an_unassigned_opportunity(client_for, users):
    o = opportunity(users)
    client = client_for("xiaoming")
    assert client.get(f"/admin/opportunity/edit/?id={o.id}").status_code == 200
    response = post(client, f"/admin/opportunity/edit/?id={o.id}",
                    {**FORM, "summary": "改为 80 台"})
    assert response.status_code == 302
    o = Opportunity.get_by_id(o.id)
    assert o.summary == "改为 80 台" and o.created_by_id == users["xiaoming"].id


def test_a_supervisor_edits_anyones_unassigned_opportunity(client_for, users):
    o = opportunity(users)
    post(client_for("supervisor"), f"/admin/opportunity/edit/?id={o.id}",
         {**FORM, "probability": "90"})
    assert Opportunity.get_by_id(o.id).probability == 90


def test_another_manager_cannot_edit_it(client_for, users):
    o = opportunity(users, by="xiaoming")
    client = client_for("wangcai")
    assert client.get(f"/admin/opportunity/edit/?id={o.id}").status_code == 302
    post(client, f"/admin/opportunity/edit/?id={o.id}", {**FORM, "summary": "被改了"})
    assert Opportunity.get_by_id(o.id).summary == FORM["summary"]


def test_an_assigned_opportunity_cannot_be_edited(client_for, users):
    o = assigned(users)
    client = client_for("supervisor")
    post(client, f"/admin/opportunity/edit/?id={o.id}", {**FORM, "summary": "被改了"})
    assert Opportunity.get_by_id(o.id).summary == FORM["summary"]


def test_bad_input_on_edit_changes_nothing(client_for, users):
    o = opportunity(users)
    response = post(client_for("xiaoming"), f"/admin/opportunity/edit/?id={o.id}",
                    {**FORM, "probability": "101", "summary": "新概要"})
    assert response.status_code == 200 and "新概要" in text(response)
    assert Opportunity.get_by_id(o.id).summary == FORM["summary"]


# -- delete ---------------------------------------------------------------------------

def test_the_delete_button_asks_by_name(client_for, users):
    opportunity(users, customer_name="杭州西湖贸易")
    page = text(client_for("xiaoming").get("/admin/opportunity/"))
    assert "确认删除“杭州西湖贸易”？" in page


def test_the_creator_deletes_an_unassigned_opportunity(client_for, users):
    o = opportunity(users)
    response = post(client_for("xiaoming"), "/admin/opportunity/delete/", {"id": o.id})
    assert response.status_code == 302
    assert not Opportunity.select().exists()


def test_only_the_creator_deletes_not_even_a_supervisor(client_for, users):
    o = opportunity(users, by="xiaoming")
    page = text(client_for("supervisor").get("/admin/opportunity/"))
    assert "确认删除" not in page  # no delete button on another user's row
    post(client_for("supervisor"), "/admin/opportunity/delete/", {"id": o.id})
    post(client_for("wangcai"), "/admin/opportunity/delete/", {"id": o.id})
    assert Opportunity.get_or_none(Opportunity.id == o.id) is not None


def test_an_assigned_opportunity_cannot_be_deleted(client_for, users):
    o = opportunity(users, by="supervisor")
    o.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    post(client_for("supervisor"), "/admin/opportunity/delete/", {"id": o.id})
    assert Opportunity.get_or_none(Opportunity.id == o.id) is not None


def test_the_mass_delete_action_is_not_offered(client_for, users):
    opportunity(users)
    client = client_for("xiaoming")
    post(client, "/admin/opportunity/action/",
         {"action": "delete", "rowid": str(Opportunity.get().id)})
    assert Opportunity.select().count() == 1


# -- 指派 -----------------------------------------------------------------------------

def test_the_assign_page_offers_the_active_account_managers_only(app, client_for, users):
    from tests.conftest import make_user
    make_user(app, "gone", "离职经理", ["manager"], active=False)
    o = opportunity(users)
    page = text(client_for("supervisor").get(f"/admin/opportunity/assign/?ids={o.id}"))
    options = re.findall(r'<option[^>]*value="(\d+)"', page)
    assert sorted(map(int, options)) == sorted([users["xiaoming"].id, users["wangcai"].id])
    assert "上海远景科技" in page


def test_a_supervisor_assigns_one_opportunity(client_for, users):
    o = opportunity(users)
    client = client_for("supervisor")
    response = post(client, "/admin/opportunity/assign/",
                    {"ids": str(o.id), "manager": users["wangcai"].id})
    assert response.status_code == 302
    o = Opportunity.get_by_id(o.id)
    assert (o.status, o.assigned_to_id) == (Opportunity.ASSIGNED, users["wangcai"].id)
    assert o.assigned_at is not None
    assert "已指派给 旺财" in flashes(client)


def test_a_supervisor_assigns_several_selected_opportunities(client_for, users):
    ops = [opportunity(users, customer_name=f"客户{i}") for i in range(3)]
    client = client_for("supervisor")
    ids = [str(o.id) for o in ops[:2]]
    response = client.post("/admin/opportunity/action/", data={
        "action": "assign", "rowid": ids, "csrf_token": csrf_token(client, "/admin/opportunity/")})
    assert response.status_code == 302 and "/assign/" in response.headers["Location"]
    page = text(client.get(response.headers["Location"]))
    assert "客户0" in page and "客户1" in page and "客户2" not in page
    post(client, "/admin/opportunity/assign/",
         {"ids": ",".join(ids), "manager": users["xiaoming"].id})
    assert [o.status for o in Opportunity.select().order_by(Opportunity.id)] == [
        "assigned", "assigned", "new"]


@pytest.mark.parametrize("manager", ["supervisor", "executive", "99999", "abc", ""])
def test_a_crafted_assignee_is_refused_next_to_the_field(client_for, users, manager):
    o = opportunity(users)
    value = users[manager].id if manager in users else manager
    response = post(client_for("supervisor"), "/admin/opportunity/assign/",
                    {"ids": str(o.id), "manager": value})
    assert response.status_code == 200
    assert re.search(r'<select[^>]*is-invalid[^>]*id="manager"|<select[^>]*id="manager"'
                     r'[^>]*is-invalid', text(response))
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW


def test_assigning_an_already_assigned_opportunity_is_refused(client_for, users):
    o = opportunity(users)
    client = client_for("supervisor")
    token_page = text(client.get(f"/admin/opportunity/assign/?ids={o.id}"))
    assert "xiaoming" in token_page
    o.assign(users["xiaoming"], by=users["supervisor"], at=NOW)  # another supervisor was first
    post(client, "/admin/opportunity/assign/", {"ids": str(o.id), "manager": users["wangcai"].id})
    assert Opportunity.get_by_id(o.id).assigned_to_id == users["xiaoming"].id


def test_a_manager_can_neither_see_nor_use_assignment(client_for, users):
    o = opportunity(users)
    client = client_for("xiaoming")
    page = text(client.get("/admin/opportunity/"))
    assert "/admin/opportunity/assign/" not in page and 'value="assign"' not in page
    assert client.get(f"/admin/opportunity/assign/?ids={o.id}").status_code == 403
    assert post(client, "/admin/opportunity/assign/",
                {"ids": str(o.id), "manager": users["xiaoming"].id}).status_code == 403
    post(client, "/admin/opportunity/action/", {"action": "assign", "rowid": str(o.id)})
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW


def test_the_detail_page_shows_the_status_history(client_for, users):
    o = opportunity(users)
    page = text(client_for("xiaoming").get(f"/admin/opportunity/details/?id={o.id}"))
    assert 'id="crm-status-history"' in page and "未指派" in page and "小明" in page


# -- 客户开发计划 ---------------------------------------------------------------------

def test_the_plan_list_offers_the_steps_for_development_and_only_view_when_final(
        client_for, users):
    working = assigned(users, customer_name="开发中的")
    done = assigned(users, customer_name="已成功的")
    done.develop(by=users["xiaoming"], at=NOW)
    opportunity(users, customer_name="未指派的")
    page = text(client_for("xiaoming").get("/admin/plan/"))
    assert "开发中的" in page and "已成功的" in page and "未指派的" not in page
    assert f"/admin/plan/plan/?id={working.id}" in page
    assert f"/admin/plan/execute/?id={working.id}" in page
    assert f"/admin/plan/plan/?id={done.id}" not in page
    assert f"/admin/plan/details/?id={done.id}" in page
    assert page.count('action="/admin/plan/develop/"') == 1


def test_a_manager_plans_executes_and_develops_his_opportunity(client_for, users):
    o = assigned(users, to="xiaoming")
    client = client_for("xiaoming")
    url = f"/admin/plan/plan/?id={o.id}"
    page = text(client.get(url))
    assert "上海远景科技" in page and "预算已批" in page  # the opportunity, read-only
    response = post(client, url, {"op": "add", "date": TODAY.isoformat(), "content": "上门演示"})
    assert response.status_code == 302
    item = PlanItem.get()
    post(client, url, {"op": "edit", "item": item.id, "content": "带样机上门演示"})
    assert PlanItem.get_by_id(item.id).content == "带样机上门演示"
    post(client, f"/admin/plan/execute/?id={o.id}", {"item": item.id, "result": "客户满意"})
    assert PlanItem.get_by_id(item.id).result == "客户满意"
    response = post(client, "/admin/plan/develop/", {"id": o.id})
    assert response.status_code == 302
    customer = Customer.get(Customer.name == "上海远景科技")
    assert customer.manager_id == users["xiaoming"].id
    home = flashes(client)
    assert customer.number in home and f"/admin/customer/details/?id={customer.id}" in home


def test_a_past_plan_date_is_answered_next_to_the_field_and_kept(client_for, users):
    o = assigned(users)
    yesterday = (TODAY - datetime.timedelta(days=1)).isoformat()
    response = post(client_for("xiaoming"), f"/admin/plan/plan/?id={o.id}",
                    {"op": "add", "date": yesterday, "content": "回访"})
    assert response.status_code == 200
    page = text(response)
    assert "计划日期不能早于今天" in page and 'value="回访"' in page
    assert re.search(r'<input[^>]*id="date"[^>]*is-invalid|<input[^>]*is-invalid[^>]*id="date"',
                     page)
    assert not PlanItem.select().exists()


@pytest.mark.parametrize("data", [{"date": "", "content": "回访"},
                                  {"date": "not-a-date", "content": "回访"},
                                  {"date": TODAY.isoformat(), "content": ""}])
def test_a_plan_item_needs_both_fields(client_for, users, data):
    o = assigned(users)
    response = post(client_for("xiaoming"), f"/admin/plan/plan/?id={o.id}", {"op": "add", **data})
    assert response.status_code == 200 and "is-invalid" in text(response)
    assert not PlanItem.select().exists()


def test_an_executed_item_cannot_be_deleted_an_open_one_can(client_for, users):
    o = assigned(users)
    done = o.add_plan_item(TODAY, "拜访", today=TODAY)
    done.record_result("有意向")
    todo = o.add_plan_item(TODAY, "报价", today=TODAY)
    client = client_for("xiaoming")
    page = text(client.get(f"/admin/plan/plan/?id={o.id}"))
    assert page.count("crm-item-delete") == 1
    post(client, f"/admin/plan/plan/?id={o.id}", {"op": "delete", "item": done.id})
    post(client, f"/admin/plan/plan/?id={o.id}", {"op": "delete", "item": todo.id})
    assert [i.content for i in PlanItem.select()] == ["拜访"]


def test_stopping_development_archives_it(client_for, users):
    o = assigned(users)
    page = text(client_for("xiaoming").get("/admin/plan/"))
    assert "确认终止开发“上海远景科技”？" in page
    post(client_for("xiaoming"), "/admin/plan/stop/", {"id": o.id})
    assert Opportunity.get_by_id(o.id).status == Opportunity.FAILED
    post(client_for("xiaoming"), "/admin/plan/develop/", {"id": o.id})
    assert not Customer.select().exists()


def test_developing_twice_makes_one_customer(client_for, users):
    o = assigned(users)
    client = client_for("xiaoming")
    post(client, "/admin/plan/develop/", {"id": o.id})
    post(client, "/admin/plan/develop/", {"id": o.id})
    assert Customer.select().count() == 1


def test_a_supervisor_may_work_on_any_development(client_for, users):
    o = assigned(users, to="wangcai")
    client = client_for("supervisor")
    post(client, f"/admin/plan/plan/?id={o.id}",
         {"op": "add", "date": TODAY.isoformat(), "content": "主管跟进"})
    assert PlanItem.select().count() == 1
    post(client, "/admin/plan/stop/", {"id": o.id})
    assert Opportunity.get_by_id(o.id).status == Opportunity.FAILED


def test_another_manager_cannot_reach_or_change_the_development(client_for, users):
    o = assigned(users, to="xiaoming")
    client = client_for("wangcai")
    assert "上海远景科技" not in text(client.get("/admin/plan/"))
    for url in (f"/admin/plan/plan/?id={o.id}", f"/admin/plan/execute/?id={o.id}",
                f"/admin/plan/details/?id={o.id}"):
        response = client.get(url)
        assert response.status_code == 302
        assert "预算已批" not in text(client.get(response.headers["Location"]))
    post(client, f"/admin/plan/plan/?id={o.id}",
         {"op": "add", "date": TODAY.isoformat(), "content": "偷偷加的"})
    post(client, "/admin/plan/develop/", {"id": o.id})
    post(client, "/admin/plan/stop/", {"id": o.id})
    assert not PlanItem.select().exists()
    assert Opportunity.get_by_id(o.id).status == Opportunity.ASSIGNED


def test_the_creator_who_is_not_the_assignee_may_look_but_not_work(client_for, users):
    o = opportunity(users, by="wangcai")
    o.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    client = client_for("wangcai")
    page = text(client.get("/admin/plan/"))
    assert "上海远景科技" in page and f"/admin/plan/plan/?id={o.id}" not in page
    assert client.get(f"/admin/plan/details/?id={o.id}").status_code == 200
    post(client, "/admin/plan/develop/", {"id": o.id})
    assert Opportunity.get_by_id(o.id).status == Opportunity.ASSIGNED


def test_an_executive_has_no_development_pages(client_for, users):
    o = assigned(users)
    client = client_for("executive")
    for url in ("/admin/plan/", f"/admin/plan/plan/?id={o.id}", f"/admin/plan/execute/?id={o.id}"):
        assert client.get(url).status_code == 403
    for url in ("/admin/plan/develop/", "/admin/plan/stop/"):
        assert post(client, url, {"id": o.id}).status_code == 403


def test_viewing_an_archived_opportunity_shows_status_plan_and_history(client_for, users):
    o = assigned(users)
    o.add_plan_item(TODAY, "拜访", today=TODAY).record_result("签约")
    o.develop(by=users["xiaoming"], at=NOW)
    page = text(client_for("supervisor").get(f"/admin/plan/details/?id={o.id}"))
    assert "开发成功" in page and "拜访" in page and "签约" in page
    assert page.count("<tr>", page.index("crm-status-history")) >= 3  # new, assigned, developed


@pytest.mark.parametrize("url", ["/admin/plan/plan/?id=abc", "/admin/plan/plan/?id=",
                                 "/admin/plan/execute/?id=99999", "/admin/plan/details/?id=x",
                                 "/admin/opportunity/assign/?ids=a,b", "/admin/opportunity/assign/",
                                 "/admin/plan/?sort=99", "/admin/opportunity/?page=abc"])
def test_crafted_urls_never_crash(client_for, users, url):
    assert client_for("supervisor").get(url).status_code in (200, 302)


@pytest.mark.parametrize("data", [{"op": "edit", "item": "abc", "content": "x"},
                                  {"op": "delete", "item": "99999"}, {"op": "nonsense"},
                                  {"op": "add", "date": "2026-13-45", "content": "x"}])
def test_crafted_plan_posts_never_crash(client_for, users, data):
    o = assigned(users)
    response = post(client_for("xiaoming"), f"/admin/plan/plan/?id={o.id}", data)
    assert response.status_code in (200, 302)
    assert not PlanItem.select().exists()


def test_the_development_list_filters_by_translated_status_and_counts_only_the_scope(
        client_for, users):
    assigned(users, to="xiaoming", customer_name="开发中的")
    assigned(users, to="xiaoming", customer_name="已失败的").stop(by=users["xiaoming"], at=NOW)
    assigned(users, to="wangcai", customer_name="旺财的")
    client = client_for("xiaoming")
    page = text(client.get("/admin/plan/"))
    assert "(2)" in page  # the count holds the scope too
    assert "已归档（开发失败）" in page and ">failed<" not in page
    groups = json.loads(html.unescape(
        re.search(r'id="filter-groups-data"[^>]*>(.*?)</div>', page, re.S).group(1)))
    options = dict(groups["状态"][0]["options"])
    assert options == {"assigned": "开发中", "developed": "已归档（开发成功）",
                       "failed": "已归档（开发失败）"}  # labels, not the stored codes
    filtered = text(client.get("/admin/plan/?flt0_0=failed"))
    assert "已失败的" in filtered and "开发中的" not in filtered


# Who reaches each 营销管理 page at all (the record scope is tested above).
PAGES = {  # page → roles that may open it
    "/admin/opportunity/": {"supervisor", "xiaoming", "wangcai"},
    "/admin/opportunity/new/": {"supervisor", "xiaoming", "wangcai"},
    "/admin/opportunity/assign/?ids={new}": {"supervisor"},
    "/admin/plan/": {"supervisor", "xiaoming", "wangcai"},
    "/admin/plan/plan/?id={working}": {"supervisor", "xiaoming", "wangcai"},
    "/admin/plan/execute/?id={working}": {"supervisor", "xiaoming", "wangcai"},
}


@pytest.mark.parametrize("username", ["admin", "supervisor", "xiaoming", "wangcai", "executive"])
def test_each_role_reaches_exactly_its_marketing_pages(client_for, users, username):
    ids = {"new": opportunity(users).id, "working": assigned(users).id}
    client = client_for(username)
    answers = {page: client.get(page.format(**ids)).status_code != 403 for page in PAGES}
    assert answers == {page: username in roles for page, roles in PAGES.items()}
    posts = {url: post(client, url, {"id": ids["working"]}).status_code != 403
             for url in ("/admin/plan/develop/", "/admin/plan/stop/")}
    assert posts == dict.fromkeys(posts, username in {"supervisor", "xiaoming", "wangcai"})


def test_exports_open_in_excel_with_chinese_intact(client_for, users):
    opportunity(users)
    csv = client_for("xiaoming").get("/admin/opportunity/export/csv/")
    assert csv.get_data().startswith("\ufeff".encode())  # Excel needs the BOM for UTF-8
    assert "上海远景科技" in csv.get_data(as_text=True)
    xlsx = client_for("xiaoming").get("/admin/opportunity/export/xlsx/")
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"


def test_in_english_a_button_and_a_status_of_the_same_chinese_word_read_differently(
        client_for, users):
    assigned(users, customer_name="进行中")
    assigned(users, customer_name="已成交").develop(by=users["xiaoming"], at=NOW)
    client = client_for("xiaoming")
    client.get("/locale/en")
    page = text(client.get("/admin/plan/"))
    assert "Mark developed" in page and "Archived (developed)" in page


def test_a_supervisor_marking_developed_makes_the_customer_the_assignees(client_for, users):
    """开发成功 pressed by a 销售主管 in the row of /admin/plan/: the new customer's 客户经理
    is the manager the opportunity was assigned to, not the supervisor who pressed."""
    from tests.test_crawl import form_data, parse

    o = assigned(users, to="wangcai")
    client = client_for("supervisor")
    page = parse(text(client.get("/admin/plan/")))
    button = next(f for f in page.iter("form") if "/develop/" in f.attrs.get("action", "")
                  and any(i.attrs.get("value") == str(o.id) for i in f.iter("input")))
    response = client.post(button.attrs["action"],
                           data=dict(form_data(button, TODAY, lambda url: [])))
    assert response.status_code == 302
    assert Opportunity.get_by_id(o.id).status == Opportunity.DEVELOPED
    customer = Customer.get(Customer.name == "上海远景科技")
    assert customer.manager_id == users["wangcai"].id
    assert customer.manager_id != users["supervisor"].id
    assert "上海远景科技" in text(client_for("wangcai").get("/admin/customer/"))
