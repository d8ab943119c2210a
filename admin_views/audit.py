"""审计日志 (权限管理): the log (models/audit.py), filtered and exported, read only; and
each record's own history on its 查看 page.

A change is shown field by field as 标签：前 → 后, the field named as the record's own
screen names it (its ``column_labels``), a status by its label, a related record by the
label it had then. The screen offers no create, edit or delete; the model refuses them
anyway.
"""
import datetime
import functools

from flask import current_app, g, url_for
from flask_admin.contrib.peewee import ModelView
from flask_babel import gettext, pgettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from peewee import JOIN, DateTimeField

from models import AuditEntry, User, audit
from models.base import Msgid
from models.customers.imports import MODES
from models.security import SEEDED_ROLE_TEXTS

from .base import CrmModelView
from .filters import ChoiceFilter, DayRange, Options
from .formats import shown, shown_time, user_label

SEEDED_TEXTS = {text for texts in SEEDED_ROLE_TEXTS.values() for text in texts}

# Fields no screen labels (screens show what a user edits; the log shows all it records).
FIELD_LABELS = {
    "status": _l("状态"), "created_by": _l("创建人"), "created_at": _l("创建时间"),
    "assigned_to": _l("指派给"), "assigned_at": _l("指派时间"), "roles": _l("角色"),
    "password": _l("密码"), "active": _l("启用"), "must_change_password": _l("须修改密码"),
    "locale": _l("界面语言"), "permissions": _l("权限"), "number": _l("编号"),
    "customer": _l("客户"), "manager": _l("客户经理"), "measures": _l("暂缓措施"),
    "reason": _l("流失原因"), "confirmed_at": _l("确认流失时间"),
    "last_order_date": _l("上次下单日期"), "opportunity": _l("销售机会"),
    "fs_uniquifier": _l("登录凭据"),
    "created": _l("新增"), "updated": _l("更新"), "unchanged": _l("未变"),
    "mode": _l("导入方式"),
}
SHOWN_CHANGES = 50  # a record's history on its page: the latest entries


def _views(entity):
    """The admin screens of the table ``entity``."""
    admin = current_app.extensions["admin"][0]
    return [view for view in admin._views
            if isinstance(view, ModelView) and view.model._meta.table_name == entity]


def field_label(entity, field):
    """The field's name as the record's screen shows it, in the user's language: asked
    once per request (an entry of 20 shows up to 20 fields each)."""
    labels = g.setdefault("crm_audit_labels", {})
    if (entity, field) not in labels:
        labels[entity, field] = _field_label(entity, field)
    return labels[entity, field]


def _field_label(entity, field):
    for view in _views(entity):
        if field in (view.column_labels or {}):
            return str(view.column_labels[field])
    if field in FIELD_LABELS:
        return str(FIELD_LABELS[field])
    permission = _permission_label(field)
    return permission or field


def _permission_label(code):
    from models.security import PERMISSIONS_BY_CODE
    permission = PERMISSIONS_BY_CODE.get(code)
    return gettext(permission.label) if permission else None


@functools.cache
def _model(entity):
    from models import ALL_MODELS
    return next((m for m in ALL_MODELS if m._meta.table_name == entity), None)


def value_text(entity, field, value):
    """A recorded value as the screens show it."""
    if value is None or value == "":
        return "—"
    model = _model(entity)
    labels = getattr(model, field.upper(), None) if model else None
    if isinstance(labels, dict) and value in labels:
        return shown(Msgid(labels[value]))  # a status or a choice by its label
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    field_type = model._meta.fields.get(field) if model else None
    if isinstance(field_type, DateTimeField) and isinstance(value, str):
        try:
            return shown_time(datetime.datetime.fromisoformat(value))  # stored UTC → TIMEZONE
        except ValueError:
            return value
    if field in {"permissions"} or entity == "role" and _permission_label(field):
        return shown(Msgid(value)) if value in ("本人", "全部") else str(value)
    if field == "mode" and value in MODES:
        return shown(Msgid(MODES[value]))
    if field == "roles":  # the user's roles: a list (entries before 2026-12: "甲、乙")
        names = value if isinstance(value, list) else str(value).split("、")
        return pgettext("list separator", "、").join(seeded_text(name) for name in names)
    if entity == "role" and field in {"name", "description"}:
        return seeded_text(value)
    return str(value)


def seeded_text(text):
    """A seeded role's name or description in the user's language (it is stored as its
    msgid); any other text as it is."""
    return gettext(text) if text in SEEDED_TEXTS else str(text)


def changes_markup(entry):
    """The entry's changes as a list, 标签：前 → 后 in the user's language, each value
    escaped as text."""
    if not entry.changes:
        return ""
    change = Markup("<li>%s</li>") % Markup(gettext("%(label)s：%(value)s"))
    field = Markup('<span class="crm-audit-field">%s</span>')
    entity = entry.entity
    items = Markup("").join(
        change % {"label": field % field_label(entity, name),
                  "value": f"{value_text(entity, name, before)} → "
                           f"{value_text(entity, name, after)}"}
        for name, (before, after) in entry.changed.items())
    return Markup('<ul class="list-unstyled mb-0 crm-audit-changes">%s</ul>') % items


def changes_text(entry):
    """The changes as one line of text (the export): 标签：前 → 后；…"""
    return pgettext("changes separator", "；").join(
        gettext("%(label)s：%(value)s", label=field_label(entry.entity, field),
                value=f"{value_text(entry.entity, field, before)} → "
                      f"{value_text(entry.entity, field, after)}")
        for field, (before, after) in entry.changed.items())


def action_text(entry):
    """新建 / 修改 / 指派 …: a workflow step by its name as the record's screen shows it."""
    step = audit.STEPS.get(entry.entity, {}).get(entry.step)
    if entry.action == audit.STEP and step:
        return shown(Msgid(step))
    return shown(Msgid(audit.ACTIONS.get(entry.action, entry.action)))


def entity_text(entry):
    label = audit.ENTITIES.get(entry.entity)
    return shown(Msgid(label)) if label else (entry.entity or "")


def record_link(view, context, entry, name):
    """The record's label; a customer import's leads to the import page, where its batch
    is listed (and undone, while it may be)."""
    if entry.action in (audit.IMPORT, audit.UNDO) and entry.entity == "customer":
        return Markup('<a href="{}">{}</a>').format(url_for("customer.import_view"),
                                                     entry.label or gettext("客户导入"))
    return label_text(entry)


def label_text(entry):
    """The record's label as it was, a seeded role's in the user's language."""
    if entry.entity == "role" and entry.label:
        return seeded_text(entry.label)
    return entry.label or ""


def who(entry):
    if entry.user_id is not None:
        return user_label(entry.user)
    return entry.username or ""


def history(record):
    """The latest entries of ``record``, newest first, as its 查看 page lists them."""
    entries = (AuditEntry.select(AuditEntry, User)
               .join(User, on=AuditEntry.user, join_type=JOIN.LEFT_OUTER)
               .where(AuditEntry.entity == record._meta.table_name,
                      AuditEntry.entity_id == record._pk)
               .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(SHOWN_CHANGES))
    return [{"at": e.at, "who": who(e), "action": action_text(e), "changes": changes_markup(e),
             "note": e.note} for e in entries]


def _user_options():
    return [(u.id, user_label(u)) for u in User.select().order_by(User.username)]


def _choices(mapping):
    return Options(lambda: [(code, shown(Msgid(label))) for code, label in mapping.items()])


class AuditView(CrmModelView):
    """审计日志: every entry, newest first, for whoever holds its permission."""

    permission = export_permission = "security.audit"
    can_create = can_edit = can_delete = False
    can_view_details = False
    column_display_actions = False  # an entry has nothing to open or do
    column_list = ["at", "user", "origin", "action", "entity", "label", "changes"]
    column_export_list = ["at", "user", "origin", "action", "entity", "entity_id", "label",
                          "changes", "batch", "note"]
    column_labels = {"at": _l("时间"), "user": _l("操作人"), "origin": _l("来源"),
                     "action": _l("操作"), "entity": _l("记录类型"), "entity_id": _l("记录编号"),
                     "label": _l("记录"), "changes": _l("变更内容"), "batch": _l("导入批次"),
                     "note": _l("备注"), "username": _l("用户名")}
    column_sortable_list = ["at"]
    column_default_sort = ("at", True)
    column_searchable_list = ["label", "username"]
    column_filters = [
        ChoiceFilter(AuditEntry.user, _l("操作人"), Options(_user_options), coerce=int),
        ChoiceFilter(AuditEntry.entity, _l("记录类型"), _choices(audit.ENTITIES)),
        ChoiceFilter(AuditEntry.action, _l("操作"), _choices(audit.ACTIONS)),
        DayRange(AuditEntry.at, _l("时间")),
    ]
    column_formatters = {
        "user": lambda v, c, m, n: who(m), "action": lambda v, c, m, n: action_text(m),
        "entity": lambda v, c, m, n: entity_text(m), "label": record_link,
        "changes": lambda v, c, m, n:
        changes_markup(m) or (m.note or "")}
    column_formatters_export = {
        "user": lambda v, c, m, n: who(m), "action": lambda v, c, m, n: action_text(m),
        "entity": lambda v, c, m, n: entity_text(m), "label": lambda v, c, m, n: label_text(m),
        "changes": lambda v, c, m, n: changes_text(m)}


def views(category):
    return [AuditView(AuditEntry, name=_l("审计日志"), category=category, endpoint="audit")]


__all__ = ["AuditView", "history", "views"]
