"""服务管理 through the client, as each role: screens, steps, bad input, scope, crafted ids."""
import datetime
import json
import re
from urllib.parse import unquote

import pytest

from models import Customer, ServiceRequest, StatusChange
from models.base import local, local_today, stored
from tests.conftest import csrf_token

NOW = stored(datetime.datetime(2026, 11, 20, 10, 0))  # 10:00 on the company's clock
TODAY = local_today()  # the company's day (TIMEZONE), not UTC's
FORM = {"service_type": "咨询", "summary": "批量采购价格咨询", "request": "采购 50 台以上有无折扣"}


@pytest.fixture
def book(users):
    """小明's customers (one 正常, one 流失) and one of 旺财's."""
    def customer(seq, name, manager, status=Customer.ACTIVE):
        return Customer.create(number=f"KH261120{seq:03d}", name=name, manager=users[manager],
                               status=status)
    return {"mine": customer(1, "北京星光电子", "xiaoming"),
            "lost": customer(2, "天津流失贸易", "xiaoming", Customer.LOST),
            "theirs": customer(3, "武汉旺财科技", "wangcai")}


def service(users, book, by="xiaoming", customer="mine", **fields):
    return ServiceRequest.open(by=users[by], at=NOW, customer=book[customer],
                               **{**FORM, **fields})


def assigned(users, book, to="xiaoming", **fields):
    s = service(users, book, **fields)
    s.assign(users[to], by=users["supervisor"], at=NOW)
    return ServiceRequest.get_by_id(s.id)


def handled(users, book, to="xiaoming", text="已发送阶梯报价单", **fields):
    s = assigned(users, book, to, **fields)
    s.handle(text, by=users[to], at=NOW)
    return ServiceRequest.get_by_id(s.id)


def post(client, url, data):
    """A POST with the client's CSRF token (fetched once: it holds for the whole session)."""
    if not hasattr(client, "crm_csrf"):
        client.crm_csrf = csrf_token(client, "/admin/")
    return client.post(url, data={**data, "csrf_token": client.crm_csrf})


def text(response):
    return response.get_data(as_text=True)


def flashes(client):
    return text(client.get("/admin/"))


def invalid(page, field):
    """Whether the input ``field`` is marked invalid (the message sits next to it)."""
    return any("is-invalid" in tag for tag in re.findall(
        rf'<(?:input|select|textarea)[^>]*\b(?:id|name)="{field}"[^>]*>', page))


# -- 服务创建 -----------------------------------------------------------------------

def test_the_create_form_offers_the_dictionarys_types(client_for, book):
    page = text(client_for("xiaoming").get("/admin/service_create/new/"))
    select = re.search(r'<select[^>]*id="service_type".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option[^>]*value="([^"]*)"', select) == ["咨询", "建议", "投诉"]
    for label in ("服务类型", "概要", "客户", "服务请求"):
        assert label in page


def test_a_manager_creates_a_service_and_cannot_forge_its_stamps(client_for, users, book):
    client = client_for("xiaoming")
    response = post(client, "/admin/service_create/new/", {
        **FORM, "customer": book["mine"].id, "status": "archived",
        "created_by": users["wangcai"].id, "assigned_to": users["wangcai"].id})
    assert response.status_code == 302
    s = ServiceRequest.get()
    assert (s.status, s.created_by_id, s.assigned_to_id, s.customer_id) == (
        ServiceRequest.NEW, users["xiaoming"].id, None, book["mine"].id)
    assert local(s.created_at).date() == TODAY
    assert [c.to_status for c in StatusChange.of(s)] == ["new"]
    assert "成功" in flashes(client)


BAD_INPUT = [
    ({"service_type": ""}, "service_type"),
    ({"service_type": "其他"}, "service_type"),
    ({"summary": ""}, "summary"),
    ({"summary": "   "}, "summary"),
    ({"summary": "要" * 201}, "summary"),
    ({"request": ""}, "request"),
    ({"request": "  "}, "request"),
    ({"request": "述" * 2001}, "request"),
    ({"customer": ""}, "customer"),
    ({"customer": "abc"}, "customer"),
    ({"customer": "99999"}, "customer"),
    ({"customer": "theirs"}, "customer"),  # another manager's customer
    ({"customer": "lost"}, "customer"),  # his own, but 流失
]


def test_bad_input_is_answered_next_to_the_field_keeps_the_input_and_writes_nothing(
        client_for, book):
    client = client_for("xiaoming")
    for change, field in BAD_INPUT:
        data = {**FORM, "customer": book["mine"].id, **change}
        if data["customer"] in book:
            data["customer"] = book[data["customer"]].id
        response = post(client, "/admin/service_create/new/", data)
        assert response.status_code == 200, change
        page = text(response)
        assert invalid(page, field), f"no error on {field} for {change}"
        for name in ("summary", "request"):
            if data[name].strip() and len(data[name]) < 100:
                assert data[name] in page, change  # what the user typed is still there
    assert not ServiceRequest.select().exists() and not StatusChange.select().exists()


def test_the_create_list_shows_the_new_services_he_created(client_for, users, book):
    service(users, book, summary="小明新建的")
    service(users, book, by="wangcai", customer="theirs", summary="旺财新建的")
    assigned(users, book, summary="小明已分配的")
    page = text(client_for("xiaoming").get("/admin/service_create/"))
    assert "小明新建的" in page
    assert "旺财新建的" not in page and "小明已分配的" not in page


def test_the_customer_picker_offers_his_customers_in_good_standing_only(client_for, book):
    found = json.loads(text(client_for("xiaoming").get(
        "/admin/service_create/ajax/lookup/?name=customer&query=")))
    assert [label for _, label in found] == [str(book["mine"])]
    found = json.loads(text(client_for("xiaoming").get(
        "/admin/service_create/ajax/lookup/?name=customer&query=武汉")))
    assert found == []


def test_only_a_manager_creates_services(client_for, book):
    for username in ("supervisor", "executive", "admin"):
        client = client_for(username)
        assert client.get("/admin/service_create/new/").status_code == 403
        assert post(client, "/admin/service_create/new/",
                    {**FORM, "customer": book["mine"].id}).status_code == 403
        assert client.get("/admin/service_create/ajax/lookup/?name=customer&query=") \
            .status_code == 403
    assert not ServiceRequest.select().exists()


# -- 服务分配 -----------------------------------------------------------------------

def test_each_new_service_is_assignable_in_its_row_to_an_active_manager(app, client_for, users,
                                                                      book):
    from tests.conftest import make_user
    make_user(app, "gone", "离职经理", ["manager"], active=False)
    new = service(users, book, summary="待分配的")
    assigned(users, book, summary="已分配的")
    page = text(client_for("supervisor").get("/admin/service_assign/"))
    assert "待分配的" in page and "已分配的" not in page
    forms = re.findall(r'<form class="form-inline crm-service-assign".*?</form>', page, re.S)
    assert len(forms) == 1
    row = forms[0]
    assert 'action="/admin/service_assign/assign/"' in row and 'name="csrf_token"' in row
    assert f'name="id" value="{new.id}"' in row
    options = re.findall(r'<option value="(\d+)"', row)
    assert sorted(map(int, options)) == sorted([users["xiaoming"].id, users["wangcai"].id])
    assert f"确认删除“#{new.id} 待分配的”？" in page


def test_a_supervisor_assigns_a_service_in_its_row(client_for, users, book):
    s = service(users, book, summary="价格咨询")
    client = client_for("supervisor")
    back = "/admin/service_assign/?search=价格"
    response = post(client, "/admin/service_assign/assign/",
                    {"id": s.id, "manager": users["wangcai"].id, "url": back})
    assert response.status_code == 302
    assert unquote(response.headers["Location"]) == back  # the list as the user left it
    s = ServiceRequest.get_by_id(s.id)
    assert (s.status, s.assigned_to_id) == (ServiceRequest.ASSIGNED, users["wangcai"].id)
    assert local(s.assigned_at).date() == TODAY
    assert StatusChange.of(s).order_by(StatusChange.id.desc()).first().changed_by_id == \
        users["supervisor"].id
    assert "已分配给 旺财" in flashes(client)


def test_a_crafted_assignee_is_refused_next_to_the_field(app, client_for, users, book):
    from tests.conftest import make_user
    gone = make_user(app, "gone", "离职经理", ["manager"], active=False)
    s = service(users, book)
    client = client_for("supervisor")
    for value in (users["supervisor"].id, users["executive"].id, gone.id, 99999, "abc", ""):
        response = post(client, "/admin/service_assign/assign/", {"id": s.id, "manager": value})
        assert response.status_code == 200, value
        page = text(response)
        assert invalid(page, "manager"), value
        assert FORM["request"] in page  # the service is shown with the error
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.NEW


def test_assigning_an_already_assigned_service_is_refused(client_for, users, book):
    s = assigned(users, book, to="xiaoming")
    client = client_for("supervisor")
    response = post(client, "/admin/service_assign/assign/",
                    {"id": s.id, "manager": users["wangcai"].id})
    assert response.status_code == 302
    assert ServiceRequest.get_by_id(s.id).assigned_to_id == users["xiaoming"].id
    assert "已被分配" in flashes(client)


def test_the_assign_page_shows_the_service_and_the_managers(client_for, users, book):
    s = service(users, book)
    page = text(client_for("supervisor").get(f"/admin/service_assign/assign/?id={s.id}"))
    assert FORM["summary"] in page and FORM["request"] in page
    assert re.search(r'<select[^>]*id="manager"', page)


def test_new_services_are_searched_by_customer_summary_and_type(client_for, users, book):
    service(users, book)
    client = client_for("supervisor")
    for search, found in [("星光", True), ("价格", True), ("咨询", True), ("投诉", False),
                          ("旺财", False)]:
        page = text(client.get(f"/admin/service_assign/?search={search}"))
        assert (FORM["summary"] in page) is found, search


def test_new_services_are_filtered_by_type_and_by_a_range_of_creation_days(client_for, users,
                                                                         book):
    service(users, book, summary="早的咨询")
    late = service(users, book, service_type="投诉", summary="晚的投诉")
    ServiceRequest.update(created_at=stored(datetime.datetime(2026, 11, 22, 23, 59, 59))) \
        .where(ServiceRequest.id == late.id).execute()
    client = client_for("supervisor")
    page = text(client.get("/admin/service_assign/?flt0_0=投诉"))
    assert "晚的投诉" in page and "早的咨询" not in page
    for days, expected in [("2026-11-20 to 2026-11-20", {"早的咨询"}),
                           ("2026-11-21 to 2026-11-22", {"晚的投诉"}),  # the last day counts
                           ("2026-11-01 to 2026-11-30", {"早的咨询", "晚的投诉"}),
                           ("2026-11-23 to 2026-11-30", set())]:
        page = text(client.get(f"/admin/service_assign/?flt0_1={days}"))
        assert {s for s in ("早的咨询", "晚的投诉") if s in page} == expected, days
    page = text(client.get("/admin/service_assign/?flt0_1=not a date"))
    assert "早的咨询" in page  # an unreadable range is ignored (with a message), not a 500


def test_the_supervisor_deletes_a_new_service_but_not_an_assigned_one(client_for, users, book):
    new = service(users, book, summary="删掉的")
    taken = assigned(users, book, summary="已分配的")
    client = client_for("supervisor")
    assert post(client, "/admin/service_assign/delete/", {"id": new.id}).status_code == 302
    post(client, "/admin/service_assign/delete/", {"id": taken.id})
    assert [s.summary for s in ServiceRequest.select()] == ["已分配的"]
    assert not StatusChange.select().where(StatusChange.entity_id == new.id,
                                           StatusChange.entity == "service_request").exists()


def test_a_manager_can_neither_assign_nor_delete(client_for, users, book):
    s = service(users, book)
    client = client_for("xiaoming")
    assert client.get("/admin/service_assign/").status_code == 403
    assert client.get(f"/admin/service_assign/assign/?id={s.id}").status_code == 403
    assert post(client, "/admin/service_assign/assign/",
                {"id": s.id, "manager": users["xiaoming"].id}).status_code == 403
    assert post(client, "/admin/service_assign/delete/", {"id": s.id}).status_code == 403
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.NEW


# -- 服务处理 -----------------------------------------------------------------------

def test_the_handle_list_shows_the_assigned_services_assigned_to_him(client_for, users, book):
    assigned(users, book, to="xiaoming", summary="派给小明的")
    assigned(users, book, to="wangcai", summary="小明建的派给旺财")
    service(users, book, summary="还没分配的")
    handled(users, book, to="xiaoming", summary="已处理的")
    page = text(client_for("xiaoming").get("/admin/service_handle/"))
    assert "派给小明的" in page
    assert not any(s in page for s in ("小明建的派给旺财", "还没分配的", "已处理的"))
    assert "(1)" in page  # the count holds the scope too


def test_the_assignee_handles_a_service(client_for, users, book):
    s = assigned(users, book, to="xiaoming")
    client = client_for("xiaoming")
    page = text(client.get(f"/admin/service_handle/handle/?id={s.id}"))
    assert FORM["request"] in page and re.search(r'<textarea[^>]*id="handling"', page)
    response = post(client, "/admin/service_handle/handle/",
                    {"id": s.id, "handling": "已发送报价单"})
    assert response.status_code == 302
    s = ServiceRequest.get_by_id(s.id)
    assert (s.status, s.handling, s.handled_by_id) == (ServiceRequest.HANDLED, "已发送报价单",
                                                       users["xiaoming"].id)
    assert local(s.handled_at).date() == TODAY
    assert "保存成功" in flashes(client)


def test_a_handling_text_is_required_next_to_the_field(client_for, users, book):
    s = assigned(users, book)
    client = client_for("xiaoming")
    for handling in ("", "   ", "处" * 2001):
        response = post(client, "/admin/service_handle/handle/",
                        {"id": s.id, "handling": handling})
        assert response.status_code == 200 and invalid(text(response), "handling")
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.ASSIGNED


def test_the_creator_who_is_not_the_assignee_cannot_handle_it(client_for, users, book):
    s = assigned(users, book, to="wangcai")  # created by 小明
    client = client_for("xiaoming")
    response = client.get(f"/admin/service_handle/handle/?id={s.id}")
    assert response.status_code == 302
    assert FORM["request"] not in text(client.get(response.headers["Location"]))
    post(client, "/admin/service_handle/handle/", {"id": s.id, "handling": "越权处理"})
    assert client.get(f"/admin/service_handle/details/?id={s.id}").status_code == 302
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.ASSIGNED
    assert "记录不存在或您无权操作" in flashes(client)


def test_handling_a_service_twice_is_refused(client_for, users, book):
    s = handled(users, book, text="第一次")
    client = client_for("xiaoming")
    post(client, "/admin/service_handle/handle/", {"id": s.id, "handling": "第二次"})
    assert ServiceRequest.get_by_id(s.id).handling == "第一次"
    assert "不是已分配状态" in flashes(client)


# -- 服务反馈 -----------------------------------------------------------------------

def test_the_feedback_list_shows_the_handled_services_he_created_or_was_assigned(
        client_for, users, book):
    handled(users, book, to="wangcai", summary="小明建的")
    handled(users, book, to="xiaoming", summary="派给小明的")
    s = handled(users, book, to="wangcai", summary="旺财的")
    ServiceRequest.update(created_by=users["wangcai"]).where(ServiceRequest.id == s.id).execute()
    assigned(users, book, to="xiaoming", summary="还没处理的")
    page = text(client_for("xiaoming").get("/admin/service_feedback/"))
    assert "小明建的" in page and "派给小明的" in page
    assert "旺财的" not in page and "还没处理的" not in page


def test_the_feedback_page_offers_satisfaction_as_stars(client_for, users, book):
    s = handled(users, book)
    page = text(client_for("xiaoming").get(f"/admin/service_feedback/feedback/?id={s.id}"))
    assert "已发送阶梯报价单" in page  # the handling, read-only
    stars = re.findall(r'name="satisfaction"[^>]*value="(\d)"', page)
    assert stars == ["1", "2", "3", "4", "5"]
    assert "☆☆☆☆☆" in page


def test_a_satisfied_feedback_archives_the_service(client_for, users, book):
    s = handled(users, book)
    client = client_for("xiaoming")
    response = post(client, "/admin/service_feedback/feedback/",
                    {"id": s.id, "result": "客户满意", "satisfaction": "3"})
    assert response.status_code == 302
    s = ServiceRequest.get_by_id(s.id)
    assert (s.status, s.result, s.satisfaction) == (ServiceRequest.ARCHIVED, "客户满意", 3)
    assert "已归档" in flashes(client)


def test_an_unsatisfied_feedback_sends_it_back_to_the_assignee(client_for, users, book):
    s = handled(users, book, to="wangcai")
    client = client_for("xiaoming")
    post(client, "/admin/service_feedback/feedback/",
         {"id": s.id, "result": "仍不满意", "satisfaction": "2"})
    s = ServiceRequest.get_by_id(s.id)
    assert (s.status, s.assigned_to_id) == (ServiceRequest.ASSIGNED, users["wangcai"].id)
    assert "已退回 旺财" in flashes(client)
    assert s.summary in text(client_for("wangcai").get("/admin/service_handle/"))


BAD_FEEDBACK = [
    ({"result": "", "satisfaction": "4"}, "result"),
    ({"result": "   ", "satisfaction": "4"}, "result"),
    ({"result": "果" * 2001, "satisfaction": "4"}, "result"),
    ({"result": "客户满意"}, "satisfaction"),
    ({"result": "客户满意", "satisfaction": ""}, "satisfaction"),
    ({"result": "客户满意", "satisfaction": "0"}, "satisfaction"),
    ({"result": "客户满意", "satisfaction": "6"}, "satisfaction"),
    ({"result": "客户满意", "satisfaction": "abc"}, "satisfaction"),
]


def test_bad_feedback_is_answered_next_to_its_field_and_kept(client_for, users, book):
    s = handled(users, book)
    client = client_for("xiaoming")
    for data, field in BAD_FEEDBACK:
        response = post(client, "/admin/service_feedback/feedback/", {"id": s.id, **data})
        assert response.status_code == 200, data
        page = text(response)
        assert invalid(page, field), data
        if data["result"].strip() and field != "result":
            assert data["result"] in page, data  # what the user typed is still there
        if data.get("satisfaction") == "4":
            assert re.search(r'<input[^>]*checked[^>]*value="4"', page), data
    s = ServiceRequest.get_by_id(s.id)
    assert (s.status, s.result) == (ServiceRequest.HANDLED, None)


def test_another_manager_cannot_give_feedback(client_for, users, book):
    s = handled(users, book)
    client = client_for("wangcai")
    assert client.get(f"/admin/service_feedback/feedback/?id={s.id}").status_code == 302
    post(client, "/admin/service_feedback/feedback/",
         {"id": s.id, "result": "越权", "satisfaction": "5"})
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.HANDLED


def test_feedback_on_an_archived_service_is_refused(client_for, users, book):
    s = handled(users, book)
    s.record_feedback("满意", 4, by=users["xiaoming"], at=NOW)
    client = client_for("xiaoming")
    post(client, "/admin/service_feedback/feedback/",
         {"id": s.id, "result": "再来一次", "satisfaction": "1"})
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.ARCHIVED
    assert "不是已处理状态" in flashes(client)


# -- 服务归档 -----------------------------------------------------------------------

def test_the_archive_shows_every_service_the_user_may_see(client_for, users, book):
    service(users, book, summary="小明新建的")
    handled(users, book, to="xiaoming", summary="小明处理的")
    theirs = assigned(users, book, to="xiaoming", summary="派给小明的")
    ServiceRequest.update(created_by=users["wangcai"]).where(
        ServiceRequest.id == theirs.id).execute()
    ServiceRequest.open(by=users["wangcai"], at=NOW, customer=book["theirs"],
                        **{**FORM, "summary": "旺财的"})
    mine = text(client_for("xiaoming").get("/admin/service_archive/"))
    assert all(s in mine for s in ("小明新建的", "小明处理的", "派给小明的"))
    assert "旺财的" not in mine and "(3)" in mine
    everything = text(client_for("supervisor").get("/admin/service_archive/"))
    assert all(s in everything for s in ("小明新建的", "小明处理的", "派给小明的", "旺财的"))


def test_the_archive_filters_by_status_and_searches_by_customer(client_for, users, book):
    service(users, book, summary="新创建的")
    handled(users, book, summary="已处理的")
    client = client_for("supervisor")
    page = text(client.get("/admin/service_archive/?flt0_2=handled"))
    assert "已处理的" in page and "新创建的" not in page
    page = text(client.get("/admin/service_archive/?search=星光"))
    assert "已处理的" in page and "新创建的" in page


def test_the_archive_detail_shows_every_field_and_every_round(client_for, users, book):
    s = handled(users, book, to="wangcai", text="第一次：电话指导")
    s.record_feedback("问题没解决", 2, by=users["xiaoming"], at=NOW)
    ServiceRequest.get_by_id(s.id).handle("第二次：上门更换", by=users["wangcai"], at=NOW)
    ServiceRequest.get_by_id(s.id).record_feedback("已解决", 5, by=users["xiaoming"], at=NOW)
    page = text(client_for("xiaoming").get(f"/admin/service_archive/details/?id={s.id}"))
    for label in ("服务类型", "概要", "客户", "状态", "服务请求", "创建人", "创建时间", "分配给",
                  "分配时间", "服务处理", "处理人", "处理时间", "处理结果", "满意度"):
        assert f"<b>{label}</b>" in page, label
    history = page.split('id="crm-status-history"', 1)[1]
    for note in ("第一次：电话指导", "问题没解决", "☆☆", "第二次：上门更换", "已解决", "☆☆☆☆☆"):
        assert note in history, note
    assert history.count('class="crm-history-step"') == 6
    assert "旺财" in history and "王主管" in history


def test_the_archive_detail_and_export_hold_the_scope(client_for, users, book):
    theirs = ServiceRequest.open(by=users["wangcai"], at=NOW, customer=book["theirs"],
                                 **{**FORM, "summary": "旺财的"})
    service(users, book, summary="小明的")
    client = client_for("xiaoming")
    response = client.get(f"/admin/service_archive/details/?id={theirs.id}")
    assert response.status_code == 302
    assert "旺财的" not in text(client.get(response.headers["Location"]))
    csv = client.get("/admin/service_archive/export/csv/")
    assert csv.get_data().startswith("\ufeff".encode())
    assert "小明的" in text(csv) and "旺财的" not in text(csv)
    assert "新创建" in text(csv)  # statuses exported as their labels


# -- every role, every page -----------------------------------------------------------

PAGES = {  # page → roles that may open it
    "/admin/service_create/": {"xiaoming", "wangcai"},
    "/admin/service_create/new/": {"xiaoming", "wangcai"},
    "/admin/service_assign/": {"supervisor"},
    "/admin/service_assign/assign/?id={new}": {"supervisor"},
    "/admin/service_handle/": {"xiaoming", "wangcai"},
    "/admin/service_handle/handle/?id={assigned}": {"xiaoming", "wangcai"},
    "/admin/service_feedback/": {"xiaoming", "wangcai"},
    "/admin/service_feedback/feedback/?id={handled}": {"xiaoming", "wangcai"},
    "/admin/service_archive/": {"supervisor", "xiaoming", "wangcai"},
    "/admin/service_archive/details/?id={handled}": {"supervisor", "xiaoming", "wangcai"},
    "/admin/service_archive/export/csv/": {"supervisor", "xiaoming", "wangcai"},
}


def test_each_role_reaches_exactly_its_service_pages(client_for, users, book):
    ids = {"new": service(users, book).id, "assigned": assigned(users, book).id,
           "handled": handled(users, book).id}
    for username in ("admin", "supervisor", "xiaoming", "wangcai", "executive"):
        client = client_for(username)
        answers = {page: client.get(page.format(**ids)).status_code != 403 for page in PAGES}
        assert answers == {page: username in roles for page, roles in PAGES.items()}, username


def test_the_steps_go_round_from_creation_to_archive_through_the_screens(client_for, users,
                                                                         book):
    manager, supervisor = client_for("xiaoming"), client_for("supervisor")
    post(manager, "/admin/service_create/new/", {**FORM, "customer": book["mine"].id})
    s = ServiceRequest.get()
    post(supervisor, "/admin/service_assign/assign/", {"id": s.id, "manager": users["xiaoming"].id})
    for satisfaction, status in (("1", "assigned"), ("4", "archived")):
        post(manager, "/admin/service_handle/handle/", {"id": s.id, "handling": f"处理{status}"})
        post(manager, "/admin/service_feedback/feedback/",
             {"id": s.id, "result": f"结果{status}", "satisfaction": satisfaction})
        assert ServiceRequest.get_by_id(s.id).status == status
    assert [c.to_status for c in StatusChange.of(s)] == [
        "new", "assigned", "handled", "assigned", "handled", "archived"]
    page = text(supervisor.get(f"/admin/service_archive/details/?id={s.id}"))
    assert "处理assigned" in page and "结果assigned" in page and "处理archived" in page


CRAFTED_URLS = [
    "/admin/service_handle/handle/?id=abc", "/admin/service_handle/handle/?id=",
    "/admin/service_handle/handle/", "/admin/service_handle/handle/?id=99999",
    "/admin/service_feedback/feedback/?id=1%20OR%201=1", "/admin/service_archive/details/?id=x",
    "/admin/service_archive/?sort=99", "/admin/service_archive/?page=abc",
    "/admin/service_archive/?flt0_2=nonsense", "/admin/service_archive/?flt9_9=1",
    "/admin/service_handle/handle/?id={assigned}&url=https://evil.example/",
]


def test_crafted_urls_never_crash(client_for, users, book):
    s = assigned(users, book)
    client = client_for("xiaoming")
    for url in CRAFTED_URLS:
        response = client.get(url.format(assigned=s.id))
        assert response.status_code in (200, 302), url
        assert "evil.example" not in response.headers.get("Location", ""), url


def test_crafted_posts_never_crash(client_for, users, book):
    s = service(users, book)
    client = client_for("supervisor")
    for url, data in [("/admin/service_assign/assign/", {"id": "abc", "manager": "1"}),
                      ("/admin/service_assign/assign/", {"manager": "1"}),
                      ("/admin/service_assign/delete/", {"id": "abc"}),
                      ("/admin/service_assign/delete/", {"id": "99999"}),
                      ("/admin/service_assign/assign/",
                       {"id": s.id, "manager": "1", "url": "https://evil.example/"})]:
        response = post(client, url, data)
        assert response.status_code in (200, 302), (url, data)
        assert "evil.example" not in response.headers.get("Location", "")
    assert ServiceRequest.get_by_id(s.id).status == ServiceRequest.NEW
