"""审计日志: who changed what, when, from where, and from what.

One ``AuditEntry`` per event: every create, update and delete of a business record,
every workflow step, import and undo, every grant and user change, every login, logout,
failed login and lockout. An entry names who (the user, or the command line), when,
from which address, what (the table, the id and a readable label) and, for a change,
each field's value before and after (``changes``: {field: [before, after]}).

How entries are written, so that no write path escapes them:

- Saves and deletes of model instances (every form, the imports, the CLI commands, the
  demo loader) go through ``playhouse.signals``: ``BaseModel`` is a signals model, and
  the handlers below write the entry in the same transaction as the change. An update
  compares the row as stored before the save with what is saved, so only real changes
  are recorded, and nothing when nothing changed.
- Conditional updates (``update_if``: the workflow steps, 指派 …) are queries, which
  fire no signal; ``BaseModel.update_if`` records them itself (``record_update``).
- Events that are not a row's change (a login, an import batch) call ``record``.

Who and from where come from ``actor()``, which the app points at the request's user
and address (``set_actor``); outside a request (a ``flask`` command) it is the command.
``batch(...)`` tags the entries written inside it with an import batch; an import writes
its entries together (``collected()``: a few INSERTs for thousands of rows).

Secrets never enter the log: password hashes, Flask-Security's uniquifiers and tokens
are recorded as changed ("•••") without their values; Flask-Security's login tracking
columns (login count, last login …) are not recorded at all — the login entry says it.

Nobody alters the log: the model refuses to update or delete an entry, and a database
trigger refuses UPDATE (migration 0012).
"""
import contextlib
import contextvars
import datetime
import json
from decimal import Decimal

from peewee import (
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    Value,
    chunked,
)
from playhouse.signals import post_delete, post_save, pre_delete, pre_save

from .base import N_, BaseModel, DomainError, now
from .security import User

CREATE, UPDATE, DELETE, STEP = "create", "update", "delete", "step"
IMPORT, UNDO, GRANT = "import", "undo", "grant"
LOGIN, LOGOUT, LOGIN_FAILED = "login", "logout", "login_failed"
LOCKOUT, UNLOCK = "lockout", "unlock"
ACTIONS = {
    CREATE: N_("新建"), UPDATE: N_("修改"), DELETE: N_("删除记录"), STEP: N_("业务操作"),
    IMPORT: N_("导入"), UNDO: N_("撤销导入"), GRANT: N_("权限变更"),
    LOGIN: N_("登录"), LOGOUT: N_("退出登录"), LOGIN_FAILED: N_("登录失败"),
    LOCKOUT: N_("账户锁定"), UNLOCK: N_("解除锁定"),
}
# The tables whose records are audited, by the name users know them by.
ENTITIES = {
    "customer": N_("客户"), "contact": N_("联系人"), "activity": N_("交往记录"),
    "order": N_("订单"), "churn_record": N_("客户流失"), "opportunity": N_("销售机会"),
    "plan_item": N_("开发计划"), "service_request": N_("客户服务"),
    "dictionary_entry": N_("数据字典"), "product": N_("产品"), "stock": N_("库存"),
    "user": N_("用户"), "role": N_("角色"),
}
# The workflow steps (``Workflow.TRANSITIONS``) of each table, by their buttons' names.
STEPS = {
    "opportunity": {"assign": N_("指派"), "develop": N_("开发成功"), "stop": N_("终止开发")},
    "service_request": {"assign": N_("分配"), "handle": N_("服务处理"),
                        "feedback": N_("服务反馈")},
    "customer": {"remove": N_("删除客户"), "lose": N_("客户流失")},
    "churn_record": {"postpone": N_("暂缓流失"), "confirm": N_("确认流失")},
}
HIDDEN = "•••"
# Columns whose values are secrets: a change is recorded, never the value.
SECRET_FIELDS = {"password", "fs_uniquifier", "fs_token_uniquifier", "tf_totp_secret",
                 "us_totp_secrets", "fs_webauthn_user_handle"}
# Columns that change by themselves (Flask-Security's login tracking, lockout counting):
# never recorded as a change; the login, failed-login and lockout entries say it.
UNRECORDED_FIELDS = {"last_login_at", "current_login_at", "last_login_ip",
                     "current_login_ip", "login_count", "failed_logins",
                     "last_failed_login_at", "locked_until"}
LABEL_LIMIT = 200


class AuditEntry(BaseModel):
    at = DateTimeField(default=now, index=True)
    user = ForeignKeyField(User, null=True, backref="audit_entries", on_delete="SET NULL")
    username = CharField(max_length=150, null=True)  # as typed, for a failed login too
    origin = CharField(max_length=60, null=True)  # the client's address, or "flask <command>"
    action = CharField(max_length=20)
    step = CharField(max_length=30, null=True)  # the workflow step of a STEP entry
    entity = CharField(max_length=30, null=True)  # the table of the record
    entity_id = IntegerField(null=True)
    label = CharField(max_length=LABEL_LIMIT, null=True)
    changes = TextField(null=True)  # JSON {field: [before, after]}
    batch = IntegerField(null=True)  # the import batch the entry belongs to
    note = TextField(null=True)

    audited = False

    class Meta:
        indexes = ((("entity", "entity_id", "at"), False), (("user", "at"), False),
                   (("action", "at"), False), (("batch",), False))

    def save(self, *args, **kwargs):
        if self.id is not None:
            raise DomainError(N_("审计日志不能修改"))
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        raise DomainError(N_("审计日志不能删除"))

    @classmethod
    def update(cls, *args, **kwargs):
        raise DomainError(N_("审计日志不能修改"))

    @classmethod
    def delete(cls):
        raise DomainError(N_("审计日志不能删除"))

    @property
    def changed(self):
        """{field: (before, after)} of a change, empty for other entries."""
        return {field: tuple(pair) for field, pair in json.loads(self.changes or "{}").items()}

    @classmethod
    def of(cls, entity, entity_id):
        """The entries of one record, oldest first."""
        return (cls.select().where(cls.entity == entity, cls.entity_id == entity_id)
                .order_by(cls.at, cls.id))


# -- who, from where, in which batch ----------------------------------------------------

def _no_actor():
    return None, None, None


_actor = _no_actor
_batch = contextvars.ContextVar("audit_batch", default=None)
_origin = contextvars.ContextVar("audit_origin", default=None)
_collected = contextvars.ContextVar("audit_collected", default=None)
CHUNK = 500  # entries per INSERT when collected (13 columns: within SQLite's 32,766 values)


def set_actor(resolve):
    """``resolve()`` answers (user id, username, address) of whoever acts now; the app
    reads them from the request (and None outside one)."""
    global _actor
    _actor = resolve


@contextlib.contextmanager
def _setting(variable, value):
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def batch(number):
    """Tag the entries written inside with the import batch ``number``."""
    return _setting(_batch, number)


def origin(text):
    """Entries written inside, outside a request, come from ``text`` ("flask import-orders")."""
    return _setting(_origin, text)


class _Collected:
    """The entries of a ``collected`` block, and the labels of the related records they
    name, each read once."""

    def __init__(self):
        self.entries, self.labels = [], {}

    def label(self, model, key):
        if (model, key) not in self.labels:
            related = model.get_or_none(model._meta.primary_key == key)
            self.labels[model, key] = _label(related) if related is not None else str(key)
        return self.labels[model, key]


@contextlib.contextmanager
def collected():
    """Entries written inside are kept and written together when the block ends, CHUNK to
    an INSERT, in the order they were recorded (an import of thousands of rows writes its
    log in a few statements, not one per row); a related record's label is read once.
    Nothing is written if the block fails. Use it inside the transaction of the writes,
    which the entries then join; a nested block leaves the writing to the outer one."""
    if _collected.get() is not None:
        yield
        return
    gathered = _Collected()
    token = _collected.set(gathered)
    try:
        yield
    finally:
        _collected.reset(token)
    for rows in chunked(gathered.entries, CHUNK):
        AuditEntry.insert_many(rows).execute()


# -- writing entries --------------------------------------------------------------------

def record(action, obj=None, *, changes=None, entity=None, entity_id=None, label=None,
           step=None, note=None, by=None, username=None, at=None):
    """Write one entry: ``action`` on ``obj`` (or on ``entity``/``entity_id``/``label``),
    by ``by`` (a user or his id; default whoever acts now)."""
    user_id, actor_name, address = _actor()
    if by is not None:  # a user or his id
        by_id = getattr(by, "id", by)
        if by_id != user_id:
            actor_name = getattr(by, "username", None)
        user_id = by_id
    if obj is not None:
        entity, entity_id = obj._meta.table_name, obj._pk
        label = label or _label(obj)
    entry = dict(
        at=at or now(), user=user_id, username=(username or actor_name or "")[:150] or None,
        origin=(address or _origin.get() or "")[:60] or None, action=action, step=step,
        entity=entity, entity_id=entity_id, label=(label or "")[:LABEL_LIMIT] or None,
        changes=json.dumps(changes, ensure_ascii=False) if changes else None,
        batch=_batch.get(), note=note)
    gathered = _collected.get()
    if gathered is None:
        return AuditEntry.create(**entry)
    gathered.entries.append(entry)
    return None


def acting_user():
    """The id of the user acting now (None outside a request)."""
    return _actor()[0]


def record_inserted(model, rows, at=None):
    """Record, in one ``INSERT … SELECT``, the creation of the rows of ``model`` that
    ``rows`` selects as (id, label): for a set-based write (detect-churn) that no row
    of passes through Python."""
    user_id, actor_name, address = _actor()
    values = [Value(at or now()), Value(user_id), Value(actor_name),
              Value((address or _origin.get() or "")[:60] or None), Value(CREATE),
              Value(model._meta.table_name), Value(_batch.get())]
    return AuditEntry.insert_from(rows.select_extend(*values), [
        AuditEntry.entity_id, AuditEntry.label, AuditEntry.at, AuditEntry.user,
        AuditEntry.username, AuditEntry.origin, AuditEntry.action, AuditEntry.entity,
        AuditEntry.batch]).as_rowcount().execute()


def stored_row(obj):
    """The row of ``obj`` as stored now ({column: value}), locked for the update that
    follows where the database can (PostgreSQL); None when it is gone."""
    model = type(obj)
    query = model.select().where(model._meta.primary_key == obj._pk).dicts()
    if getattr(model._meta.database, "for_update", False):
        query = query.for_update()
    return query.first()


def record_update(obj, stored, fields, step=None, note=None, by=None):
    """Record the update of ``obj``'s row ``stored`` (``stored_row``) with ``fields``
    ({name or field: value}) as a change, or as the workflow ``step``."""
    changes = {}
    for key, value in fields.items():
        field = key if hasattr(key, "model") else obj._meta.fields.get(key)
        if field is None or field.name in UNRECORDED_FIELDS or _is_expression(value):
            continue  # a value the database computes (a CASE, a counter) is no one's input
        before = (stored or {}).get(field.column_name, (stored or {}).get(field.name))
        if _comparable(field, before) != _comparable(field, value):
            changes[field.name] = _pair(field, before, value)
    if changes or step:
        record(STEP if step else UPDATE, obj, changes=changes, step=step, note=note, by=by)


def _is_expression(value):
    from peewee import Node
    return isinstance(value, Node)


def _label(obj):
    try:
        return str(obj)
    except Exception:  # a label must never stop a write (a half-filled record)
        return f"#{obj._pk}"


def _comparable(field, value):
    """The value as the database holds it, so 5 and "5", 1.0 and Decimal("1.00") compare."""
    if isinstance(field, ForeignKeyField):
        return getattr(value, "id", value)
    try:
        return field.db_value(value)
    except (TypeError, ValueError, ArithmeticError):
        return value


def _text(field, value):
    """A value as the log keeps it: readable text (a related record by its label)."""
    if value is None:
        return None
    if field.name in SECRET_FIELDS:
        return HIDDEN
    if isinstance(field, ForeignKeyField):
        if isinstance(value, Model):
            return _label(value)
        gathered = _collected.get()
        if gathered is not None and field.rel_field is field.rel_model._meta.primary_key:
            return gathered.label(field.rel_model, value)
        related = field.rel_model.get_or_none(field.rel_field == value)
        return _label(related) if related is not None else str(value)
    if isinstance(value, datetime.datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, datetime.date | Decimal):
        return str(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _pair(field, before, after):
    if field.name in SECRET_FIELDS:
        return [HIDDEN, HIDDEN]
    return [_text(field, before), _text(field, after)]


def _values(obj):
    """The fields a change records: not the key, not what the database keeps itself (a
    row's copy of its customer's 客户经理: ``database_kept``)."""
    kept = getattr(obj, "database_kept", ())
    return {name: value for name, value in obj.__data__.items()
            if name in obj._meta.fields and name != obj._meta.primary_key.name
            and name not in UNRECORDED_FIELDS and name not in kept}


# -- the signals: every instance save and delete ---------------------------------------

def _audited(sender):
    return getattr(sender, "audited", False)


@pre_save()
def _before_save(sender, instance, created):
    if not _audited(sender) or created:
        return
    instance._audit_before = stored_row(instance)


@post_save()
def _after_save(sender, instance, created):
    if not _audited(sender):
        return
    fields = sender._meta.fields
    if created:
        changes = {name: _pair(fields[name], None, value)
                   for name, value in _values(instance).items() if value not in (None, "")}
        record(CREATE, instance, changes=changes)
        return
    stored = instance.__dict__.pop("_audit_before", None) or {}
    only = instance.__dict__.pop("_audit_only", None)
    written = {getattr(field, "name", field) for field in only} if only else None
    changes = {}
    for name, value in _values(instance).items():
        if written is not None and name not in written:
            continue
        field = fields[name]
        before = stored.get(field.column_name, stored.get(name))
        if _comparable(field, before) != _comparable(field, value):
            changes[name] = _pair(field, before, value)
    if changes:
        record(UPDATE, instance, changes=changes)


@pre_delete()
def _before_delete(sender, instance):
    if _audited(sender):
        instance._audit_label = _label(instance)


def deleted_changes(instance, stored=None):
    """{field: [value, None]} of a deleted record: ``stored`` ({column: value}, the row as
    it was) or the instance's values; blanks left out, secrets hidden."""
    fields = type(instance)._meta.fields
    values = _values(instance) if stored is None else {
        name: stored.get(field.column_name, stored.get(name))
        for name, field in fields.items()
        if name != instance._meta.primary_key.name and name not in UNRECORDED_FIELDS
        and name not in getattr(instance, "database_kept", ())}
    return {name: _pair(fields[name], value, None)
            for name, value in values.items() if value not in (None, "")}


@post_delete()
def _after_delete(sender, instance):
    if not _audited(sender):
        return
    record(DELETE, instance, changes=deleted_changes(instance),
           label=instance.__dict__.pop("_audit_label", None))
