"""The record of every status change of a business object (who, when, from, to, and why).

``note`` is what the user wrote with the step (a service's 服务处理 or 反馈): the
object's own columns hold only the latest round, the history keeps them all.
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel, now
from .security import User


class StatusChange(BaseModel):
    entity = CharField(max_length=30)
    entity_id = IntegerField()
    from_status = CharField(max_length=12, null=True)
    to_status = CharField(max_length=12)
    changed_by = ForeignKeyField(User, backref="status_changes")
    changed_at = DateTimeField(default=now)
    note = TextField(null=True)

    class Meta:
        indexes = ((("entity", "entity_id", "changed_at"), False),)

    @classmethod
    def record(cls, obj, from_status, to_status, by, at=None, note=None):
        return cls.create(entity=obj._meta.table_name, entity_id=obj.id,
                          from_status=from_status, to_status=to_status,
                          changed_by=by, changed_at=at or now(), note=note)

    @classmethod
    def of(cls, obj):
        """The history of one object, oldest first."""
        return (cls.select(cls, User).join(User)
                .where(cls.entity == obj._meta.table_name, cls.entity_id == obj.id)
                .order_by(cls.changed_at, cls.id))
