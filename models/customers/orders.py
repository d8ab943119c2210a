"""历史订单: the ERP's orders and their lines, shown here and never edited, and their import."""
import datetime
import re
from decimal import Decimal

from peewee import (
    JOIN,
    BigIntegerField,
    CharField,
    CompositeKey,
    DateField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    PostgresqlDatabase,
    chunked,
    fn,
)

from ..base import (
    CENT,
    N_,
    BaseModel,
    DomainError,
    Refusals,
    decimal_in_column,
    optional_text,
    required_text,
)
from ..basedata import Product
from ..imports import erp_batch
from ..security import User
from ..tabular import (
    Imported,
    ImportRefused,
    canonical_rows,
    cell_text,
    row_faults,
    whole_number,
)
from .customer import Customer


class Order(BaseModel):
    PAID, UNPAID = "paid", "unpaid"
    STATUS = {PAID: N_("已回款"), UNPAID: N_("未回款")}

    customer = ForeignKeyField(Customer, backref="orders", on_delete="RESTRICT")
    number = CharField(max_length=30, unique=True)
    date = DateField(index=True)
    address = CharField(max_length=300)
    status = CharField(max_length=10, default=UNPAID, index=True)
    # the customer's 客户经理, kept by database triggers on every write path (migration
    # 0021): never written here; an order just created through the ORM still shows None
    manager = ForeignKeyField(User, backref="+", null=True, index=False, on_delete="RESTRICT")
    database_kept = ("manager",)  # not the audit log's to record either

    class Meta:
        # a customer's orders by date (and 状态): his list (migration 0011); a 客户经理's
        # by date or 订单编号, from one index range (0021), or by 状态 (0022)
        indexes = ((("customer", "date", "status"), False), (("manager", "date"), False),
                   (("manager", "number"), False), (("manager", "status", "date"), False))

    def __str__(self):
        return self.number

    # "own" is the 客户经理 of the record this key leads to (a list joining that record
    # may ask it there: admin_views.base.RelatedSort)
    owner_key = "customer"

    @classmethod
    def owned_by(cls, user):
        return cls.manager == user  # his customer's, kept by triggers (migration 0021)

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
            order._total = Decimal(str(sums.get(order.id) or 0)).quantize(CENT)
        return orders


class OrderLine(BaseModel):
    audited = False  # an order is the ERP's: its import is audited, not each line

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

    audited = False  # a summary kept by triggers
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


def orders_by_year(customer):
    """{year: (orders, 总金额, 已回款)} of ``customer``'s orders: the number of orders and
    the paid amount from his ``CustomerSales`` rows, the total adding his unpaid orders'
    amounts, read from those orders alone — a customer of 3,500 orders read them all with
    their lines (45 ms a 客户 page)."""
    years = {year: [orders, Decimal(cents) / 100, Decimal(cents) / 100]
             for year, orders, cents in CustomerSales.select(
                 CustomerSales.year, CustomerSales.orders, CustomerSales.cents)
             .where(CustomerSales.customer == customer,
                    CustomerSales.year != CustomerSales.ALL_YEARS).tuples()}
    amount = fn.SUM(OrderLine.quantity * OrderLine.price)
    for day, unpaid in (Order.select(Order.date, amount).join(OrderLine, JOIN.LEFT_OUTER)
                        .where(Order.customer == customer, Order.status == Order.UNPAID)
                        .group_by(Order.id, Order.date).tuples()):
        row = years.setdefault(day.year, [0, Decimal(0), Decimal(0)])
        row[1] += Decimal(str(unpaid or 0))
    return {year: (orders, total.quantize(CENT), paid.quantize(CENT))
            for year, (orders, total, paid) in years.items()}


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


class SalesMonth(BaseModel):
    """公司月度回款汇总: per month of the company (an order's 日期 is a DATE, so its month
    is the company's), ``cents`` = Σ 数量 × ROUND(单价 × 100) over the lines of the paid
    (已回款) orders dated in that month (exact integer cents, as in CustomerSales),
    ``orders`` the number of those orders and ``lines`` of their lines. A row exists while
    the month has a paid order.

    Company-wide: it answers "how much was paid this year so far" in one look-up by its
    key, for whoever may see every customer's orders (the 高管's home page figure).
    Never written by the application: database triggers (migration 0014) keep it exact
    on every write to orders and lines — the ORM, the ERP import, raw SQL, bulk inserts;
    on PostgreSQL once per statement, so a bulk load (COPY, insert_many) touches each
    month once, not once per line. After writes that bypass triggers (a TRUNCATE, a
    load with triggers disabled), ``rebuild_sales_by_month``.
    """

    audited = False  # a summary kept by triggers

    year = IntegerField()
    month = IntegerField()
    cents = BigIntegerField(default=0)
    orders = IntegerField(default=0)
    lines = IntegerField(default=0)

    class Meta:
        table_name = "sales_month"
        primary_key = CompositeKey("year", "month")
        derived = True  # kept by triggers: a copy of the database copies orders, not this


def sales_by_month_sql(database):
    """SELECT year, month, cents, orders, lines: the plain aggregate of the paid orders per
    month (what SalesMonth holds)."""
    if isinstance(database, PostgresqlDatabase):
        year, month = ("EXTRACT(YEAR FROM o.date)::integer",
                       "EXTRACT(MONTH FROM o.date)::integer")
    else:
        year, month = ("CAST(strftime('%Y', o.date) AS INTEGER)",
                       "CAST(strftime('%m', o.date) AS INTEGER)")
    return ('SELECT year, month, CAST(SUM(cents) AS BIGINT) AS cents, COUNT(*) AS orders, '
            'SUM(lines) AS lines FROM ('
            f'SELECT {year} AS year, {month} AS month, '
            'COALESCE(SUM(l.quantity * ROUND(l.price * 100)), 0) AS cents, COUNT(l.id) AS lines '
            'FROM "order" o LEFT JOIN order_line l ON l.order_id = o.id '
            "WHERE o.status = 'paid' GROUP BY o.id, o.date) per_order GROUP BY year, month")


def rebuild_sales_by_month(database):
    """Recompute sales_month from the orders (migration 0014; after a bulk load that
    bypassed the triggers). Returns the number of months."""
    with database.atomic():
        database.execute_sql("DELETE FROM sales_month")
        database.execute_sql("INSERT INTO sales_month (year, month, cents, orders, lines) "
                             f"{sales_by_month_sql(database)}")
        return database.execute_sql("SELECT COUNT(*) FROM sales_month").fetchone()[0]


# The columns of an ERP order export: one row per order line. 客户 is named by 客户编号, or,
# where the ERP does not know the CRM's numbers, by 客户名称 (seed/erp/ names the demo's
# customers so, since their numbers are those of the day the demo was loaded).
ORDER_COLUMNS = ("订单编号", "客户编号", "客户名称", "日期", "送货地址", "状态", "商品名称", "型号",
                 "批次", "数量", "单位", "单价")
ORDER_REQUIRED = ("订单编号", ("客户编号", "客户名称"), "日期", "送货地址", "状态", "商品名称",
                  "型号", "批次", "数量", "单位", "单价")
# The cells every line of an order repeats (its header): field → the column it is read from.
ORDER_HEADER = {"customer": "客户编号", "date": "日期", "address": "送货地址", "status": "状态"}
_STATUSES = {"已回款": Order.PAID, "未回款": Order.UNPAID, Order.PAID: Order.PAID,
             Order.UNPAID: Order.UNPAID}
_DAY = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})([ T][0-9:.]*)?")


def import_orders(rows, source=None):
    """Take the ERP's orders (one row per line, headers as ORDER_COLUMNS or their English
    names), all or nothing; returns an ``Imported``: orders created, updated, unchanged, and
    the products added.

    Every fault of every row is reported (ImportRefused: row, message, column), and then
    nothing is written. An order already known (by 订单编号) is replaced when the file says
    otherwise (its fields and lines are the ERP's, which the CRM never edits) and left
    untouched when it says the same, so importing a file again changes nothing. The lines
    of one order repeat its 客户, 日期, 送货地址 and 状态; a line that differs is refused.
    A product not known yet (名称, 型号, 批次) is added with the row's 单位 and 单价.
    """
    rows = canonical_rows(rows, ORDER_COLUMNS, ORDER_REQUIRED)
    customers = _CustomerFinder()
    orders, errors = {}, []
    for number, row in enumerate(rows, start=2):  # row 1 holds the headers
        cells = {column: cell_text(row.get(column)) for column in ORDER_COLUMNS}
        if not any(cells.values()):
            continue  # a blank row (Excel leaves some after the last)
        refusals, key, header = Refusals(), None, {}
        with refusals:
            key = required_text(cells["订单编号"], 30, "订单编号", N_("订单编号"))
        with refusals:
            header["customer"] = customers.find(cells["客户编号"], cells["客户名称"])
        with refusals:
            header["date"] = _day(cells["日期"])
        with refusals:
            header["address"] = required_text(cells["送货地址"], 300, "送货地址", N_("送货地址"))
        with refusals:
            header["status"] = _status(cells["状态"])
        line = _order_line(cells, refusals)
        order = orders.get(key)
        if order is not None:
            for field, value in header.items():
                if value != order[field]:
                    column = ORDER_HEADER[field] if field != "customer" or cells["客户编号"] \
                        else "客户名称"
                    refusals.add(N_("同一订单的%(label)s与第 %(row)d 行不同"), field=column,
                                 label=N_(column), row=order["row"])
        elif key is not None and len(header) == len(ORDER_HEADER):
            order = orders[key] = {**header, "row": number, "lines": []}
        if order is not None and line is not None:
            order["lines"].append(line)
        errors += row_faults(number, refusals)
    if errors:
        raise ImportRefused(errors, N_("导入失败：%(count)d 行有误，未导入任何订单"))
    return _save_orders(orders, source)


class _CustomerFinder:
    """A row's customer (his id) by 客户编号, else by 客户名称; each looked up once."""

    def __init__(self):
        self.numbers, self.names = {}, {}

    def find(self, number, name):
        number = optional_text(number, 20, "客户编号", N_("客户编号"))
        if number is not None:
            if number not in self.numbers:
                self.numbers[number] = Customer.select(Customer.id).where(
                    Customer.number == number).scalar()
            if self.numbers[number] is None:
                raise DomainError(N_("客户编号“%(value)s”不存在"), field="客户编号", value=number)
            return self.numbers[number]
        name = optional_text(name, 100, "客户名称", N_("客户名称"))
        if name is None:
            raise DomainError(N_("请填写客户编号或客户名称"), field="客户编号")
        if name not in self.names:  # a deleted customer is not looked for by name
            self.names[name] = [key for key, in Customer.select(Customer.id).where(
                Customer.name == name, Customer.status != Customer.DELETED).limit(2).tuples()]
        found = self.names[name]
        if not found:
            raise DomainError(N_("客户名称“%(value)s”不存在"), field="客户名称", value=name)
        if len(found) > 1:
            raise DomainError(N_("有多个客户名为“%(value)s”，请填写客户编号"), field="客户名称",
                              value=name)
        return found[0]


def _day(value):
    """A date as the ERP or Excel writes it: 2026-11-01, 2026/11/1, or a date-time cell."""
    match = _DAY.fullmatch(value or "")
    try:
        return datetime.date(*(int(part) for part in match.groups()[:3]))
    except (AttributeError, ValueError):
        raise DomainError(N_("日期须为 年-月-日"), field="日期") from None


def _status(value):
    status = _STATUSES.get(value) or _STATUSES.get((value or "").casefold())
    if status is None:
        raise DomainError(N_("状态须为已回款或未回款"), field="状态")
    return status


def _order_line(cells, refusals):
    """The line of a row (product, 数量, 单位, 单价), None when one of them is refused
    (each refusal recorded in ``refusals``)."""
    product, line = [], {}
    for column in ("商品名称", "型号", "批次"):
        with refusals:
            product.append(required_text(cells[column], 100, column, N_(column)))
    with refusals:
        line["quantity"] = whole_number(cells["数量"], "数量", minimum=1)
    with refusals:
        line["unit"] = required_text(cells["单位"], 20, "单位", N_("单位"))
    with refusals:
        line["price"] = _price(cells["单价"])
    if len(product) < 3 or len(line) < 3:
        return None
    return {**line, "product": tuple(product)}


def _price(text):
    if text is None:
        raise DomainError(N_("请填写%(label)s"), field="单价", label=N_("单价"))
    try:
        price = decimal_in_column(text.replace(",", ""), OrderLine.price, N_("单价"))
    except DomainError as exc:
        exc.field = "单价"  # the column, not the model's field
        raise
    if price < 0:
        raise DomainError(N_("%(label)s不能为负数"), field="单价", label=N_("单价"))
    return price


def _save_orders(orders, source=None):
    """Write the checked orders in one transaction, one import batch: new ones created,
    changed ones replaced, the others left as they are."""
    created = updated = 0
    with Order._meta.database.atomic(), erp_batch("order", source) as import_batch:
        products, added = _products([line for order in orders.values()
                                     for line in order["lines"]])
        known, lines = {}, {}
        for keys in chunked(list(orders), 500):
            known.update((order.number, order)
                         for order in Order.select().where(Order.number.in_(keys)))
        for ids in chunked([order.id for order in known.values()], 500):
            for line in (OrderLine.select().where(OrderLine.order.in_(ids))
                         .order_by(OrderLine.id)):
                lines.setdefault(line.order_id, []).append(
                    (line.product_id, line.quantity, line.unit, line.price))
        for key, fields in orders.items():
            header = {field: fields[field] for field in ORDER_HEADER}
            wanted = [(products[line["product"]], line["quantity"], line["unit"], line["price"])
                      for line in fields["lines"]]
            order = known.get(key)
            if order is None:
                order = Order.create(number=key, **header)
                created += 1
            else:
                same_header = (order.customer_id, order.date, order.address, order.status) \
                    == tuple(header.values())
                if same_header and lines.get(order.id, []) == wanted:
                    continue  # what the CRM holds already
                if not same_header:
                    for field, value in header.items():
                        setattr(order, field, value)
                    order.save()
                OrderLine.delete().where(OrderLine.order == order.id).execute()
                updated += 1
            for batch in chunked(wanted, 100):
                OrderLine.insert_many(
                    [{"order": order.id, "product": product, "quantity": quantity,
                      "unit": unit, "price": price}
                     for product, quantity, unit, price in batch]).execute()
        done = Imported(created, updated, len(orders) - created - updated, products=added)
        import_batch.finish(done)
    return done


def _products(lines):
    """{(名称, 型号, 批次): product id} of the lines' products and how many were added: an
    unknown one with the unit and price of its first line."""
    first = {}
    for line in lines:
        first.setdefault(line["product"], (line["unit"], line["price"]))
    ids, added = {}, 0
    for (name, model, batch), (unit, price) in first.items():
        key = (Product.select(Product.id).where(Product.name == name, Product.model == model,
                                                Product.batch == batch)
               .order_by(Product.id).scalar())
        if key is None:
            key = Product.create(name=name, model=model, batch=batch, unit=unit, price=price).id
            added += 1
        ids[(name, model, batch)] = key
    return ids, added
