"""Row scope: a 客户经理 reaches only his own records on every path; a 销售主管 all."""
import datetime
import json
import logging

import pytest

from models import Contact, Customer, Opportunity, ServiceRequest
from tests.conftest import csrf_token

TODAY = datetime.date(2026, 11, 23)


def customer(manager, name, seq):
    return Customer.create(number=f"KH261123{seq:03d}", name=name, manager=manager,
                           region="北京", level=1)


@pytest.fixture
def book(users):
    """Two customers each for 小明 and 旺财, with a contact each."""
    mine = [customer(users["xiaoming"], f"小明的客户{i}", i) for i in (1, 2)]
    theirs = [customer(users["wangcai"], f"旺财的客户{i}", i + 2) for i in (1, 2)]
    for c in mine + theirs:
        Contact.create(customer=c, name=f"{c.name}联系人", title="经理", office_phone="010-1")
    return {"mine": mine, "theirs": theirs}


def test_the_list_and_its_count_show_only_own_customers(client_for, book):
    page = client_for("xiaoming").get("/admin/customer/").get_data(as_text=True)
    assert all(c.name in page for c in book["mine"])
    assert not any(c.name in page for c in book["theirs"])
    all_page = client_for("supervisor").get("/admin/customer/").get_data(as_text=True)
    assert all(c.name in all_page for c in book["mine"] + book["theirs"])


def test_a_search_cannot_widen_the_scope(client_for, book):
    page = client_for("xiaoming").get("/admin/customer/?search=旺财").get_data(as_text=True)
    assert "旺财的客户" not in page


def test_a_detail_url_of_another_managers_customer_shows_nothing(client_for, book):
    client = client_for("xiaoming")
    other = book["theirs"][0]
    response = client.get(f"/admin/customer/details/?id={other.id}")
    assert response.status_code == 302
    assert other.name not in client.get(response.headers["Location"]).get_data(as_text=True)
    own = client.get(f"/admin/customer/details/?id={book['mine'][0].id}")
    assert own.status_code == 200 and book["mine"][0].name in own.get_data(as_text=True)


@pytest.mark.parametrize("bad_id", ["abc", "", "99999", "1 OR 1=1", "9" * 30, str(2 ** 63),
                                    "-1", "²", "１"])
def test_malformed_ids_never_crash(client_for, book, bad_id):
    client = client_for("xiaoming")
    for path in ("customer/details/", "contact/edit/", "contact/details/"):
        assert client.get(f"/admin/{path}?id={bad_id}").status_code == 302  # 记录不存在
    token = csrf_token(client, "/admin/contact/")
    for screen in ("contact", "activity"):
        assert client.post(f"/admin/{screen}/delete/",
                           data={"id": bad_id, "csrf_token": token}).status_code == 302
    assert Contact.select().count() == 4


def test_export_holds_only_own_customers(client_for, book):
    csv = client_for("xiaoming").get("/admin/customer/export/csv/").get_data(as_text=True)
    assert all(c.number in csv for c in book["mine"])
    assert not any(c.number in csv for c in book["theirs"])


def test_edit_and_delete_urls_of_another_managers_record_change_nothing(client_for, book):
    client = client_for("xiaoming")
    contact = Contact.get(Contact.customer == book["theirs"][0])
    token = csrf_token(client, "/admin/contact/")
    client.post(f"/admin/contact/edit/?id={contact.id}", data={
        "customer": book["theirs"][0].id, "name": "改了", "gender": "M", "title": "x",
        "office_phone": "1", "csrf_token": token})
    client.post("/admin/contact/delete/", data={"id": contact.id, "csrf_token": token})
    assert Contact.get_by_id(contact.id).name == contact.name


def test_the_customer_picker_offers_only_own_customers(client_for, book):
    client = client_for("xiaoming")
    found = json.loads(client.get("/admin/contact/ajax/lookup/?name=customer&query=客户")
                       .get_data(as_text=True))
    assert sorted(label for _, label in found) == sorted(str(c) for c in book["mine"])


def test_a_crafted_post_cannot_attach_a_record_to_another_managers_customer(client_for, book):
    client = client_for("xiaoming")
    response = client.post("/admin/contact/new/", data={
        "customer": book["theirs"][0].id, "name": "偷偷加的", "gender": "M", "title": "x",
        "office_phone": "1", "csrf_token": csrf_token(client, "/admin/contact/new/")})
    assert response.status_code == 200  # the form comes back with an error
    assert not Contact.select().where(Contact.name == "偷偷加的").exists()


def test_a_manager_creates_a_contact_for_his_customer(client_for, book):
    client = client_for("xiaoming")
    response = client.post("/admin/contact/new/", data={
        "customer": book["mine"][0].id, "name": "新联系人", "gender": "F", "title": "采购",
        "office_phone": "010-2", "csrf_token": csrf_token(client, "/admin/contact/new/")})
    assert response.status_code == 302
    assert Contact.get(Contact.name == "新联系人").customer_id == book["mine"][0].id


def test_opportunities_are_scoped_to_creator_or_assignee(client_for, users):
    def opportunity(name, creator):
        return Opportunity.create(customer_name=name, probability=50, summary="s",
                                  description="d", created_by=creator)
    opportunity("小明建的", users["xiaoming"])
    opportunity("主管建的", users["supervisor"])
    mine = client_for("xiaoming").get("/admin/opportunity/").get_data(as_text=True)
    assert "小明建的" in mine and "主管建的" not in mine
    everything = client_for("supervisor").get("/admin/opportunity/").get_data(as_text=True)
    assert "小明建的" in everything and "主管建的" in everything


def test_service_archive_is_scoped(client_for, users, book):
    for creator, c in ((users["xiaoming"], book["mine"][0]), (users["wangcai"], book["theirs"][0])):
        ServiceRequest.create(service_type="咨询", summary=f"{creator.full_name}的服务",
                              customer=c, request="r", created_by=creator)
    page = client_for("xiaoming").get("/admin/service_archive/").get_data(as_text=True)
    assert "小明的服务" in page and "旺财的服务" not in page
    page = client_for("supervisor").get("/admin/service_archive/").get_data(as_text=True)
    assert "小明的服务" in page and "旺财的服务" in page


def test_an_unknown_sort_column_is_ignored(client_for, book):
    assert client_for("xiaoming").get("/admin/customer/?sort=99").status_code == 200
    assert client_for("xiaoming").get("/admin/customer/?sort=5").status_code == 200



# -- the query string, bounded ----------------------------------------------------------------

@pytest.mark.parametrize("page", ["-1", "9" * 30, str(2 ** 62), "1.5", "²", "１"])
def test_a_page_number_out_of_range_shows_the_first_page(client_for, book, page):
    response = client_for("xiaoming").get(f"/admin/contact/?page={page}&page_size={page}")
    assert response.status_code == 200
    assert all(c.name in response.get_data(as_text=True) for c in book["mine"])


@pytest.mark.parametrize("args", ["limit=-1&offset=-1", f"limit={'9' * 30}&offset={'9' * 30}",
                                  "limit=100000", "limit=0", "offset=2", "query=%00%01",
                                  "query=" + "客" * 60_000])
def test_the_customer_picker_bounds_what_it_is_asked(client_for, book, args):
    response = client_for("xiaoming").get(f"/admin/contact/ajax/lookup/?name=customer&{args}")
    assert response.status_code == 200
    found = json.loads(response.get_data(as_text=True))
    assert len(found) <= 50
    if "offset" not in args and "query" not in args:
        assert len(found) == 2  # the limit is clamped, not the result


def test_an_over_long_search_is_read_by_its_first_hundred_characters(client_for, book):
    client = client_for("xiaoming")
    # 3,000 words once overflowed the query builder; 60,000 characters SQLite's LIKE
    for search in ("a " * 3000, "小" * 60_000):
        assert client.get("/admin/customer/", query_string={"search": search}).status_code == 200
    page = client.get("/admin/customer/",
                      query_string={"search": "小明的客户1 " + " " * 200 + "不存在"})
    assert "小明的客户1" in page.get_data(as_text=True)  # the words beyond are not read


@pytest.mark.parametrize("name", ["search", "flt1_0", "flt1_2"])
def test_a_control_character_in_a_search_or_filter_is_read_as_a_space(client_for, book, name):
    response = client_for("supervisor").get(f"/admin/customer/?{name}=%E5%B0%8F%00%01")
    assert response.status_code == 200


def test_a_parameter_named_like_url_fors_own_is_ignored(client_for, book):
    """Flask-Admin builds its pager, sort and export links from the whole query string:
    ?_method= or ?endpoint= would fail, ?_scheme=…&_external=1 would lead elsewhere."""
    client = client_for("xiaoming")
    for query in ("_method=POST", "endpoint=x", "_scheme=javascript&_external=1&_anchor=%0A1",
                  "id=1&_method=x"):
        for path in ("/admin/customer/", "/admin/contact/", "/admin/reports/contribution/"):
            response = client.get(f"{path}?{query}")
            assert response.status_code in (200, 403), (path, query)
            assert "javascript://" not in response.get_data(as_text=True)


def _ownership_asked(caplog):
    queries = [r.msg for r in caplog.records if r.name == "peewee" and isinstance(r.msg, tuple)]
    return [params for sql, params in queries
            if sql.startswith('SELECT "t1"."id" FROM "customer"') and " IN (" in sql]


def test_row_buttons_ask_about_the_rows_on_the_page_not_all_the_user_owns(
        app, client_for, users, caplog):
    """A user who sees every customer but edits his own (45 of 60): the page of 20 asks
    about its 20 rows only; 编辑 on his rows, not on the others'."""
    from models import Role
    from tests.conftest import make_user
    Role.create(name="区域主管", code="regional", permissions=[
        "customers.customer:all", "customers.customer.edit:own"])
    regional = users["regional"] = make_user(app, "regional", "区域主管甲", ["regional"])
    for seq in range(1, 61):  # every fourth one 旺财's: 45 his
        customer(users["wangcai"] if seq % 4 == 0 else regional, f"客户{seq}", seq)
    caplog.set_level(logging.DEBUG, logger="peewee")
    page = client_for("regional").get("/admin/customer/?sort=0").get_data(as_text=True)
    assert page.count("/admin/customer/edit/?id=") == 15  # the page's 15 of his, of 20
    asked = _ownership_asked(caplog)
    assert asked and max(len(params) for params in asked) <= 20 + 5, asked
    assert all(len(params) < 45 for params in asked)


def test_a_list_of_only_his_rows_asks_nothing_for_its_buttons(client_for, users, caplog):
    """A 客户经理's list holds his customers only, by the same rule as 编辑's "own": every
    row gets its buttons without a question to the database."""
    for seq in range(1, 46):
        customer(users["xiaoming"], f"小明的客户{seq}", seq)
    caplog.set_level(logging.DEBUG, logger="peewee")
    page = client_for("xiaoming").get("/admin/customer/").get_data(as_text=True)
    assert page.count("/admin/customer/edit/?id=") == 20  # his own: 编辑 on every row
    assert page.count('action="/admin/customer/delete/"') == 20
    assert _ownership_asked(caplog) == []
