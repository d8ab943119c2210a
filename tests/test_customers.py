"""客户管理 rules on the models: customer numbers and order totals."""
import datetime
from decimal import Decimal

from models import Customer, Order, OrderLine, Product


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
