"""客户管理 rules on the models: customer numbers and order totals."""
import datetime
from decimal import Decimal

import pytest

from models import Customer, Order, OrderLine, Product
from models.base import stored


def test_order_totals_for_a_page_come_from_one_query_and_match_the_lines(users, database):
    product = Product.create(name="幸福牌电视机", model="818 FFT", batch="2388 EA03", unit="台",
                             price=Decimal("7500"))
    customer = Customer.create_numbered(datetime.datetime(2026, 11, 23, 9), name="甲",
                                        manager=users["xiaoming"])
    orders = []
    for i, lines in enumerate([[(2, "7500.00"), (3, "36.50")], [], [(1, "16800.00")]]):
        order = Order.create(customer=customer, number=f"DD{i}", date=datetime.date(2026, 1, 1),
                             address="北京")
        for quantity, price in lines:
            OrderLine.create(order=order, product=product, quantity=quantity, unit="台",
                             price=Decimal(price))
        orders.append(Order.get_by_id(order.id))
    expected = [o.total for o in orders]  # per order, from its lines
    assert expected == [Decimal("15109.50"), Decimal("0"), Decimal("16800.00")]
    fresh = list(Order.select().order_by(Order.id))
    queries = []
    real = database.execute_sql
    database.execute_sql = lambda *a, **k: queries.append(a[0]) or real(*a, **k)
    try:
        Order.load_totals(fresh)
        assert [o.total for o in fresh] == expected
    finally:
        database.execute_sql = real
    assert len(queries) == 1


def test_customer_numbers_use_the_days_range(users):
    day = datetime.datetime(2026, 11, 23, 9)
    Customer.create(number="KH261122999", name="前一天", manager=users["xiaoming"], created_at=day)
    Customer.create(number="KH261124001", name="后一天", manager=users["xiaoming"], created_at=day)
    assert Customer.next_number(day.date()) == "KH261123001"
    Customer.create_numbered(day, name="当天", manager=users["xiaoming"])
    assert Customer.next_number(day.date()) == "KH261123002"


# -- 客户流失管理 ------------------------------------------------------------------

TODAY = datetime.date(2026, 11, 23)
NOW = stored(datetime.datetime(2026, 11, 23, 10, 0))  # 10:00 on the company's clock


def months_ago(months, days=0):
    from models.customers import months_before
    return months_before(TODAY, months) - datetime.timedelta(days=days)


def customer_with_last_order(users, name, last_order=None, created=datetime.date(2024, 1, 1),
                             status=Customer.ACTIVE, manager="xiaoming"):
    at = datetime.datetime.combine(created, datetime.time(9))
    customer = Customer.create_numbered(at, name=name, manager=users[manager], status=status)
    if last_order:
        Order.create(customer=customer, number=f"DD-{name}", date=last_order, address="北京")
    return customer


def detected_one():
    """Run the detection, which opens one record here; that record."""
    from models import ChurnRecord
    assert ChurnRecord.detect(TODAY, at=NOW) == 1
    return ChurnRecord.get()


def test_months_before_keeps_the_day_or_the_months_last_day():
    from models.customers import months_before
    assert months_before(datetime.date(2026, 11, 23), 6) == datetime.date(2026, 5, 23)
    assert months_before(datetime.date(2026, 8, 31), 6) == datetime.date(2026, 2, 28)
    assert months_before(datetime.date(2026, 3, 15), 15) == datetime.date(2024, 12, 15)


def test_detection_warns_about_customers_silent_for_more_than_six_months(users):
    from models import ChurnRecord
    silent = customer_with_last_order(users, "久未下单", months_ago(6, days=1))
    customer_with_last_order(users, "刚好六个月", months_ago(6))
    customer_with_last_order(users, "最近下单", TODAY - datetime.timedelta(days=3))
    never_old = customer_with_last_order(users, "从未下单老客户")
    customer_with_last_order(users, "从未下单新客户", created=TODAY - datetime.timedelta(days=30))
    customer_with_last_order(users, "已流失", months_ago(12), status=Customer.LOST)
    assert ChurnRecord.detect(TODAY, at=NOW) == 2  # how many were opened
    assert {r.customer.name for r in ChurnRecord.select()} == {"久未下单", "从未下单老客户"}
    record = ChurnRecord.get(ChurnRecord.customer == silent)
    assert (record.status, record.last_order_date) == (ChurnRecord.WARNING, months_ago(6, 1))
    assert ChurnRecord.get(ChurnRecord.customer == never_old).last_order_date is None


def test_detection_never_opens_a_second_record_but_may_after_a_confirmed_one(users):
    from models import ChurnRecord
    customer_with_last_order(users, "久未下单", months_ago(8))
    assert ChurnRecord.detect(TODAY, at=NOW) == 1
    assert ChurnRecord.detect(TODAY, at=NOW) == 0
    record = ChurnRecord.get()
    record.postpone("下月回访", by=users["xiaoming"], at=NOW)
    assert ChurnRecord.detect(TODAY, at=NOW) == 0  # a postponed record is still open
    assert ChurnRecord.select().count() == 1


def test_the_silence_is_configurable(users):
    from models import ChurnRecord
    customer_with_last_order(users, "四个月没下单", months_ago(4))
    assert ChurnRecord.detect(TODAY, months=6, at=NOW) == 0
    assert ChurnRecord.detect(TODAY, months=3, at=NOW) == 1


def test_postponing_appends_dated_signed_measures_and_can_be_repeated(users):
    from models import ChurnRecord, StatusChange
    customer_with_last_order(users, "久未下单", months_ago(8))
    record = detected_one()
    record.postpone("  电话回访，赠送样品  ", by=users["xiaoming"], at=NOW)
    later = NOW + datetime.timedelta(days=7)
    ChurnRecord.get_by_id(record.id).postpone("上门拜访", by=users["supervisor"], at=later)
    record = ChurnRecord.get_by_id(record.id)
    assert record.status == ChurnRecord.POSTPONED
    assert record.measure_list() == ["2026-11-23 10:00 小明：电话回访，赠送样品",
                                     "2026-11-30 10:00 王主管：上门拜访"]
    assert [(c.from_status, c.to_status) for c in StatusChange.of(record)] == [
        ("warning", "postponed")]


@pytest.mark.parametrize("text", ["", "   ", None, "字" * 2001])
def test_a_measure_and_a_reason_are_required_and_bounded(users, text):
    from models import ChurnRecord, DomainError
    customer_with_last_order(users, "久未下单", months_ago(8))
    record = detected_one()
    with pytest.raises(DomainError) as error:
        record.postpone(text, by=users["xiaoming"], at=NOW)
    assert error.value.field == "measure"
    with pytest.raises(DomainError) as error:
        record.confirm(text, by=users["xiaoming"], at=NOW)
    assert error.value.field == "reason"
    record = ChurnRecord.get_by_id(record.id)
    assert (record.status, record.measures, record.reason) == (ChurnRecord.WARNING, None, None)


def test_confirming_stamps_the_time_and_loses_the_customer_for_good(users):
    from models import ChurnRecord, DomainError, StatusChange
    customer = customer_with_last_order(users, "久未下单", months_ago(8))
    record = detected_one()
    record.confirm("客户已转向竞争对手", by=users["xiaoming"], at=NOW)
    record = ChurnRecord.get_by_id(record.id)
    assert (record.status, record.reason, record.confirmed_at) == (
        ChurnRecord.CONFIRMED, "客户已转向竞争对手", NOW)
    assert Customer.get_by_id(customer.id).status == Customer.LOST
    assert [(c.from_status, c.to_status) for c in StatusChange.of(customer)] == [
        ("active", "lost")]
    for step in (lambda: record.postpone("再试试", by=users["xiaoming"], at=NOW),
                 lambda: record.confirm("again", by=users["xiaoming"], at=NOW)):
        with pytest.raises(DomainError):
            step()
    assert ChurnRecord.detect(TODAY, at=NOW) == 0  # a lost customer is not watched


def test_confirming_is_all_or_nothing(users, monkeypatch):
    from models import ChurnRecord, StatusChange
    customer = customer_with_last_order(users, "久未下单", months_ago(8))
    record = detected_one()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(StatusChange, "record", broken)
    with pytest.raises(RuntimeError):
        record.confirm("原因", by=users["xiaoming"], at=NOW)
    assert ChurnRecord.get_by_id(record.id).status == ChurnRecord.WARNING
    assert Customer.get_by_id(customer.id).status == Customer.ACTIVE


# -- 客户信息管理 ------------------------------------------------------------------

COMPLETE = {"region": "北京", "level": 3, "satisfaction": 4, "credit": 5, "address": "北京市海淀区",
            "zip_code": "100080", "phone": "010-1", "fax": "010-2", "website": "www.x.cn",
            "legal_person": "张三", "bank": "工商银行", "bank_account": "6222"}


def complete_customer(users, **fields):
    customer = Customer.create_numbered(NOW, name="完整客户", manager=users["xiaoming"])
    for name, value in {**COMPLETE, **fields}.items():
        setattr(customer, name, value)
    return customer


def test_a_complete_customer_is_saved(users):
    customer = complete_customer(users)
    customer.save_active(list(COMPLETE))
    assert Customer.get_by_id(customer.id).legal_person == "张三"


@pytest.mark.parametrize("field, value", [
    ("region", "火星"), ("region", None), ("level", 9), ("level", None),
    ("satisfaction", 0), ("credit", 6), ("credit", None), ("address", " "),
    ("zip_code", "1" * 11), ("legal_person", ""), ("bank_account", None),
    ("registered_capital", Decimal("-1")), ("manager", 99999), ("manager", 10 ** 30),
    # 注册资金 numeric(14, 2), 年营业额 numeric(16, 2): finite and within the column
    ("registered_capital", Decimal("NaN")), ("annual_revenue", Decimal("sNaN")),
    ("registered_capital", Decimal("Infinity")), ("annual_revenue", "1e999"),
    ("registered_capital", Decimal("1E+20")), ("registered_capital", Decimal("1234567890123")),
    ("annual_revenue", Decimal("12345678901234567")), ("annual_revenue", Decimal("0.001")),
    ("address", "北京\x00海淀"), ("bank", "银行\x01"), ("license_no", "\x7f")])
def test_customer_fields_follow_the_spec(users, field, value):
    from models import DomainError
    customer = complete_customer(users)
    if field == "manager":
        customer.manager_id = value
    else:
        setattr(customer, field, value)
    with pytest.raises(DomainError) as error:
        customer.save_active(list(COMPLETE) + ["registered_capital", "manager"])
    assert error.value.field == field


def test_a_customer_goes_only_to_an_active_account_manager(users):
    from models import DomainError
    customer = complete_customer(users)
    customer.manager = users["supervisor"]
    with pytest.raises(DomainError):
        customer.save_active(["manager"])
    customer.manager = users["wangcai"]
    customer.save_active(["manager"])
    assert Customer.get_by_id(customer.id).manager_id == users["wangcai"].id


def test_deleting_is_logical_and_keeps_the_history(users):
    from models import Contact, DomainError, StatusChange
    customer = complete_customer(users)
    customer.save_active(list(COMPLETE))
    Contact.create(customer=customer, name="李四", title="经理", office_phone="1")
    Order.create(customer=customer, number="DD1", date=TODAY, address="北京")
    customer.remove(by=users["xiaoming"], at=NOW)
    saved = Customer.get_by_id(customer.id)
    assert saved.status == Customer.DELETED and saved.contacts.count() == 1
    assert saved.orders.count() == 1
    assert [(c.from_status, c.to_status) for c in StatusChange.of(saved)] == [
        ("active", "deleted")]
    assert customer.id not in [c.id for c in Customer.active()]
    with pytest.raises(DomainError):
        saved.remove(by=users["xiaoming"], at=NOW)
    with pytest.raises(DomainError):
        saved.save_active(["name"])  # a deleted customer is no longer edited


# 导入: tests/test_import.py


# -- ERP orders -------------------------------------------------------------------

def order_row(**cells):
    row = {"订单编号": "DD2026001", "客户编号": "KH261123001", "日期": "2026-11-01",
           "送货地址": "北京市海淀区", "状态": "已回款", "商品名称": "幸福牌电视机",
           "型号": "818 FFT", "批次": "2388 EA03", "数量": "2", "单位": "台", "单价": "7,500"}
    return {**row, **cells}


def test_erp_orders_arrive_by_import_and_a_second_import_replaces_them(users):
    from models.customers import import_orders
    Customer.create_numbered(NOW, name="甲", manager=users["xiaoming"])
    rows = [order_row(), order_row(商品名称="幸福牌收音机", 型号="天语007", 批次="7878 006A",
                                   数量="10", 单价="36")]
    assert import_orders(rows) == (1, 0)
    order = Order.get(Order.number == "DD2026001")
    assert (order.status, order.date, order.total) == (Order.PAID, datetime.date(2026, 11, 1),
                                                       Decimal("15360"))
    assert Product.select().count() == 2  # unknown products are added
    assert import_orders([order_row(状态="未回款", 数量="1")]) == (0, 1)
    order = Order.get(Order.number == "DD2026001")
    assert (order.status, order.lines.count(), order.total) == (Order.UNPAID, 1, Decimal("7500"))


@pytest.mark.parametrize("cells", [{"客户编号": "KH000000000"}, {"日期": "2026-13-01"},
                                   {"状态": "部分回款"}, {"数量": "0"}, {"数量": "两"},
                                   {"单价": "-1"}, {"送货地址": ""}, {"商品名称": ""}])
def test_a_bad_order_row_imports_nothing(users, cells):
    from models.customers import import_orders
    from models.tabular import ImportRefused
    Customer.create_numbered(NOW, name="甲", manager=users["xiaoming"])
    with pytest.raises(ImportRefused) as refused:
        import_orders([order_row(订单编号="DD1"), order_row(订单编号="DD2", **cells)])
    assert [number for number, _, _ in refused.value.errors] == [3]
    assert Order.select().count() == 0 and OrderLine.select().count() == 0


def test_flask_import_orders_reads_the_erp_file(app, users, tmp_path):
    Customer.create_numbered(NOW, name="甲", manager=users["xiaoming"])
    path = tmp_path / "orders.csv"
    header = ",".join(order_row())
    path.write_bytes((header + "\r\n" + ",".join(order_row(单价="7500").values()) + "\r\n")
                     .encode("gb18030"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-orders", str(path)])
    assert result.exit_code == 0 and "订单：新增 1，更新 0，未变 0" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes((header + "\r\n" + ",".join(order_row(客户编号="KH0", 单价="1").values())
                     + "\r\n")
                    .encode())
    result = runner.invoke(args=["import-orders", str(bad)])
    assert result.exit_code != 0 and "第 2 行" in result.output


# -- every wrong field at once (Customer.clean, Contact.clean, Activity.clean) -------------

def test_a_customer_made_by_development_is_refused_with_every_missing_field_at_once(users):
    from models.base import DomainErrors
    customer = Customer.create_numbered(NOW, name="只有名称", manager=users["xiaoming"])
    customer.zip_code = "1" * 11
    with pytest.raises(DomainErrors) as error:
        customer.clean()
    fields = [e.field for e in error.value.errors]
    assert set(fields) == set(COMPLETE) and len(fields) == len(COMPLETE)
    assert error.value.field == fields[0]  # reads as its first refusal, as before


def contact(users, **fields):
    from models import Contact
    owner = Customer.create_numbered(NOW, name="联系人的客户", manager=users["xiaoming"])
    return Contact(**{"customer": owner, "name": " 李四 ", "title": "采购", "office_phone": "1",
                      "mobile": "  ", **fields})


def test_a_complete_contact_is_clean_stripped_and_a_man_by_default(users):
    from models import Contact
    person = contact(users)
    person.clean()
    assert (person.name, person.mobile, person.gender) == ("李四", None, Contact.MALE)


@pytest.mark.parametrize("gender", ["X", "女", "", None, "m"])
def test_a_contact_is_a_man_or_a_woman_nothing_else(users, gender):
    from models.base import DomainErrors
    with pytest.raises(DomainErrors) as error:
        contact(users, gender=gender).clean()
    assert [e.field for e in error.value.errors] == ["gender"]


def test_every_wrong_contact_field_is_refused_at_once(users):
    from models import Contact
    from models.base import DomainErrors
    person = Contact(name=" ", title="", office_phone=None, mobile="1" * 51, note="字" * 301,
                     gender="X")
    with pytest.raises(DomainErrors) as error:
        person.clean()
    assert {e.field for e in error.value.errors} == {
        "customer", "name", "title", "office_phone", "mobile", "note", "gender"}


def test_an_activity_needs_customer_date_place_and_summary_within_the_columns(users):
    from models import Activity
    from models.base import DomainErrors
    owner = Customer.create_numbered(NOW, name="交往的客户", manager=users["xiaoming"])
    Activity(customer=owner, date=TODAY, place=" 北京 ", summary="拜访", detail="").clean()
    with pytest.raises(DomainErrors) as error:
        Activity(date="昨天", place="", summary="字" * 201, detail="字" * 2001,
                 note="字" * 301).clean()
    assert {e.field for e in error.value.errors} == {
        "customer", "date", "place", "summary", "detail", "note"}
