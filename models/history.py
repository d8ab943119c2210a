"""Status moves: the one transition mechanism every workflow uses, and their record.

A model with a workflow declares its steps as data (``TRANSITIONS``: step → where it
starts, where it leads, what to say when the row is no longer there) and moves
with ``move(step, …)``, a conditional update that writes a ``StatusChange``
(who, when, from, to, and why). ``note`` is what the user wrote with the step (a
service's 服务处理 or 反馈): the object's own columns hold only the latest round,
the history keeps them all.
"""
from typing import NamedTuple

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .base import BaseModel, DomainError, now
from .security import User


class Transition(NamedTuple):
    """One workflow step: the statuses it starts from, the status(es) it leads to (None
    for a step that works on the record without moving it), and the refusal shown when
    the row is no longer where the step starts (``%(name)s`` is the record's title)."""

    source: tuple
    target: str | tuple | None
    refused: str

    @property
    def targets(self):
        return self.target if isinstance(self.target, tuple) else (self.target,)


def transition(source, target, refused):
    """A ``Transition``; ``source`` may be one status or several."""
    return Transition(source if isinstance(source, tuple) else (source,), target, refused)


class Workflow:
    """Mixin of a model whose ``status`` follows ``TRANSITIONS``.

    ``title()`` names the record in refusals (by default its ``str``).
    """

    TRANSITIONS = {}

    def title(self):
        return str(self)

    def refuse(self, name):
        raise DomainError(self.TRANSITIONS[name].refused, name=self.title())

    def expect(self, name):
        """Refuse step ``name`` early (before its form is shown) if the record, as
        loaded, is not where the step starts. Advice only: ``move`` decides."""
        if self.status not in self.TRANSITIONS[name].source:
            self.refuse(name)

    def expect_current(self, name):
        """Like ``expect``, on the row's status as stored now (for steps that do not move)."""
        model = type(self)
        current = model.select(model.status).where(model._meta.primary_key == self.get_id())
        if current.scalar() not in self.TRANSITIONS[name].source:
            self.refuse(name)

    def move(self, name, by, at=None, target=None, note=None, **fields):
        """Take step ``name`` (to ``target`` when the step has several), writing ``fields``.

        The update happens only if the row is still where the step starts, so of two
        users acting at once exactly one succeeds; the other is refused. Every move
        that changes the status is recorded.
        """
        transition = self.TRANSITIONS[name]
        target = target or transition.target
        if target is None or target not in transition.targets:
            raise ValueError(f"step {name!r} does not lead to {target!r}")
        model = type(self)
        if not self.update_if(model.status.in_(transition.source),
                              {"status": target, **fields}, step=name, note=note, by=by):
            self.refuse(name)
        if self.status != target:
            StatusChange.record(self, self.status, target, by, at, note=note)
        self.status = target
        for field, value in fields.items():
            setattr(self, field, value)


class StatusChange(BaseModel):
    audited = False  # a status move is audited as its step (update_if)

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
