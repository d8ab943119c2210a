"""Marketing (营销管理): sales opportunities, their assignment and development plans.

An opportunity moves 未指派 → 已指派 (开发中) → 开发成功 | 开发失败; every move is a
conditional update (it happens only if the row is still in the expected status),
so two users acting on the same row at once cannot both succeed.
"""
from peewee import CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import (
    N_,
    BaseModel,
    DomainError,
    Refusals,
    now,
    optional_text,
    record_key,
    required_text,
    takes_lines,
)
from .customers import Contact, Customer
from .history import StatusChange, Workflow, transition
from .security import User


class Opportunity(Workflow, BaseModel):
    NEW, ASSIGNED, DEVELOPED, FAILED = "new", "assigned", "developed", "failed"
    STATUS = {NEW: N_("未指派"), ASSIGNED: N_("已指派"),
              DEVELOPED: N_("开发成功"), FAILED: N_("开发失败")}
    # how the development list shows them
    DEVELOPMENT_STATUS = {ASSIGNED: N_("开发中"), DEVELOPED: N_("已归档（开发成功）"),
                          FAILED: N_("已归档（开发失败）")}
    FINAL = (DEVELOPED, FAILED)

    TRANSITIONS = {
        "assign": transition(NEW, ASSIGNED, N_("“%(name)s”已被指派或已归档，不能再指派")),
        "develop": transition(ASSIGNED, DEVELOPED, N_("“%(name)s”不在开发中，不能标记开发成功")),
        "stop": transition(ASSIGNED, FAILED, N_("“%(name)s”不在开发中，不能终止开发")),
        # planning works on the plan items; the opportunity stays in development
        "plan": transition(ASSIGNED, None, N_("只有开发中的销售机会才能制定或执行计划")),
    }

    # field → (label, max length, required); the limits of SPEC.md §1.1
    TEXT_FIELDS = {
        "source": (N_("机会来源"), 50, False),
        "customer_name": (N_("客户名称"), 100, True),
        "summary": (N_("概要"), 200, True),
        "contact": (N_("联系人"), 50, False),
        "contact_phone": (N_("联系人电话"), 50, False),
        "description": (N_("机会描述"), 2000, True),
    }

    source = CharField(max_length=50, null=True)
    customer_name = CharField(max_length=100, index=True)
    probability = IntegerField()
    summary = CharField(max_length=200, index=True)
    contact = CharField(max_length=50, null=True, index=True)
    contact_phone = CharField(max_length=50, null=True)
    description = TextField()
    created_by = ForeignKeyField(User, backref="created_opportunities")
    created_at = DateTimeField(default=now, index=True)
    assigned_to = ForeignKeyField(User, backref="assigned_opportunities", null=True)
    assigned_at = DateTimeField(null=True, index=True)
    status = CharField(max_length=10, default=NEW, index=True)
    customer = ForeignKeyField(Customer, backref="opportunities", null=True)

    class Meta:
        indexes = ((("assigned_to", "status"), False),  # one user's developments (0015)
                   # the home page's oldest unassigned and longest developing (0017)
                   (("status", "created_at"), False), (("status", "assigned_at"), False))

    def __str__(self):
        return self.customer_name

    # -- the business sets ----------------------------------------------------
    @classmethod
    def owned_by(cls, user):
        """A 客户经理's own opportunities: created by him or assigned to him."""
        return (cls.created_by == user) | (cls.assigned_to == user)

    @classmethod
    def developed_by(cls, user):
        """The opportunities a 客户经理 develops: those assigned to him."""
        return cls.assigned_to == user

    @classmethod
    def unassigned(cls):
        return cls.select().where(cls.status == cls.NEW)

    @classmethod
    def in_development_or_archived(cls):
        return cls.select().where(cls.status != cls.NEW)

    @property
    def in_development(self):
        return self.status == self.ASSIGNED

    # -- creating and editing -------------------------------------------------
    def clean(self):
        """Check the fields against SPEC.md §1.1; strip texts, blank optional ones to NULL."""
        refusals = Refusals()  # every wrong field at once
        for field, (label, limit, required) in self.TEXT_FIELDS.items():
            check = required_text if required else optional_text
            with refusals:
                setattr(self, field, check(getattr(self, field), limit, field, label,
                                           multiline=takes_lines(Opportunity, field)))
        if not isinstance(self.probability, int) or isinstance(self.probability, bool) \
                or not 0 <= self.probability <= 100:
            refusals.add(N_("成功机率须为 0 到 100 之间的整数"), field="probability")
        refusals.raise_any()

    def stamp_created(self, by, at=None):
        """A new opportunity: created by ``by`` now, unassigned (nothing here is forgeable)."""
        self.created_by = by
        self.created_at = at or now()
        self.status = self.NEW
        self.assigned_to = self.assigned_at = self.customer = None

    @classmethod
    def open(cls, by, at=None, **fields):
        """Create an opportunity in 未指派 and record its first status."""
        with cls._meta.database.atomic():
            opportunity = cls(**fields)
            opportunity.stamp_created(by, at)
            opportunity.clean()
            opportunity.save(force_insert=True)
            opportunity.record_created()
        return opportunity

    def record_created(self):
        StatusChange.record(self, None, self.NEW, self.created_by, self.created_at)

    def save_unassigned(self, fields):
        """Save edits of ``fields`` only while 未指派: an assignment made meanwhile wins."""
        self.clean()
        if not self.update_if(Opportunity.status == self.NEW,
                              {f: getattr(self, f) for f in fields}):
            raise DomainError(N_("“%(name)s”已被指派，不能再修改"), name=self.customer_name)

    def delete_unassigned(self):
        """Delete this opportunity if (and only if) it is still 未指派."""
        with self._meta.database.atomic():
            if not self.delete_if(Opportunity.status == self.NEW):
                raise DomainError(N_("“%(name)s”已被指派，不能删除"), name=self.customer_name)
            StatusChange.delete().where(StatusChange.entity == self._meta.table_name,
                                        StatusChange.entity_id == self.id).execute()

    # -- the workflow ---------------------------------------------------------
    @staticmethod
    def assignable_managers():
        """Who an opportunity can be assigned to: the active users holding the 客户经理 role."""
        return User.managers()

    def assign(self, manager, by, at=None):
        """指派: to an active 客户经理; stamps 指派时间; only from 未指派."""
        at = at or now()
        manager_id = record_key(manager)
        if manager_id is None or \
                not self.assignable_managers().where(User.id == manager_id).exists():
            raise DomainError(N_("只能指派给在职的客户经理"), field="manager")
        with self._meta.database.atomic():
            self.move("assign", by, at, assigned_to=manager_id, assigned_at=at)

    def develop(self, by, at=None):
        """开发成功: the opportunity becomes a customer, all in one transaction.

        The customer is named after 客户名称, managed by the assignee, 正常, with a
        new 客户编号; the opportunity's 联系人 becomes his first contact. Returns it.
        """
        at = at or now()
        with self._meta.database.atomic():
            self.move("develop", by, at)
            customer = Customer.create_numbered(at, name=self.customer_name,
                                                manager=self.assigned_to_id,
                                                status=Customer.ACTIVE)
            if self.contact:
                Contact.create(customer=customer, name=self.contact, title="",
                               office_phone=self.contact_phone or "")
            Opportunity.update(customer=customer).where(Opportunity.id == self.id).execute()
            self.customer = customer
        return customer

    def stop(self, by, at=None):
        """终止开发: status 开发失败 (final)."""
        with self._meta.database.atomic():
            self.move("stop", by, at or now())

    def ensure_in_development(self):
        self.expect_current("plan")

    def add_plan_item(self, date, content, today):
        """制定计划: a new item; its date is today or later, its text required."""
        self.ensure_in_development()
        if date is None:
            raise DomainError(N_("请填写日期"), field="date")
        if date < today:
            raise DomainError(N_("计划日期不能早于今天"), field="date")
        content = required_text(content, PlanItem.content.max_length, "content", N_("计划项"))
        return PlanItem.create(opportunity=self, date=date, content=content)

    def history(self):
        return StatusChange.of(self)


class PlanItem(BaseModel):
    """One step of a development plan: what to do on which day, and what came of it."""

    opportunity = ForeignKeyField(Opportunity, backref="plan_items", on_delete="CASCADE")
    date = DateField(index=True)
    content = CharField(max_length=500)
    result = TextField(null=True)

    RESULT_LIMIT = 2000

    @classmethod
    def open(cls):
        """Items without an 执行效果 yet."""
        return cls.result.is_null() | (cls.result == "")

    @classmethod
    def owned_by(cls, user):
        mine = Opportunity.select(Opportunity.id).where(Opportunity.owned_by(user))
        return cls.opportunity.in_(mine)

    @classmethod
    def of(cls, opportunity):
        return cls.select().where(cls.opportunity == opportunity).order_by(cls.date, cls.id)

    def edit_content(self, content):
        """An item's text can change while the opportunity is developed; its date never."""
        self.opportunity.ensure_in_development()
        self.content = required_text(content, PlanItem.content.max_length, "content",
                                      N_("计划项"))
        self.save(only=[PlanItem.content])

    def remove(self):
        """Only an item without a result yet can be deleted."""
        self.opportunity.ensure_in_development()
        if not self.delete_if(PlanItem.open()):
            raise DomainError(N_("已有执行效果的计划项不能删除"))

    def record_result(self, result):
        """执行计划: the 执行效果 of this item (saved on its own)."""
        self.opportunity.ensure_in_development()
        self.result = required_text(result, self.RESULT_LIMIT, "result", N_("执行效果"),
                                    multiline=True)
        self.save(only=[PlanItem.result])


# the open items by date (partial: the few not executed yet, of every item ever planned):
# what is due is read from it (``models.work.plan_due``, migration 0026)
PlanItem.add_index(PlanItem.index(PlanItem.date, PlanItem.opportunity, name="plan_item_open_date",
                                  where=PlanItem.open()))
