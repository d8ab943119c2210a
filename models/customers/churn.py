"""客户流失: customers silent too long are warned of; the warning is postponed or confirmed."""
import calendar
import datetime

from peewee import (
    SQL,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    TextField,
    Value,
    fn,
)

from .. import audit
from ..base import N_, BaseModel, day_start, local, now, required_text
from ..history import Workflow, transition
from ..security import User
from .customer import Customer
from .orders import Order


def months_before(day, months):
    """The same day ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last_day))


class ChurnRecord(Workflow, BaseModel):
    """A customer at risk of being lost: 预警 → 暂缓流失 (repeatable) → 确认流失 (final)."""

    WARNING, POSTPONED, CONFIRMED = "warning", "postponed", "confirmed"
    STATUS = {WARNING: N_("预警"), POSTPONED: N_("暂缓流失"), CONFIRMED: N_("确认流失")}
    OPEN = (WARNING, POSTPONED)
    TRANSITIONS = {
        "postpone": transition(OPEN, POSTPONED, N_("该流失记录已确认，不能再处理")),
        "confirm": transition(OPEN, CONFIRMED, N_("该流失记录已确认，不能再处理")),
    }
    TEXT_LIMIT = 2000

    customer = ForeignKeyField(Customer, backref="churn_records", on_delete="RESTRICT")
    last_order_date = DateField(null=True, index=True)
    measures = TextField(null=True)
    reason = TextField(null=True)
    status = CharField(max_length=10, default=WARNING, index=True)
    created_at = DateTimeField(default=now, index=True)
    confirmed_at = DateTimeField(null=True, index=True)
    # the customer's 客户经理, kept by database triggers on every write path (migration
    # 0024, as 0021 keeps an order's): never written here
    manager = ForeignKeyField(User, backref="+", null=True, index=False, on_delete="RESTRICT")
    database_kept = ("manager",)  # not the audit log's to record either

    class Meta:
        indexes = ((("manager", "status"), False),)  # a 客户经理's records (0024)

    def __str__(self):
        return f"#{self.id} {self.customer.name}"

    # "own" is the 客户经理 of the record this key leads to (a list joining that record
    # may ask it there: admin_views.base.RelatedSort)
    owner_key = "customer"

    @classmethod
    def owned_by(cls, user):
        """A 客户经理's churn records are those of the customers he manages."""
        return cls.manager == user  # his customer's, kept by triggers (migration 0024)

    @classmethod
    def detect(cls, today, months=6, at=None):
        """Open a 预警 for every 正常 customer silent for more than ``months`` months.

        Silent: his last order is older than the cutoff, or he never ordered and
        was created before it. A customer with an open record gets no second one.
        ``today`` is the company's date (``local_today()``), the cutoff a company day.
        One ``INSERT … SELECT``: the database finds and writes them all, whatever their
        number, without a row passing through Python. Returns how many were opened.
        """
        cutoff = months_before(today, months)
        # Per customer, through the (customer_id, date) index: one look-up each.
        orders = Order.select(SQL("1")).where(Order.customer == Customer.id)
        last_order = Order.select(fn.MAX(Order.date)).where(Order.customer == Customer.id)
        open_records = cls.select(cls.customer).where(cls.status.in_(cls.OPEN))
        silent = (Customer.select(Customer.id, Customer.manager, last_order, Value(cls.WARNING),
                                  Value(at or now()))
                  .where(Customer.status == Customer.ACTIVE,
                         Customer.id.not_in(open_records),
                         # no order since the cutoff: his last one is older, or he has none
                         ~fn.EXISTS(orders.where(Order.date >= cutoff)),
                         # and if none, he was created before the cutoff
                         fn.EXISTS(orders) | (Customer.created_at < day_start(cutoff)))
                  .order_by(Customer.id))
        with cls._meta.database.atomic():
            before = cls.select(fn.MAX(cls.id)).scalar() or 0
            # the manager written with the row, as its trigger would: no second write
            opened = cls.insert_from(silent, [cls.customer, cls.manager, cls.last_order_date,
                                              cls.status, cls.created_at]).as_rowcount().execute()
            audit.record_inserted(cls, cls.select(cls.id, Customer.name).join(Customer)
                                  .where(cls.id > before), at)
            return opened

    def postpone(self, measure, by, at=None):
        """暂缓流失: append a dated, signed measure to the earlier ones; can be repeated."""
        at = at or now()
        text = required_text(measure, self.TEXT_LIMIT, "measure", N_("追加暂缓措施"),
                             multiline=True)
        author = by if isinstance(by, User) else User.get_by_id(by)
        entry = f"{local(at):%Y-%m-%d %H:%M} {author}：{text}"  # the company's clock
        with self._meta.database.atomic():
            current = ChurnRecord.select(ChurnRecord.measures) \
                .where(ChurnRecord.id == self.id).scalar()
            measures = f"{current}\n{entry}" if current else entry
            self.move("postpone", by, at, measures=measures)

    def confirm(self, reason, by, at=None):
        """确认流失: the reason is required; stamps the time; the customer becomes 流失."""
        at = at or now()
        text = required_text(reason, self.TEXT_LIMIT, "reason", N_("流失原因"), multiline=True)
        with self._meta.database.atomic():
            self.move("confirm", by, at, reason=text, confirmed_at=at)
            customer = Customer.get_by_id(self.customer_id)
            if customer.status == Customer.ACTIVE:
                customer.move("lose", by, at)

    def measure_list(self):
        """The earlier measures, oldest first."""
        return [line for line in (self.measures or "").split("\n") if line.strip()]

