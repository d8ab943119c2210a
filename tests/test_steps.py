"""The one workflow-step mechanism: transitions on the models, step pages on the views.

Rules (models): a step moves only from where it starts, exactly once, and is recorded.
Pages (views): every step page is declared with ``workflow_step``; it is reached by
the buttons the lists render; its return URL never leaves the site; its
confirmations travel as ``data-confirm`` attributes, never as inline script.
"""
import datetime
import html
import re
from urllib.parse import unquote, urlencode, urlsplit

import pytest
from flask_admin.base import BaseView
from flask_admin.model import BaseModelView

from admin_views.base import CrmModelView, safe_return_url
from models import (
    ChurnRecord,
    Customer,
    DictionaryEntry,
    DomainError,
    Opportunity,
    ServiceRequest,
    StatusChange,
)
from models.history import transition
from tests.conftest import csrf_token

NOW = datetime.datetime(2026, 11, 20, 10, 0)
FORM = {"source": "展会", "customer_name": "上海远景科技", "probability": 70,
        "summary": "更新 50 台笔记本", "contact": "陈工", "contact_phone": "021-5555",
        "description": "预算已批"}


def opportunity(users, by="supervisor", **fields):
    return Opportunity.open(by=users[by], at=NOW, **{**FORM, **fields})


def assigned(users, to="xiaoming", **fields):
    o = opportunity(users, **fields)
    o.assign(users[to], by=users["supervisor"], at=NOW)
    return Opportunity.get_by_id(o.id)


def churn(users, name="小明的老客户", manager="xiaoming"):
    customer = Customer.create_numbered(NOW, name=name, manager=users[manager])
    return ChurnRecord.create(customer=customer, status=ChurnRecord.WARNING)


def token(client):
    return csrf_token(client, "/admin/")


def text(response):
    return response.get_data(as_text=True)


def follow(client, page, pattern):
    """The (unescaped) href of the first link on ``page`` matching ``pattern``."""
    match = re.search(r'href="(' + pattern + r'[^"]*)"', page)
    assert match, f"no link {pattern!r} on the page"
    return html.unescape(match.group(1))


def unsafe_link(page):
    """A link or form target that leaves the site or runs script (Flask-Admin's own
    ``javascript:void(0)`` menu toggles aside)."""
    return re.search(r'(?:href|action)="(?:javascript:(?!void\(0\))|[a-z]+://|//)', page)


def hidden_fields(form_html):
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_html)}


# -- the transition table (models) ------------------------------------------------

def test_a_step_moves_only_from_where_it_starts_and_is_recorded(users):
    o = opportunity(users)
    with pytest.raises(DomainError) as refused:
        o.move("develop", by=users["supervisor"], at=NOW)
    assert refused.value.params == {"name": "上海远景科技"}
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW
    o.move("assign", by=users["supervisor"], at=NOW, assigned_to=users["xiaoming"].id)
    stored = Opportunity.get_by_id(o.id)
    assert (stored.status, stored.assigned_to_id) == (Opportunity.ASSIGNED, users["xiaoming"].id)
    moves = [(c.from_status, c.to_status) for c in StatusChange.of(o)]
    assert moves == [(None, Opportunity.NEW), (Opportunity.NEW, Opportunity.ASSIGNED)]


def test_a_step_taken_on_a_stale_copy_is_refused(users):
    o = opportunity(users)
    stale = Opportunity.get_by_id(o.id)
    o.move("assign", by=users["supervisor"], at=NOW, assigned_to=users["xiaoming"].id)
    with pytest.raises(DomainError):
        stale.move("assign", by=users["supervisor"], at=NOW, assigned_to=users["wangcai"].id)
    assert Opportunity.get_by_id(o.id).assigned_to_id == users["xiaoming"].id


def test_a_step_leads_only_where_its_table_says(users):
    o = assigned(users)
    with pytest.raises(ValueError):
        o.move("develop", by=users["supervisor"], target=Opportunity.FAILED)
    with pytest.raises(ValueError):  # planning works on the plan, it moves nothing
        o.move("plan", by=users["supervisor"])
    assert Opportunity.get_by_id(o.id).status == Opportunity.ASSIGNED


def test_a_step_that_keeps_the_status_records_no_move(users):
    record = churn(users)
    record.postpone("电话回访", by=users["xiaoming"], at=NOW)
    record.postpone("赠送样品", by=users["xiaoming"], at=NOW)
    assert [(c.from_status, c.to_status) for c in StatusChange.of(record)] == [
        (ChurnRecord.WARNING, ChurnRecord.POSTPONED)]


def test_expect_refuses_early_and_expect_current_reads_the_stored_status(users):
    o = assigned(users)
    o.expect("develop")
    with pytest.raises(DomainError):
        o.expect("assign")
    Opportunity.update(status=Opportunity.FAILED).where(Opportunity.id == o.id).execute()
    o.expect("plan")  # the loaded copy still says 开发中 …
    with pytest.raises(DomainError):
        o.expect_current("plan")  # … the row does not


def test_transition_accepts_one_or_several_sources():
    assert transition("a", "b", "x").source == ("a",)
    assert transition(("a", "b"), ("c", "d"), "x").targets == ("c", "d")


# -- every step page uses the mechanism ---------------------------------------------

FLASK_ADMIN_PAGES = {name for cls in (BaseModelView, BaseView) for name in dir(cls)
                     if getattr(getattr(cls, name), "_urls", None)}
# Pages of a view that are not workflow steps (they act on no record).
NOT_STEPS = {"import_view", "import_confirm", "import_undo", "import_template"}


def test_every_step_page_is_a_workflow_step(app):
    admin = app.extensions["admin"][0]
    for view in admin._views:
        if not isinstance(view, CrmModelView):
            continue
        for name in dir(type(view)):
            method = getattr(type(view), name)
            if getattr(method, "_urls", None) and name not in FLASK_ADMIN_PAGES | NOT_STEPS:
                assert hasattr(method, "step_permission"), f"{view.endpoint}.{name}"


# -- defect 1: the row button 指派 assigns ----------------------------------------------

def test_the_row_button_assign_leads_to_a_form_that_assigns(client_for, users):
    o = opportunity(users)
    client = client_for("supervisor")
    page = text(client.get("/admin/opportunity/"))
    form_page = text(client.get(follow(client, page, "/admin/opportunity/assign/")))
    assert "上海远景科技" in form_page
    form = form_page.split('id="crm-assign-form"', 1)[1].split("</form>", 1)[0]
    assert '<option selected value="">' in form  # asks, does not preselect a manager
    data = {**hidden_fields(form), "manager": str(users["wangcai"].id)}
    response = client.post("/admin/opportunity/assign/", data=data)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/admin/opportunity/"
    assert Opportunity.get_by_id(o.id).assigned_to_id == users["wangcai"].id
    assert "1 条销售机会已指派给 旺财（wangcai）" in text(client.get("/admin/opportunity/"))


def test_the_bulk_action_assigns_every_selected_row(client_for, users):
    first, second = opportunity(users), opportunity(users, customer_name="第二家")
    client = client_for("supervisor")
    response = client.post("/admin/opportunity/action/", data={
        "action": "assign", "rowid": [str(first.id), str(second.id)],
        "csrf_token": csrf_token(client, "/admin/opportunity/")})
    form_page = text(client.get(response.headers["Location"]))
    assert "上海远景科技" in form_page and "第二家" in form_page
    form = form_page.split('id="crm-assign-form"', 1)[1].split("</form>", 1)[0]
    client.post("/admin/opportunity/assign/", data={
        **hidden_fields(form), "id": [str(first.id), str(second.id)],
        "manager": str(users["xiaoming"].id)})
    assert {o.status for o in Opportunity.select()} == {Opportunity.ASSIGNED}


def test_an_empty_manager_is_answered_next_to_the_field_and_assigns_nothing(client_for, users):
    o = opportunity(users)
    client = client_for("supervisor")
    response = client.post("/admin/opportunity/assign/", data={
        "id": str(o.id), "manager": "", "csrf_token": token(client)})
    assert response.status_code == 200 and "is-invalid" in text(response)
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW


# -- defect 2: confirmations are data, never script ------------------------------------

PAYLOAD = 'C0 tabindex=1 autofocus onfocus=alert(900) x"\'<b>'


def test_no_page_carries_an_inline_event_handler(client_for, users):
    churn(users, name=PAYLOAD)
    o = assigned(users, customer_name=PAYLOAD)
    o.add_plan_item(datetime.date.today(), PAYLOAD, today=datetime.date.today())
    pages = {"supervisor": ["/admin/opportunity/", "/admin/plan/", "/admin/churn/",
                            "/admin/customer/", "/admin/service_assign/"],
             "xiaoming": ["/admin/plan/", "/admin/churn/", f"/admin/plan/plan/?id={o.id}"]}
    for username, urls in pages.items():
        client = client_for(username)
        for url in urls:
            page = text(client.get(url))
            for link in re.findall(r'href="(/admin/churn/confirm/[^"]+)"', page):
                urls.append(html.unescape(link))
            # Flask-Admin's own menus carry constant handlers (an action's name, no data)
            handlers = re.findall(r'\son[a-z]+\s*=\s*"([^"]*)"', page, re.I)
            assert all(h == "return false;" or re.fullmatch(
                r"return modelActions\.execute\('[a-z_]+'\);", h) for h in handlers), \
                (username, url, handlers)
            assert "<b>" not in page  # the name is text, never markup


def test_confirm_churn_and_plan_item_delete_ask_naming_the_record(client_for, users):
    record = churn(users, name=PAYLOAD)
    client = client_for("xiaoming")
    page = text(client.get(f"/admin/churn/confirm/?id={record.id}"))
    form = re.search(r'<form[^>]*id="crm-churn-form"[^>]*>', page).group(0)
    question = html.unescape(re.search(r'data-confirm="([^"]*)"', form).group(1))
    assert question == f"确认“{PAYLOAD}”已流失？此操作不能撤销。"
    o = assigned(users)
    o.add_plan_item(datetime.date.today(), "电话拜访", today=datetime.date.today())
    plan = text(client.get(f"/admin/plan/plan/?id={o.id}"))
    delete = re.search(r'<form[^>]*class="crm-item-delete"[^>]*>', plan).group(0)
    assert html.unescape(re.search(r'data-confirm="([^"]*)"', delete).group(1)) == \
        "确认删除计划项“电话拜访”？"


def test_row_post_buttons_ask_before_they_act(client_for, users):
    assigned(users)
    page = text(client_for("xiaoming").get("/admin/plan/"))
    forms = re.findall(r'<form class="crm-row-action"[^>]*>', page)
    assert len(forms) == 2  # 开发成功, 终止开发
    assert all("data-confirm=" in form for form in forms)


def test_the_confirmation_script_is_on_every_admin_page(client_for, users):
    page = text(client_for("xiaoming").get("/admin/"))
    assert '<script  src="/static/crm.js" defer></script>' in page \
        or re.search(r'<script[^>]*src="/static/crm\.js"', page)


# -- defect 3: return URLs stay on this site ---------------------------------------------

UNSAFE = ["https://evil.example/", "//evil.example/", "javascript:alert(1)",
          "/\t/evil.example", "/%09/evil.example".replace("%09", "\t"), "/x\r\nSet-Cookie: a=b",
          "\\\\evil.example", "/" + "a" * 200000]


@pytest.mark.parametrize("target", UNSAFE)
def test_safe_return_url_refuses_what_leaves_the_site(target):
    assert safe_return_url(target) is None


@pytest.mark.parametrize("target", ["/admin/plan/", "/admin/customer/?search=北京&page=2"])
def test_safe_return_url_keeps_a_path_on_this_site(target):
    assert safe_return_url(target) == target


def step_urls(users):
    """One GET and one POST per kind of step page, each with what it needs."""
    o, fresh, record = assigned(users), opportunity(users), churn(users)
    customer = Customer.create_numbered(NOW, name="服务客户", manager=users["xiaoming"])
    service = ServiceRequest.open(by=users["xiaoming"], at=NOW, service_type="咨询",
                                  summary="询价", customer=customer, request="报价")
    return [
        ("supervisor", f"/admin/opportunity/assign/?id={fresh.id}", {"manager": ""}),
        ("xiaoming", f"/admin/plan/plan/?id={o.id}", {"op": "edit", "item": "0"}),
        ("xiaoming", f"/admin/plan/execute/?id={o.id}", {"item": "0", "result": "x"}),
        ("xiaoming", f"/admin/churn/postpone/?id={record.id}", {"measure": "电话回访"}),
        ("xiaoming", f"/admin/churn/confirm/?id={record.id}", {"reason": ""}),
        ("supervisor", f"/admin/service_assign/assign/?id={service.id}", {"manager": ""}),
        ("xiaoming", "/admin/plan/stop/", {"id": str(fresh.id)}),  # not in development
    ]


@pytest.mark.parametrize("target", ["https://evil.example/", "javascript:alert(1)",
                                    "/admin/\n", "//evil.example", "/\t/evil.example"])
def test_no_step_page_leaves_the_site_or_fails(client_for, users, target):
    for username, url, data in step_urls(users):
        client = client_for(username)
        csrf = token(client)
        url = f"{url}{'&' if '?' in url else '?'}{urlencode({'url': target})}"
        if "stop" not in url:
            page = client.get(url)
            assert page.status_code in (200, 302), url
            body = text(page)
            assert not unsafe_link(body), url
        response = client.post(url, data={**data, "url": target, "csrf_token": csrf})
        assert response.status_code in (200, 302), url
        if response.status_code == 302:
            location = response.headers["Location"]
            assert safe_return_url(location) == location, (url, location)
        assert not unsafe_link(text(response))


def test_a_newline_in_the_return_url_changes_nothing_and_still_answers(client_for, users):
    record = churn(users)
    client = client_for("xiaoming")
    response = client.post(f"/admin/churn/postpone/?id={record.id}", data={
        "measure": "电话回访", "url": "/admin/churn/\r\nX: y", "csrf_token": token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/churn/"
    assert ChurnRecord.get_by_id(record.id).status == ChurnRecord.POSTPONED


def test_a_step_goes_back_to_the_page_it_was_opened_from(client_for, users):
    record = churn(users)
    client = client_for("xiaoming")
    back = "/admin/churn/?search=小明"
    response = client.post(f"/admin/churn/postpone/?id={record.id}", data={
        "measure": "电话回访", "url": back, "csrf_token": token(client)})
    assert unquote(response.headers["Location"]) == back


def test_flask_admins_own_pages_drop_an_unsafe_return_url_too(client_for, users):
    o = opportunity(users)
    client = client_for("supervisor")
    page = text(client.get(f"/admin/opportunity/edit/?id={o.id}&url=javascript:alert(1)"))
    assert not unsafe_link(page)
    response = client.post("/admin/opportunity/delete/", data={
        "id": str(o.id), "url": "https://evil.example/", "csrf_token": token(client)})
    assert response.headers["Location"] == "/admin/opportunity/"


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0d%0a/evil.example",
                                    "%2F%2Fevil.example"])
def test_the_language_switch_stays_on_the_site(app, users, target):
    response = app.test_client().get(f"/locale/en?next={target}")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_a_record_out_of_scope_reads_as_missing_on_every_step(client_for, users):
    record = churn(users, manager="wangcai")
    client = client_for("xiaoming")
    for step in ("postpone", "confirm"):
        response = client.get(f"/admin/churn/{step}/?id={record.id}")
        assert response.status_code == 302
    assert "记录不存在或您无权操作" in text(client.get("/admin/"))


@pytest.mark.parametrize("key", ["", "abc", "1.5", "-1", "9" * 30, "1,2", str(2 ** 63), "²",
                                 "１"])
def test_a_crafted_id_on_a_step_is_missing_never_an_error(client_for, users, key):
    churn(users)
    client = client_for("xiaoming")
    assert client.get(f"/admin/churn/postpone/?id={key}").status_code == 302
    response = client.post("/admin/plan/develop/", data={"id": key,
                                                         "csrf_token": token(client)})
    assert response.status_code == 302


# -- a return URL no step may follow: a newline, 200,000 characters -------------------------

LONG_URL = "/admin/churn/?search=" + "a" * 200_000


@pytest.mark.parametrize("target", ["/admin/churn/\nX-Evil: 1", LONG_URL])
def test_a_step_post_with_a_bad_return_url_acts_and_goes_to_its_list(client_for, users, target):
    record = churn(users)
    client = client_for("xiaoming")
    response = client.post(f"/admin/churn/postpone/?id={record.id}", data={
        "measure": "电话回访", "url": target, "csrf_token": token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/churn/"
    assert ChurnRecord.get_by_id(record.id).status == ChurnRecord.POSTPONED


@pytest.mark.parametrize("target", ["/admin/opportunity/\nX-Evil: 1",
                                    "/admin/opportunity/?search=" + "a" * 200_000])
def test_a_flask_admin_edit_with_a_bad_return_url_saves_and_goes_to_its_list(client_for, users,
                                                                             target):
    o = opportunity(users)
    client = client_for("supervisor")
    response = client.post(f"/admin/opportunity/edit/?{urlencode({'id': o.id, 'url': target})}",
                           data={**FORM, "summary": "改过", "csrf_token": token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/opportunity/"
    assert Opportunity.get_by_id(o.id).summary == "改过"


@pytest.mark.parametrize("manager", ["9" * 30, str(2 ** 63), "-1", "²", "1\x00"])
def test_a_crafted_manager_is_refused_next_to_the_field_and_assigns_nothing(client_for, users,
                                                                           manager):
    fresh = opportunity(users)
    customer = Customer.create_numbered(NOW, name="服务客户", manager=users["xiaoming"])
    service = ServiceRequest.open(by=users["xiaoming"], at=NOW, service_type="咨询",
                                  summary="询价", customer=customer, request="报价")
    client = client_for("supervisor")
    for url in (f"/admin/opportunity/assign/?id={fresh.id}",
                f"/admin/service_assign/assign/?id={service.id}"):
        response = client.post(url, data={"manager": manager, "csrf_token": token(client)})
        assert response.status_code == 200, url
        assert "is-invalid" in text(response), url
    assert Opportunity.get_by_id(fresh.id).status == Opportunity.NEW
    assert ServiceRequest.get_by_id(service.id).status == ServiceRequest.NEW


@pytest.mark.parametrize("manager", ["9" * 30, 10 ** 30, 2 ** 63, -1, True, "²"])
def test_the_models_refuse_a_crafted_manager_without_asking_the_database(users, manager):
    fresh = opportunity(users)
    customer = Customer.create_numbered(NOW, name="服务客户", manager=users["xiaoming"])
    service = ServiceRequest.open(by=users["xiaoming"], at=NOW, service_type="咨询",
                                  summary="询价", customer=customer, request="报价")
    for record in (fresh, service):
        with pytest.raises(DomainError) as refused:
            record.assign(manager, by=users["supervisor"], at=NOW)
        assert refused.value.field == "manager"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\t/evil"])
def test_a_redirect_checks_its_url_itself_not_only_the_request_hook(app, client_for, users,
                                                                  target):
    """Each redirect that takes a URL from the request goes through safe_return_url,
    even with the request-wide hook (clean_request) switched off."""
    from admin_views.base import clean_request
    hooks = app.before_request_funcs[None]
    index = hooks.index(clean_request)
    hooks.remove(clean_request)
    try:
        response = app.test_client().get("/locale/en", query_string={"next": target})
        assert response.headers["Location"] == "/admin/"
        locked = DictionaryEntry.get(DictionaryEntry.editable == False)  # noqa: E712
        response = client_for("admin").get("/admin/dictionary/edit/",
                                           query_string={"id": locked.id, "url": target})
        assert response.headers["Location"] == "/admin/dictionary/"
        record = churn(users)
        client = client_for("xiaoming")
        response = client.post(f"/admin/churn/postpone/?id={record.id}", data={
            "measure": "电话回访", "url": target, "csrf_token": token(client)})
        assert response.headers["Location"] == "/admin/churn/"
    finally:
        hooks.insert(index, clean_request)
