"""历史订单: the ERP's orders and their lines, shown here and never edited, and their import."""
import datetime
from decimal import Decimal

from peewee import (
    BigIntegerField,
    CharField,
    CompositeKey,
    DateField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    PostgresqlDatabase,
    fn,
)

from ..base import N_, BaseModel, DomainError, required_text
from ..basedata import Product
from ..tabular import ImportRefused, cell_text
from .customer import Customer, customers_of


class Order(BaseModel):
    PAID, UNPAID = "paid", "unpaid"
    STATUS = {PAID: N_("已回款"), UNPAID: N_("未回款")}

    customer = ForeignKeyField(Customer, backref="orders", on_delete="RESTRICT")
    number = CharField(max_length=30, unique=True)
    date = DateField(index=True)
    address = CharField(max_length=300)
    status = CharField(max_length=10, default=UNPAID, index=True)

    class Meta:
        # a customer's orders by date (and 状态): his list and a 客户经理's (migration 0011)
        indexes = ((("customer", "date", "status"), False),)

    def __str__(self):
        return self.number

    @classmethod
    def owned_by(cls, user):
        return cls.customer.in_(customers_of(user))

    @property
    def total(self):
        """总金额 = Σ 数量 × 单价 over the order's lines."""
        if "_total" in self.__dict__:
            return self._total
        return sum((line.amount for line in self.line_items()), Decimal("0"))

    def line_items(self):
        """The order's lines with their products, read once, in one query (its details
        page shows them and their 总金额)."""
        if "_lines" not in self.__dict__:
            self._lines = list(OrderLine.select(OrderLine, Product).join(Product)
                               .where(OrderLine.order == self.id).order_by(OrderLine.id))
        return self._lines

    @classmethod
    def load_totals(cls, orders):
        """Give many orders their 总金额 with one query (a list would otherwise ask per row)."""
        amount = fn.SUM(OrderLine.quantity * OrderLine.price)
        sums = dict(OrderLine.select(OrderLine.order, amount)
                    .where(OrderLine.order.in_([o.id for o in orders]))
                    .group_by(OrderLine.order).tuples()) if orders else {}
        for order in orders:
            order._total = Decimal(str(sums.get(order.id) or 0)).quantize(Decimal("0.01"))
        return orders


class OrderLine(BaseModel):
    order = ForeignKeyField(Order, backref="lines", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="order_lines", on_delete="RESTRICT")
    quantity = IntegerField()
    unit = CharField(max_length=20)
    price = DecimalField(max_digits=12, decimal_places=2)

    @property
    def amount(self):
        """金额 = 数量 × 单价."""
        return self.quantity * self.price


class CustomerSales(BaseModel):
    """客户销售汇总: per customer and year, ``orders`` = the number of his orders (paid or
    not), ``cents`` = Σ 数量 × ROUND(单价 × 100) over the lines of his paid (已回款) ones
    (exact integer cents) and ``lines`` their number. ``year`` 0 (ALL_YEARS) holds his
    sums over all years. A row exists while its customer has an order that year.

    Never written by the application: database triggers (migration 0009) keep it
    exact on every write to orders and lines — the ORM, the ERP import, raw SQL, bulk
    inserts. After writes that bypass triggers (a TRUNCATE, a load with triggers
    disabled), ``rebuild_sales``.
    """
    ALL_YEARS = 0

    customer = ForeignKeyField(Customer, backref="sales", on_delete="CASCADE", index=False)
    year = IntegerField()
    cents = BigIntegerField(default=0)
    orders = IntegerField(default=0)
    lines = IntegerField(default=0)

    class Meta:
        table_name = "customer_sales"
        primary_key = CompositeKey("customer", "year")
        indexes = ((("year", "cents", "lines"), False),)  # 客户贡献分析's pages and totals
        derived = True  # kept by triggers: a copy of the database copies orders, not this


def sales_aggregate_sql(database):
    """SELECT customer_id, year, cents, orders, lines: the plain aggregate of the orders
    per customer and year (what CustomerSales holds, all-years rows aside)."""
    year = ("EXTRACT(YEAR FROM o.date)::integer" if isinstance(database, PostgresqlDatabase)
            else "CAST(strftime('%Y', o.date) AS INTEGER)")
    return ('SELECT customer_id, year, CAST(SUM(cents) AS BIGINT) AS cents, COUNT(*) AS orders, '
            'SUM(lines) AS lines FROM ('
            f'SELECT o.customer_id AS customer_id, {year} AS year, '
            'COALESCE(SUM(l.quantity * ROUND(l.price * 100)), 0) AS cents, COUNT(l.id) AS lines '
            "FROM \"order\" o LEFT JOIN order_line l ON l.order_id = o.id AND o.status = 'paid' "
            "GROUP BY o.id) per_order GROUP BY customer_id, year")


def rebuild_sales(database):
    """Recompute customer_sales from the orders (migration 0009; after a bulk load that
    bypassed the triggers). Returns the number of customer × year rows."""
    with database.atomic():
        database.execute_sql("DELETE FROM customer_sales")
        database.execute_sql("INSERT INTO customer_sales (customer_id, year, cents, orders, "
                             f"lines) {sales_aggregate_sql(database)}")
        database.execute_sql(
            "INSERT INTO customer_sales (customer_id, year, cents, orders, lines) "
            f"SELECT customer_id, {CustomerSales.ALL_YEARS}, SUM(cents), SUM(orders), "
            f"SUM(lines) FROM customer_sales GROUP BY customer_id")
        return database.execute_sql(
            f"SELECT COUNT(*) FROM customer_sales WHERE year <> {CustomerSales.ALL_YEARS}"
        ).fetchone()[0]


# The columns of an ERP order export: one row per order line.
ORDER_COLUMNS = ("订单编号", "客户编号", "日期", "送货地址", "状态", "商品名称", "型号", "批次",
                 "数量", "单位", "单价")


def import_orders(rows):
    """Take the ERP's orders (one row per line), all or nothing; returns (new, updated).

    An order already known (by 订单编号) is replaced: its fields and lines are the
    ERP's, which the CRM never edits. 客户 is given by 客户编号; a product not
    known yet (名称, 型号, 批次) is added with the row's 单位 and 单价.
    """
    statuses = {"已回款": Order.PAID, "未回款": Order.UNPAID, Order.PAID: Order.PAID,
                Order.UNPAID: Order.UNPAID}
    orders, errors = {}, []
    for number, row in enumerate(rows, start=2):
        cells = {header: cell_text(row.get(header)) for header in ORDER_COLUMNS}
        try:
            key = required_text(cells["订单编号"], 30, "number", N_("订单编号"))
            customer = Customer.get_or_none(Customer.number == cells["客户编号"])
            if customer is None:
                raise DomainError(N_("客户编号“%(value)s”不存在"), value=cells["客户编号"] or "")
            order = orders.setdefault(key, {
                "customer": customer.id, "date": _day(cells["日期"]),
                "address": required_text(cells["送货地址"], 300, "address", N_("送货地址")),
                "status": statuses.get(cells["状态"]), "lines": []})
            if order["status"] is None:
                raise DomainError(N_("状态须为已回款或未回款"))
            order["lines"].append(_order_line(cells))
        except DomainError as exc:
            errors.append((number, exc.message, exc.params))
    if errors:
        raise ImportRefused(errors, N_("导入失败：%(count)d 行有误，未导入任何订单"))
    created = 0
    with Order._meta.database.atomic():
        for key, fields in orders.items():
            lines = fields.pop("lines")
            order = Order.get_or_none(Order.number == key)
            if order is None:
                order = Order.create(number=key, **fields)
                created += 1
            else:
                Order.update(**fields).where(Order.id == order.id).execute()
                OrderLine.delete().where(OrderLine.order == order).execute()
            for line in lines:
                product = _product(line.pop("product"))
                OrderLine.create(order=order, product=product, **line)
    return created, len(orders) - created


def _day(value):
    try:
        return datetime.date.fromisoformat((value or "")[:10])
    except ValueError:
        raise DomainError(N_("日期须为 年-月-日")) from None


def _order_line(cells):
    try:
        quantity, price = int(cells["数量"] or ""), Decimal((cells["单价"] or "").replace(",", ""))
    except (ValueError, ArithmeticError):
        raise DomainError(N_("数量须为整数，单价须为数字")) from None
    if quantity <= 0 or price < 0:
        raise DomainError(N_("数量须大于 0，单价不能为负数"))
    product = tuple(required_text(cells[h], 100, h, h) for h in ("商品名称", "型号", "批次"))
    unit = required_text(cells["单位"], 20, "unit", N_("单位"))
    return {"product": (*product, unit, price), "quantity": quantity, "unit": unit,
            "price": price}


def _product(spec):
    name, model, batch, unit, price = spec
    product, _ = Product.get_or_create(name=name, model=model, batch=batch,
                                       defaults={"unit": unit, "price": price})
    return product
