"""Customers (客户管理): customers, contacts, interaction records, orders and churn.

Orders and their lines come from the company's ERP by import; the CRM shows
them and never edits them.
"""
import calendar
import datetime
from decimal import Decimal

from peewee import (JOIN, CharField, DateField, DateTimeField, DecimalField, ForeignKeyField,
                    IntegerField, IntegrityError, TextField, fn)

from .base import N_, BaseModel, DomainError, now, optional_text, required_text
from .basedata import CUSTOMER_LEVEL, REGION, DictionaryEntry, Product
from .history import StatusChange
from .security import User


class Customer(BaseModel):
    ACTIVE, LOST, DELETED = "active", "lost", "deleted"
    STATUS = {ACTIVE: N_("正常"), LOST: N_("流失"), DELETED: N_("删除")}

    number = CharField(max_length=20, unique=True)
    name = CharField(max_length=100, index=True)
    region = CharField(max_length=50, null=True, index=True)
    manager = ForeignKeyField(User, backref="customers", on_delete="RESTRICT")
    level = IntegerField(null=True, index=True)
    satisfaction = IntegerField(null=True, index=True)
    credit = IntegerField(null=True, index=True)
    address = CharField(max_length=300, null=True)
    zip_code = CharField(max_length=10, null=True)
    phone = CharField(max_length=50, null=True)
    fax = CharField(max_length=50, null=True)
    website = CharField(max_length=100, null=True)
    license_no = CharField(max_length=50, null=True)
    legal_person = CharField(max_length=50, null=True)
    registered_capital = DecimalField(max_digits=14, decimal_places=2, null=True)
    annual_revenue = DecimalField(max_digits=16, decimal_places=2, null=True)
    bank = CharField(max_length=100, null=True)
    bank_account = CharField(max_length=50, null=True)
    local_tax_no = CharField(max_length=50, null=True)
    national_tax_no = CharField(max_length=50, null=True)
    status = CharField(max_length=10, default=ACTIVE, index=True)
    created_at = DateTimeField(default=now, index=True)

    # field → (label, max length) of SPEC.md §2.1; * fields are required
    REQUIRED_TEXT = {"name": (N_("名称"), 100), "address": (N_("地址"), 300),
                     "zip_code": (N_("邮政编码"), 10), "phone": (N_("电话"), 50),
                     "fax": (N_("传真"), 50), "website": (N_("网址"), 100),
                     "legal_person": (N_("法人"), 50), "bank": (N_("开户银行"), 100),
                     "bank_account": (N_("银行帐号"), 50)}
    OPTIONAL_TEXT = {"license_no": (N_("营业执照注册号"), 50),
                     "local_tax_no": (N_("地税登记号"), 50),
                     "national_tax_no": (N_("国税登记号"), 50)}
    RATINGS = {"satisfaction": N_("客户满意度"), "credit": N_("客户信用度")}
    AMOUNTS = {"registered_capital": N_("注册资金（万元）"), "annual_revenue": N_("年营业额")}

    def __str__(self):
        return f"{self.number} {self.name}"

    def clean(self):
        """Check the fields against SPEC.md §2.1 (the dictionary gives 地区 and 客户等级)."""
        for field, (label, limit) in self.REQUIRED_TEXT.items():
            setattr(self, field, required_text(getattr(self, field), limit, field, label))
        for field, (label, limit) in self.OPTIONAL_TEXT.items():
            setattr(self, field, optional_text(getattr(self, field), limit, field, label))
        if self.region not in DictionaryEntry.items(REGION):
            raise DomainError(N_("请选择地区"), field="region")
        if str(self.level) not in {e.value for e in DictionaryEntry.of(CUSTOMER_LEVEL)}:
            raise DomainError(N_("请选择客户等级"), field="level")
        for field, label in self.RATINGS.items():
            if getattr(self, field) not in (1, 2, 3, 4, 5):
                raise DomainError(N_("%(label)s须为 1 到 5 星"), field=field, label=label)
        for field, label in self.AMOUNTS.items():
            value = getattr(self, field)
            if value is not None and value < 0:
                raise DomainError(N_("%(label)s不能为负数"), field=field, label=label)
        if not User.managers().where(User.id == self.manager_id).exists():
            raise DomainError(N_("客户经理须为在职的客户经理"), field="manager")

    def save_active(self, fields):
        """Save edits of ``fields`` only while the customer is 正常 (not lost or deleted)."""
        self.clean()
        if not self.update_if(Customer.status == self.ACTIVE,
                              {f: getattr(self, f) for f in fields}):
            raise DomainError(N_("客户“%(name)s”已流失或已删除，不能修改"), name=self.name)

    def remove(self, by, at=None):
        """删除 is logical: the customer becomes 删除 and all his history stays."""
        at = at or now()
        with self._meta.database.atomic():
            if not self.update_if(Customer.status == self.ACTIVE, {"status": self.DELETED}):
                raise DomainError(N_("客户“%(name)s”已流失或已删除"), name=self.name)
            StatusChange.record(self, self.ACTIVE, self.DELETED, by, at)
        self.status = self.DELETED

    @classmethod
    def owned_by(cls, user):
        """A 客户经理's own customers are those he manages."""
        return cls.manager == user

    @classmethod
    def active(cls):
        return cls.select().where(cls.status == cls.ACTIVE)

    @classmethod
    def number_prefix(cls, day):
        return "KH" + day.strftime("%y%m%d")

    @classmethod
    def next_number(cls, day):
        """客户编号 = KH + yyMMdd + the day's 3-digit sequence, never reused."""
        prefix = cls.number_prefix(day)
        # BETWEEN, not LIKE: PostgreSQL's ILIKE would scan the table instead of the index.
        last = (cls.select(fn.MAX(cls.number))
                .where(cls.number.between(prefix + "000", prefix + "999")).scalar())
        seq = int(last[len(prefix):]) + 1 if last else 1
        if seq > 999:
            raise DomainError(N_("今天的客户编号已用完（每天最多 999 个）"))
        return f"{prefix}{seq:03d}"

    @classmethod
    def create_numbered(cls, at, attempts=20, **fields):
        """Create a customer under the next free number of ``at``'s day.

        Two transactions numbering at the same moment may pick the same number;
        the unique index refuses the second, which takes the next one (each try
        in its own savepoint, so the surrounding transaction survives).
        """
        for _ in range(attempts):
            number = cls.next_number(at.date())
            try:
                with cls._meta.database.atomic():
                    return cls.create(number=number, created_at=at, **fields)
            except IntegrityError:
                if not cls.select().where(cls.number == number).exists():
                    raise
        raise DomainError(N_("客户编号分配繁忙，请重试"))


class ImportRefused(DomainError):
    """An import with bad rows: ``errors`` lists (row number, message, params); nothing is saved."""

    def __init__(self, errors, message=N_("导入失败：%(count)d 行有误，未导入任何客户")):
        super().__init__(message, count=len(errors))
        self.errors = errors


# The columns of an import file: header → field (the labels users know, as in exports).
IMPORT_COLUMNS = {
    "名称": "name", "地区": "region", "客户经理": "manager", "客户等级": "level",
    "客户满意度": "satisfaction", "客户信用度": "credit", "地址": "address",
    "邮政编码": "zip_code", "电话": "phone", "传真": "fax", "网址": "website",
    "营业执照注册号": "license_no", "法人": "legal_person", "注册资金（万元）": "registered_capital",
    "年营业额": "annual_revenue", "开户银行": "bank", "银行帐号": "bank_account",
    "地税登记号": "local_tax_no", "国税登记号": "national_tax_no",
}


def import_customers(rows, at=None):
    """Create customers from imported rows (dicts keyed by IMPORT_COLUMNS' headers).

    All or nothing: every row is checked like an edited customer; if any row is
    wrong, nothing is saved and every wrong row is reported. 客户经理 is given by
    用户名 or 姓名, 客户等级 by name or value, ratings as 1–5 or ☆…; each
    customer gets the next 客户编号 of the import day.
    """
    at = at or now()
    managers = {}
    for user in User.managers():
        managers[user.username] = managers[user.full_name] = user.id
    levels = {}
    for entry in DictionaryEntry.of(CUSTOMER_LEVEL):
        levels[entry.item] = levels[entry.value] = int(entry.value)
    errors, created = [], []
    with Customer._meta.database.atomic() as transaction:
        for number, row in enumerate(rows, start=2):  # row 1 holds the headers
            fields = {field: _cell(row.get(header)) for header, field in IMPORT_COLUMNS.items()}
            try:
                customer = Customer(**{**fields, "manager": managers.get(fields["manager"]),
                                       "level": levels.get(fields["level"]),
                                       "satisfaction": _rating(fields["satisfaction"]),
                                       "credit": _rating(fields["credit"]),
                                       "registered_capital": _amount(
                                           fields["registered_capital"], "registered_capital"),
                                       "annual_revenue": _amount(fields["annual_revenue"],
                                                                 "annual_revenue")})
                customer.clean()
                created.append(Customer.create_numbered(
                    at, **{f: getattr(customer, f) for f in IMPORT_COLUMNS.values()}))
            except DomainError as exc:
                errors.append((number, exc.message, exc.params))
        if errors:
            transaction.rollback()
            raise ImportRefused(errors)
    return created


def _cell(value):
    return str(value).strip() if value is not None and str(value).strip() else None


def _rating(value):
    if value and set(value) == {"☆"}:
        return len(value)
    return int(value) if value and value.isdigit() else None


def _amount(value, field):
    if value is None:
        return None
    try:
        return Decimal(value.replace(",", ""))
    except ArithmeticError:
        raise DomainError(N_("%(label)s须为数字"), field=field,
                          label=Customer.AMOUNTS[field]) from None


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
        cells = {header: _cell(row.get(header)) for header in ORDER_COLUMNS}
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


def customers_of(user):
    """Sub-select of the ids of the customers ``user`` manages."""
    return Customer.select(Customer.id).where(Customer.manager == user)


class Contact(BaseModel):
    MALE, FEMALE = "M", "F"
    GENDER = {MALE: N_("男"), FEMALE: N_("女")}

    customer = ForeignKeyField(Customer, backref="contacts", on_delete="RESTRICT")
    name = CharField(max_length=50, index=True)
    gender = CharField(max_length=1, default=MALE)
    title = CharField(max_length=50)
    office_phone = CharField(max_length=50)
    mobile = CharField(max_length=50, null=True)
    note = CharField(max_length=300, null=True)

    def __str__(self):
        return self.name

    @classmethod
    def owned_by(cls, user):
        return cls.customer.in_(customers_of(user))


class Activity(BaseModel):
    """A 交往记录: a meeting, call or visit with the customer."""

    customer = ForeignKeyField(Customer, backref="activities", on_delete="RESTRICT")
    date = DateField(index=True)
    place = CharField(max_length=100)
    summary = CharField(max_length=200, index=True)
    detail = TextField(null=True)
    note = CharField(max_length=300, null=True)

    @classmethod
    def owned_by(cls, user):
        return cls.customer.in_(customers_of(user))


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


def months_before(day, months):
    """The same day ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last_day))


class ChurnRecord(BaseModel):
    """A customer at risk of being lost: 预警 → 暂缓流失 (repeatable) → 确认流失 (final)."""

    WARNING, POSTPONED, CONFIRMED = "warning", "postponed", "confirmed"
    STATUS = {WARNING: N_("预警"), POSTPONED: N_("暂缓流失"), CONFIRMED: N_("确认流失")}
    OPEN = (WARNING, POSTPONED)
    TEXT_LIMIT = 2000

    customer = ForeignKeyField(Customer, backref="churn_records", on_delete="RESTRICT")
    last_order_date = DateField(null=True, index=True)
    measures = TextField(null=True)
    reason = TextField(null=True)
    status = CharField(max_length=10, default=WARNING, index=True)
    created_at = DateTimeField(default=now, index=True)
    confirmed_at = DateTimeField(null=True, index=True)

    def __str__(self):
        return f"#{self.id} {self.customer.name}"

    @classmethod
    def owned_by(cls, user):
        """A 客户经理's churn records are those of the customers he manages."""
        return cls.customer.in_(customers_of(user))

    @classmethod
    def detect(cls, today, months=6, at=None):
        """Open a 预警 for every 正常 customer silent for more than ``months`` months.

        Silent: his last order is older than the cutoff, or he never ordered and
        was created before it. A customer with an open record gets no second one.
        Returns the records created.
        """
        cutoff = months_before(today, months)
        last_order = (Order.select(Order.customer, fn.MAX(Order.date).alias("last"))
                      .group_by(Order.customer).alias("last_order"))
        open_records = cls.select(cls.customer).where(cls.status.in_(cls.OPEN))
        silent = (Customer.select(Customer.id, last_order.c.last)
                  .join(last_order, JOIN.LEFT_OUTER,
                        on=(last_order.c.customer_id == Customer.id))
                  .where(Customer.status == Customer.ACTIVE,
                         Customer.id.not_in(open_records),
                         (last_order.c.last < cutoff) |
                         (last_order.c.last.is_null() &
                          (Customer.created_at < datetime.datetime.combine(cutoff,
                                                                           datetime.time()))))
                  .order_by(Customer.id).tuples())
        at = at or now()
        with cls._meta.database.atomic():
            return [cls.create(customer=customer_id, last_order_date=_as_date(last),
                               status=cls.WARNING, created_at=at)
                    for customer_id, last in silent]

    def _move(self, to_status, by, at, **fields):
        """Change an open record (conditional: a record confirmed meanwhile stays so)."""
        if not self.update_if(ChurnRecord.status.in_(self.OPEN), {"status": to_status, **fields}):
            raise DomainError(N_("该流失记录已确认，不能再处理"))
        if self.status != to_status:
            StatusChange.record(self, self.status, to_status, by, at)
        self.status = to_status
        for name, value in fields.items():
            setattr(self, name, value)

    def postpone(self, measure, by, at=None):
        """暂缓流失: append a dated, signed measure to the earlier ones; can be repeated."""
        at = at or now()
        text = required_text(measure, self.TEXT_LIMIT, "measure", N_("追加暂缓措施"))
        author = by if isinstance(by, User) else User.get_by_id(by)
        entry = f"{at:%Y-%m-%d %H:%M} {author}：{text}"
        with self._meta.database.atomic():
            current = ChurnRecord.select(ChurnRecord.measures) \
                .where(ChurnRecord.id == self.id).scalar()
            measures = f"{current}\n{entry}" if current else entry
            self._move(self.POSTPONED, by, at, measures=measures)

    def confirm(self, reason, by, at=None):
        """确认流失: the reason is required; stamps the time; the customer becomes 流失."""
        at = at or now()
        text = required_text(reason, self.TEXT_LIMIT, "reason", N_("流失原因"))
        with self._meta.database.atomic():
            self._move(self.CONFIRMED, by, at, reason=text, confirmed_at=at)
            customer = Customer.get_by_id(self.customer_id)
            if customer.status == Customer.ACTIVE:
                Customer.update(status=Customer.LOST).where(Customer.id == customer.id).execute()
                StatusChange.record(customer, Customer.ACTIVE, Customer.LOST, by, at)

    def measure_list(self):
        """The earlier measures, oldest first."""
        return [line for line in (self.measures or "").split("\n") if line.strip()]


def _as_date(value):
    """A MAX(date) as a date (SQLite answers with text)."""
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value)[:10])
