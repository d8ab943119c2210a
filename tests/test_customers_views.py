"""客户流失管理 through the client and the command line, as each role."""
import datetime

import pytest

from models import ChurnRecord, Customer, Order
from tests.conftest import csrf_token

TODAY = datetime.date.today()


def silent_customer(users, name, manager="xiaoming", months=8):
    customer = Customer.create_numbered(datetime.datetime(2024, 1, 1, 9), name=name,
                                        manager=users[manager])
    Order.create(customer=customer, number=f"DD-{name}", address="北京",
                 date=TODAY - datetime.timedelta(days=31 * months))
    return customer


@pytest.fixture
def records(users):
    """An open warning each for a customer of 小明 and one of 旺财."""
    silent_customer(users, "小明的老客户", "xiaoming")
    silent_customer(users, "旺财的老客户", "wangcai")
    ChurnRecord.detect(TODAY)
    return {r.customer.manager.username: r for r in ChurnRecord.select()}


def post(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, "/admin/")})


def text(response):
    return response.get_data(as_text=True)


def test_detect_churn_is_a_command_for_cron(app, users):
    silent_customer(users, "沉默客户")
    runner = app.test_cli_runner()
    first = runner.invoke(args=["detect-churn"])
    assert first.exit_code == 0 and "1 churn warning(s) opened" in first.output
    second = runner.invoke(args=["detect-churn"])
    assert "0 churn warning(s) opened" in second.output
    assert ChurnRecord.select().count() == 1
    early = runner.invoke(args=["detect-churn", "--months", "12"])
    assert early.exit_code == 0


def test_a_manager_sees_the_churn_of_his_customers_a_supervisor_all(client_for, records):
    mine = text(client_for("xiaoming").get("/admin/churn/"))
    assert "小明的老客户" in mine and "旺财的老客户" not in mine
    everything = text(client_for("supervisor").get("/admin/churn/"))
    assert "小明的老客户" in everything and "旺财的老客户" in everything


def test_the_list_is_searched_by_customer_and_filtered_by_manager_and_status(client_for,
                                                                            records):
    client = client_for("supervisor")
    found = text(client.get("/admin/churn/?search=旺财的"))
    assert "旺财的老客户" in found and "小明的老客户" not in found
    page = text(client.get("/admin/churn/"))
    assert "客户经理" in page
    by_manager = text(client.get("/admin/churn/?flt1_1=小明"))
    assert "小明的老客户" in by_manager and "旺财的老客户" not in by_manager
    by_status = text(client.get("/admin/churn/?flt0_0=confirmed"))
    assert "小明的老客户" not in by_status


def test_postponing_shows_the_earlier_measures_and_appends_one(client_for, records):
    record = records["xiaoming"]
    client = client_for("xiaoming")
    assert f"/admin/churn/postpone/?id={record.id}" in text(client.get("/admin/churn/"))
    post(client, f"/admin/churn/postpone/?id={record.id}", {"text": "电话回访"})
    post(client, f"/admin/churn/postpone/?id={record.id}", {"text": "赠送样品"})
    page = text(client.get(f"/admin/churn/postpone/?id={record.id}"))
    assert "电话回访" in page and "赠送样品" in page and "小明" in page
    record = ChurnRecord.get_by_id(record.id)
    assert record.status == ChurnRecord.POSTPONED and len(record.measure_list()) == 2


@pytest.mark.parametrize("step", ["postpone", "confirm"])
def test_an_empty_text_is_answered_next_to_the_field(client_for, records, step):
    record = records["xiaoming"]
    response = post(client_for("xiaoming"), f"/admin/churn/{step}/?id={record.id}",
                    {"text": "   "})
    assert response.status_code == 200 and "is-invalid" in text(response)
    assert ChurnRecord.get_by_id(record.id).status == ChurnRecord.WARNING


def test_confirming_loses_the_customer(client_for, records):
    record = records["xiaoming"]
    client = client_for("xiaoming")
    response = post(client, f"/admin/churn/confirm/?id={record.id}", {"text": "转向竞争对手"})
    assert response.status_code == 302
    record = ChurnRecord.get_by_id(record.id)
    assert record.status == ChurnRecord.CONFIRMED and record.confirmed_at is not None
    assert record.customer.status == Customer.LOST
    page = text(client.get("/admin/churn/"))
    assert f"/admin/churn/postpone/?id={record.id}" not in page  # final: only 查看
    post(client, f"/admin/churn/postpone/?id={record.id}", {"text": "再挽回"})
    assert ChurnRecord.get_by_id(record.id).measures is None
    assert "小明的老客户" not in text(client.get("/admin/customer/"))  # no longer 正常


def test_another_manager_can_neither_see_nor_handle_the_record(client_for, records):
    record = records["xiaoming"]
    client = client_for("wangcai")
    for step in ("postpone", "confirm"):
        response = client.get(f"/admin/churn/{step}/?id={record.id}")
        assert response.status_code == 302
        post(client, f"/admin/churn/{step}/?id={record.id}", {"text": "越权"})
    assert client.get(f"/admin/churn/details/?id={record.id}").status_code == 302
    record = ChurnRecord.get_by_id(record.id)
    assert (record.status, record.measures) == (ChurnRecord.WARNING, None)


def test_a_supervisor_handles_any_customers_churn(client_for, records):
    post(client_for("supervisor"), f"/admin/churn/postpone/?id={records['wangcai'].id}",
         {"text": "主管出面协调"})
    assert ChurnRecord.get_by_id(records["wangcai"].id).status == ChurnRecord.POSTPONED


@pytest.mark.parametrize("username", ["admin", "executive"])
def test_roles_without_churn_get_403(client_for, records, username):
    client = client_for(username)
    record = records["xiaoming"]
    for url in ("/admin/churn/", f"/admin/churn/postpone/?id={record.id}",
                f"/admin/churn/confirm/?id={record.id}"):
        assert client.get(url).status_code == 403
    assert post(client, f"/admin/churn/confirm/?id={record.id}",
                {"text": "x"}).status_code == 403
    assert ChurnRecord.get_by_id(record.id).status == ChurnRecord.WARNING


def test_the_detail_page_shows_measures_and_reason(client_for, records):
    record = records["xiaoming"]
    record.postpone("电话回访", by=record.customer.manager_id)
    page = text(client_for("xiaoming").get(f"/admin/churn/details/?id={record.id}"))
    assert "电话回访" in page and "暂缓流失" in page
