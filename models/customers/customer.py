"""客户信息: the customer, his 客户编号, editing and logical deletion."""
from peewee import (
    CharField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    IntegrityError,
    fn,
)

from ..base import (
    N_,
    BaseModel,
    DomainError,
    Refusals,
    check_texts,
    decimal_in_column,
    local,
    now,
    record_key,
)
from ..basedata import CUSTOMER_LEVEL, REGION, DictionaryEntry
from ..history import Workflow, transition
from ..security import User


class Customer(Workflow, BaseModel):
    ACTIVE, LOST, DELETED = "active", "lost", "deleted"
    STATUS = {ACTIVE: N_("正常"), LOST: N_("流失"), DELETED: N_("删除")}
    TRANSITIONS = {
        "remove": transition(ACTIVE, DELETED, N_("客户“%(name)s”已流失或已删除")),
        "lose": transition(ACTIVE, LOST, N_("客户“%(name)s”已流失或已删除")),
    }

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

    class Meta:
        # 客户构成分析 counts the 正常 customers per measure from these (migration 0009);
        # the list of one 客户等级 pages in 客户编号 order from the first (0020)
        indexes = ((("status", "level", "number"), False), (("status", "credit"), False),
                   (("status", "satisfaction"), False),
                   # a 客户经理's customers of a 状态 in 客户编号 order: his list (0017)
                   (("manager", "status", "number"), False),
                   # ... of any 状态: his orders sorted by 客户 are walked from it (0021)
                   (("manager", "number"), False))

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

    def title(self):
        return self.name

    def clean(self, known=None):
        """Check the fields against SPEC.md §2.1 (the dictionary gives 地区 and 客户等级);
        every wrong field is reported at once (``DomainErrors``).

        ``known`` may hold what the check reads from the database — ``region_set``,
        ``level_values`` (as text) and ``manager_ids`` (the 在职 客户经理) — read once for
        many customers (an import's rows); by default it is read here."""
        refusals = Refusals()
        check_texts(self, refusals, self.REQUIRED_TEXT, self.OPTIONAL_TEXT)
        regions = known.region_set if known else DictionaryEntry.items(REGION)
        if self.region not in regions:
            refusals.add(N_("请选择地区"), field="region")
        levels = known.level_values if known else {
            e.value for e in DictionaryEntry.of(CUSTOMER_LEVEL)}
        if str(self.level) not in levels:
            refusals.add(N_("请选择客户等级"), field="level")
        for field, label in self.RATINGS.items():
            if getattr(self, field) not in (1, 2, 3, 4, 5):
                refusals.add(N_("%(label)s须为 1 到 5 星"), field=field, label=label)
        for field, label in self.AMOUNTS.items():
            with refusals:  # a finite number the column holds (no NaN, no 1e20), not negative
                value = decimal_in_column(getattr(self, field), self._meta.fields[field], label)
                if value is not None and value < 0:
                    refusals.add(N_("%(label)s不能为负数"), field=field, label=label)
                setattr(self, field, value)
        manager_id = record_key(self.__data__.get("manager"))
        if manager_id is None or not (manager_id in known.manager_ids if known else
                                      User.managers().where(User.id == manager_id).exists()):
            refusals.add(N_("客户经理须为在职的客户经理"), field="manager")
        refusals.raise_any()

    def save_active(self, fields, known=None):
        """Save edits of ``fields`` only while the customer is 正常 (not lost or deleted);
        ``known``: what ``clean`` checks against, when the caller read it already."""
        self.clean(known)
        if not self.update_if(Customer.status == self.ACTIVE,
                              {f: getattr(self, f) for f in fields}):
            raise DomainError(N_("客户“%(name)s”已流失或已删除，不能修改"), name=self.name)

    def remove(self, by, at=None):
        """删除 is logical: the customer becomes 删除 and all his history stays."""
        with self._meta.database.atomic():
            self.move("remove", by, at or now())

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
        """Create a customer under the next free number of ``at``'s day (the company's
        day: a customer made at 01:30 Beijing time is numbered by that day, whatever
        UTC says).

        Two transactions numbering at the same moment may pick the same number;
        the unique index refuses the second, which takes the next one (each try
        in its own savepoint, so the surrounding transaction survives).
        """
        for _ in range(attempts):
            number = cls.next_number(local(at).date())
            try:
                with cls._meta.database.atomic():
                    return cls.create(number=number, created_at=at, **fields)
            except IntegrityError:
                if not cls.select().where(cls.number == number).exists():
                    raise
        raise DomainError(N_("客户编号分配繁忙，请重试"))


def customers_of(user):
    """Sub-select of the ids of the customers ``user`` manages."""
    return Customer.select(Customer.id).where(Customer.manager == user)
