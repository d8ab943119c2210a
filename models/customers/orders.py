"""历史订单: the ERP's orders and their lines, shown here and never edited, and their import."""
import datetime
from decimal import Decimal

from peewee import CharField, DateField, DecimalField, ForeignKeyField, IntegerField, fn

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
        return sum((line.amount for line in self.lines), Decimal("0"))

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
