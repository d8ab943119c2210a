"""Customer service (服务管理): requests created, assigned, handled, fed back, archived.

A service moves 新创建 → 已分配 → 已处理 → 已归档; a feedback with a 满意度 below 3
sends it back to 已分配 (the same assignee) to be handled again. Every move is a
conditional update (it happens only if the row is still in the expected status),
so two users acting on the same service at once cannot both succeed, and every
move writes a ``StatusChange``. The row's own columns hold the latest 服务处理 and
反馈; the ``note`` of each status change keeps every round.
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import N_, BaseModel, DomainError, Refusals, now, record_key, required_text
from .basedata import SERVICE_TYPE, DictionaryEntry
from .customers import Customer
from .history import StatusChange, Workflow, transition
from .security import User

STAR = "☆"  # 满意度 is shown as ☆ to ☆☆☆☆☆


class ServiceRequest(Workflow, BaseModel):
    NEW, ASSIGNED, HANDLED, ARCHIVED = "new", "assigned", "handled", "archived"
    STATUS = {NEW: N_("新创建"), ASSIGNED: N_("已分配"),
              HANDLED: N_("已处理"), ARCHIVED: N_("已归档")}
    SATISFIED = 3  # a feedback from this 满意度 up archives the service
    TEXT_LIMIT = 2000  # 服务请求, 服务处理, 处理结果

    TRANSITIONS = {
        "assign": transition(NEW, ASSIGNED, N_("服务“%(name)s”已被分配或已删除，不能再分配")),
        "handle": transition(ASSIGNED, HANDLED, N_("服务“%(name)s”不是已分配状态，不能处理")),
        # satisfied: archived; not: back to its assignee
        "feedback": transition(HANDLED, (ARCHIVED, ASSIGNED),
                         N_("服务“%(name)s”不是已处理状态，不能反馈")),
        "delete": transition(NEW, None, N_("服务“%(name)s”已被分配，不能删除")),
    }

    service_type = CharField(max_length=20, index=True)
    summary = CharField(max_length=200, index=True)
    customer = ForeignKeyField(Customer, backref="services", on_delete="RESTRICT")
    status = CharField(max_length=10, default=NEW, index=True)
    request = TextField()
    created_by = ForeignKeyField(User, backref="created_services", index=False)
    created_at = DateTimeField(default=now, index=True)
    assigned_to = ForeignKeyField(User, backref="assigned_services", null=True, index=False)
    assigned_at = DateTimeField(null=True)
    handling = TextField(null=True)
    handled_by = ForeignKeyField(User, backref="handled_services", null=True)
    handled_at = DateTimeField(null=True)
    result = TextField(null=True)
    satisfaction = IntegerField(null=True)

    class Meta:
        # the home page's average 满意度 of a period (0011); a status's list in 创建时间
        # order (0019); a 客户经理's own of one status (created by him or assigned to him)
        # in 创建时间 order, and one user's open services, from the index alone (0025)
        indexes = ((("created_at", "satisfaction"), False), (("status", "created_at"), False),
                   (("created_by", "status", "created_at"), False),
                   (("assigned_to", "status", "created_at"), False))

    def __str__(self):
        return f"#{self.id} {self.summary}"

    def title(self):
        return self.summary

    # -- the business sets ----------------------------------------------------
    @classmethod
    def owned_by(cls, user):
        """A 客户经理's own services: created by him or assigned to him."""
        return (cls.created_by == user) | (cls.assigned_to == user)

    @classmethod
    def assigned_to_user(cls, user):
        """The services a 客户经理 handles: those assigned to him."""
        return cls.assigned_to == user

    @classmethod
    def in_status(cls, status=None):
        query = cls.select()
        return query.where(cls.status == status) if status else query

    @staticmethod
    def assignable_managers():
        """Who a service can be assigned to: the active 客户经理 (as for opportunities)."""
        return User.managers()

    # -- 服务创建 --------------------------------------------------------------
    def clean(self):
        """服务类型 a current dictionary item; 概要 ≤200 and 服务请求 required; a 正常 客户."""
        refusals = Refusals()  # every wrong field at once
        if self.service_type not in DictionaryEntry.items(SERVICE_TYPE):
            refusals.add(N_("请选择服务类型"), field="service_type")
        with refusals:
            self.summary = required_text(self.summary, ServiceRequest.summary.max_length,
                                         "summary", N_("概要"))
        customer_id = record_key(self.__data__.get("customer"))
        customer = Customer.get_or_none(Customer.id == customer_id) \
            if customer_id is not None else None
        if customer is None:
            refusals.add(N_("请选择客户"), field="customer")
        elif customer.status != Customer.ACTIVE:
            refusals.add(N_("客户“%(name)s”不是正常状态，不能为其创建服务"),
                         field="customer", name=customer.name)
        with refusals:
            self.request = required_text(self.request, self.TEXT_LIMIT, "request",
                                         N_("服务请求"), multiline=True)
        refusals.raise_any()

    def stamp_created(self, by, at=None):
        """A new service: created by ``by`` now, 新创建, no later stamp (nothing is forgeable)."""
        self.created_by = by
        self.created_at = at or now()
        self.status = self.NEW
        self.assigned_to = self.assigned_at = None
        self.handling = self.handled_by = self.handled_at = None
        self.result = self.satisfaction = None

    @classmethod
    def open(cls, by, at=None, **fields):
        """服务创建: a checked service in 新创建, its creation recorded (— → 新创建)."""
        with cls._meta.database.atomic():
            service = cls(**fields)
            service.stamp_created(by, at)
            service.clean()
            service.save(force_insert=True)
            StatusChange.record(service, None, cls.NEW, service.created_by, service.created_at)
        return service

    def delete_new(self):
        """Only a 新创建 service can be deleted; its own status rows go with it."""
        with self._meta.database.atomic():
            if not self.delete_if(ServiceRequest.status.in_(self.TRANSITIONS["delete"].source)):
                self.refuse("delete")
            # SQLite may hand the id to the next service, which must not inherit this history.
            StatusChange.delete().where(StatusChange.entity == self._meta.table_name,
                                        StatusChange.entity_id == self.id).execute()

    # -- the workflow ---------------------------------------------------------
    def assign(self, manager, by, at=None):
        """服务分配: only a 新创建 service, only to an active 客户经理; stamps 分配时间."""
        at = at or now()
        manager_id = record_key(manager)
        if manager_id is None or \
                not self.assignable_managers().where(User.id == manager_id).exists():
            raise DomainError(N_("只能分配给在职的客户经理"), field="manager")
        with self._meta.database.atomic():
            self.move("assign", by, at, assigned_to=manager_id, assigned_at=at)

    def handle(self, text, by, at=None):
        """服务处理: the text is required, 处理人 and 处理时间 are stamped; 已分配 → 已处理.

        The previous round's 反馈 is cleared from the row (the history keeps it): a
        service waiting for feedback has none yet.
        """
        at = at or now()
        text = required_text(text, self.TEXT_LIMIT, "handling", N_("服务处理"), multiline=True)
        with self._meta.database.atomic():
            self.move("handle", by, at, note=text, handling=text,
                      handled_by=record_key(by), handled_at=at, result=None, satisfaction=None)

    def record_feedback(self, result, satisfaction, by, at=None):
        """服务反馈: 处理结果 required, 满意度 1–5; ≥3 → 已归档, <3 → 已分配 (same assignee)."""
        at = at or now()
        text = required_text(result, self.TEXT_LIMIT, "result", N_("处理结果"), multiline=True)
        if not isinstance(satisfaction, int) or isinstance(satisfaction, bool) \
                or not 1 <= satisfaction <= 5:
            raise DomainError(N_("%(label)s须为 1 到 5 星"), field="satisfaction",
                              label=N_("满意度"))
        # Back to 已分配 keeps assigned_to as it is: the same assignee handles it again.
        target = self.ARCHIVED if satisfaction >= self.SATISFIED else self.ASSIGNED
        with self._meta.database.atomic():
            self.move("feedback", by, at, target=target,
                      note=feedback_note(text, satisfaction), result=text,
                      satisfaction=satisfaction)

    # -- the history ----------------------------------------------------------
    def history(self):
        """Every step, oldest first, each with what was written: ``kind`` is 'handling'
        (``text``) or 'feedback' (``text`` = 处理结果, ``satisfaction``) or None."""
        steps = list(StatusChange.of(self))
        for step in steps:
            step.kind, step.text, step.satisfaction = None, step.note, None
            if step.note is None:
                continue
            if step.to_status == self.HANDLED:
                step.kind = "handling"
            elif step.from_status == self.HANDLED:
                step.kind = "feedback"
                step.satisfaction, step.text = read_feedback(step.note)
        return steps


def feedback_note(result, satisfaction):
    """A feedback as one note: its 满意度 in stars, a space, its 处理结果.

    Stars, as the screens show 满意度, read the same in every language and in any
    generic view of the history.
    """
    return f"{STAR * satisfaction} {result}"


def read_feedback(note):
    """(满意度, 处理结果) of a note written by ``feedback_note``; (None, note) otherwise."""
    stars, _, text = note.partition(" ")
    if stars and set(stars) == {STAR} and len(stars) <= 5:
        return len(stars), text
    return None, note
