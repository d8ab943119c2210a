"""Marketing (营销管理): sales opportunities and their development plans."""
from peewee import CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import N_, BaseModel, now
from .customers import Customer
from .security import User


class Opportunity(BaseModel):
    NEW, ASSIGNED, DEVELOPED, FAILED = "new", "assigned", "developed", "failed"
    STATUS = {NEW: N_("未指派"), ASSIGNED: N_("已指派"),
              DEVELOPED: N_("开发成功"), FAILED: N_("开发失败")}
    FINAL = (DEVELOPED, FAILED)

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
    assigned_at = DateTimeField(null=True)
    status = CharField(max_length=10, default=NEW, index=True)
    customer = ForeignKeyField(Customer, backref="opportunities", null=True)

    def __str__(self):
        return f"#{self.id} {self.customer_name}"

    @classmethod
    def owned_by(cls, user):
        """A 客户经理's own opportunities: created by him or assigned to him."""
        return (cls.created_by == user) | (cls.assigned_to == user)


class PlanItem(BaseModel):
    opportunity = ForeignKeyField(Opportunity, backref="plan_items", on_delete="CASCADE")
    date = DateField(index=True)
    content = CharField(max_length=500)
    result = TextField(null=True)

    @classmethod
    def owned_by(cls, user):
        mine = Opportunity.select(Opportunity.id).where(Opportunity.owned_by(user))
        return cls.opportunity.in_(mine)
