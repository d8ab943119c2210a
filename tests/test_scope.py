"""Row scope: a 客户经理 reaches only his own records on every path; a 销售主管 all."""
import datetime
import json

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


@pytest.mark.parametrize("bad_id", ["abc", "", "99999", "1 OR 1=1"])
def test_malformed_ids_never_crash(client_for, book, bad_id):
    client = client_for("xiaoming")
    for path in ("customer/details/", "contact/edit/", "contact/details/"):
        assert client.get(f"/admin/{path}?id={bad_id}").status_code in (302, 200)


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
