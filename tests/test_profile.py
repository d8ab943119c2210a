"""客户 360°: the customer's 查看 page shows every part the user may see, within his row
scope, with quick actions that fill this customer in and come back here."""
import datetime
import re
from decimal import Decimal

import pytest

from models import (
    Activity,
    ChurnRecord,
    Contact,
    Opportunity,
    Order,
    OrderLine,
    Product,
    Role,
    ServiceRequest,
)
from models.base import local_today
from tests.conftest import csrf_token, make_user


@pytest.fixture
def customer(users):
    """小明's customer, developed from an opportunity, with a bit of everything."""
    supervisor, manager = users["supervisor"], users["xiaoming"]
    opportunity = Opportunity.open(supervisor, customer_name="苏州河畔家电", probability=80,
                                   summary="门店换新 30 台电视", description="-")
    opportunity.assign(manager, supervisor)
    opportunity.add_plan_item(local_today(), "上门演示新款电视", local_today())
    found = opportunity.develop(manager)
    Contact.create(customer=found, name="周女士", gender="F", title="采购", office_phone="0512-1")
    Activity.create(customer=found, date=datetime.date(2026, 3, 1), place="苏州",
                    summary="初次拜访")
    Activity.create(customer=found, date=datetime.date(2026, 5, 1), place="苏州", summary="签约")
    product = Product.create(name="电视机", model="X1", batch="2026", unit="台", price=1000)
    for number, day, status, quantity in (("D1", datetime.date(2025, 6, 1), Order.PAID, 2),
                                          ("D2", datetime.date(2026, 2, 1), Order.PAID, 3),
                                          ("D3", datetime.date(2026, 4, 1), Order.UNPAID, 1)):
        order = Order.create(customer=found, number=number, date=day, address="苏州",
                             status=status)
        OrderLine.create(order=order, product=product, quantity=quantity, unit="台",
                         price=Decimal("1000.00"))
    ServiceRequest.open(manager, service_type="咨询", summary="电视机无法开机", customer=found,
                        request="-")
    ChurnRecord.create(customer=found, status=ChurnRecord.POSTPONED, measures="回访\n打折")
    return found


def page_of(client, customer):
    response = client.get(f"/admin/customer/details/?id={customer.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def part(page, key):
    match = re.search(rf'id="crm-part-{key}".*?(?=<div class="card mb-3 crm-part"|\Z)', page, re.S)
    return match.group(0) if match else None


def test_the_manager_sees_everything_about_his_customer(client_for, customer):
    page = page_of(client_for("xiaoming"), customer)
    assert "周女士" in part(page, "contacts")
    timeline = part(page, "activities")
    assert timeline.index("签约") < timeline.index("初次拜访")  # newest first
    years = re.findall(r"<tr><td>(\d{4})</td><td[^>]*>(\d+)</td><td[^>]*>([\d,.]+)</td>"
                       r"<td[^>]*>([\d,.]+)</td>", part(page, "orders"))
    assert years == [("2026", "2", "4,000.00", "3,000.00"), ("2025", "1", "2,000.00", "2,000.00")]
    assert "电视机无法开机" in part(page, "services")
    churn = part(page, "churn")
    assert "回访" in churn and "打折" in churn
    assert "上门演示新款电视" in part(page, "opportunity")


def test_a_part_the_user_may_not_open_is_absent(app, client_for, customer, users):
    Role.create(name="只看客户", code="viewer", permissions=["customers.customer:all"])
    users["viewer"] = make_user(app, "viewer", "访客", ["viewer"])
    page = page_of(client_for("viewer"), customer)
    assert customer.name in page
    for key in ("contacts", "activities", "orders", "services", "churn", "opportunity"):
        assert part(page, key) is None, key
    assert 'id="crm-customer-actions"' not in page


def test_parts_keep_the_row_scope(app, client_for, customer, users):
    """A role seeing all customers but only its own orders sees none of 小明's orders."""
    Role.create(name="区域经理", code="regional",
                permissions=["customers.customer:all", "customers.order:own"])
    users["regional"] = make_user(app, "regional", "区域", ["regional"])
    orders = part(page_of(client_for("regional"), customer), "orders")
    assert orders is not None and "D1" not in orders and "D2" not in orders


def test_quick_actions_fill_in_the_customer_and_come_back(client_for, customer):
    client = client_for("xiaoming")
    page = page_of(client, customer)
    actions = dict((label, href.replace("&amp;", "&")) for href, label in re.findall(
        r'<a class="btn btn-sm btn-outline-primary mr-1" href="([^"]+)">([^<]+)</a>', page))
    assert set(actions) == {"新建联系人", "记录交往", "创建服务"}
    for label in ("新建联系人", "记录交往", "创建服务"):
        form = client.get(actions[label]).get_data(as_text=True)
        chosen = re.search(r'<input[^>]*id="customer"[^>]*>', form).group(0)
        assert f'value="{customer.id}"' in chosen, label  # filled in already
    token = csrf_token(client, actions["新建联系人"])
    response = client.post(actions["新建联系人"], data={
        "csrf_token": token, "customer": customer.id, "name": "钱先生", "gender": "M",
        "title": "经理", "office_phone": "0512-2"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customer/details/?id={customer.id}")
    assert "钱先生" in part(page_of(client, customer), "contacts")


def test_the_yearly_figures_equal_the_plain_sums_of_the_orders(users):
    """orders_by_year reads the kept summary and the unpaid orders only: after random
    orders, lines, payments and deletions it equals the plain sums over every order."""
    import random

    from models import Customer
    from models.customers import orders_by_year
    rng = random.Random(20261206)
    found = Customer.create(number="KH-YEARS", name="年度客户", manager=users["xiaoming"])
    other = Customer.create(number="KH-OTHER", name="别的客户", manager=users["xiaoming"])
    product = Product.create(name="冰箱", model="B2", batch="2026", unit="台", price=1)
    orders = []
    for n in range(60):
        order = Order.create(customer=rng.choice([found, found, other]), number=f"Y{n:04d}",
                             date=datetime.date(rng.randint(2022, 2026), rng.randint(1, 12), 1),
                             address="苏州", status=rng.choice([Order.PAID, Order.UNPAID]))
        for _ in range(rng.randint(0, 3)):
            OrderLine.create(order=order, product=product, quantity=rng.randint(1, 9), unit="台",
                             price=Decimal(rng.randint(1, 99999)) / 100)
        orders.append(order)
    for order in rng.sample(orders, 15):
        Order.update(status=Order.PAID if order.status == Order.UNPAID else Order.UNPAID) \
            .where(Order.id == order.id).execute()
    for order in rng.sample(orders, 5):
        OrderLine.delete().where(OrderLine.order == order.id).execute()
        Order.delete().where(Order.id == order.id).execute()

    plain = {}
    for order in Order.select().where(Order.customer == found):
        amount = sum((line.quantity * line.price for line in order.lines), Decimal(0))
        count, total, paid = plain.get(order.date.year, (0, Decimal(0), Decimal(0)))
        plain[order.date.year] = (count + 1, total + amount,
                                  paid + (amount if order.status == Order.PAID else 0))
    assert orders_by_year(found.id) == plain
    assert len(plain) >= 4 and any(total != paid for _, total, paid in plain.values())
