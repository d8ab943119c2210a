"""Customer service (服务管理): requests created, assigned, handled, fed back, archived."""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import N_, BaseModel, now
from .customers import Customer
from .security import User


class ServiceRequest(BaseModel):
    NEW, ASSIGNED, HANDLED, ARCHIVED = "new", "assigned", "handled", "archived"
    STATUS = {NEW: N_("新创建"), ASSIGNED: N_("已分配"),
              HANDLED: N_("已处理"), ARCHIVED: N_("已归档")}

    service_type = CharField(max_length=20, index=True)
    summary = CharField(max_length=200, index=True)
    customer = ForeignKeyField(Customer, backref="services", on_delete="RESTRICT")
    status = CharField(max_length=10, default=NEW, index=True)
    request = TextField()
    created_by = ForeignKeyField(User, backref="created_services")
    created_at = DateTimeField(default=now, index=True)
    assigned_to = ForeignKeyField(User, backref="assigned_services", null=True)
    assigned_at = DateTimeField(null=True)
    handling = TextField(null=True)
    handled_by = ForeignKeyField(User, backref="handled_services", null=True)
    handled_at = DateTimeField(null=True)
    result = TextField(null=True)
    satisfaction = IntegerField(null=True)

    def __str__(self):
        return f"#{self.id} {self.summary}"

    @classmethod
    def owned_by(cls, user):
        """A 客户经理's own services: created by him or assigned to him."""
        return (cls.created_by == user) | (cls.assigned_to == user)
