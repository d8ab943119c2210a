"""权限管理 screens: users, roles, and the role × permission matrix."""
import logging

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext, pgettext
from flask_security import current_user, hash_password
from flask_security.proxies import _security
from markupsafe import Markup
from wtforms import PasswordField, SelectMultipleField, widgets

from models import DomainError, PermissionChange, Role, User, now
from models.security import MODULES, PERMISSIONS, SCOPES

from . import audit
from .base import (
    CrmModelView,
    CrmView,
    Required,
    RowButton,
    _l,
    domain_message,
    user_can,
    workflow_step,
)
from .formats import shown, shown_time

log = logging.getLogger("crm.security")  # with app.py's: failed logins, lockouts, unlocks


def role_names(view, context, model, name):
    return pgettext("list separator", "、").join(shown(n) for n in model.role_display_names())


def lock_status(view, context, model, name):
    """已锁定 (until when) for an account locked by failed logins; nothing otherwise."""
    if not model.is_locked():
        return ""
    return gettext("已锁定至 %(time)s", time=shown_time(model.lock_ends()))


class CheckboxList(widgets.ListWidget):
    """Choices as Bootstrap checkboxes, one a line, instead of a Ctrl+click listbox."""

    def __init__(self):
        super().__init__(prefix_label=False)

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs["class"] = " ".join(["crm-checkboxes"] + [
            c for c in kwargs.get("class", "").split() if c != "form-control"])
        items = Markup("").join(
            Markup('<div class="form-check">{}{}</div>').format(
                option(class_="form-check-input"), option.label(class_="form-check-label"))
            for option in field)
        return Markup("<div {}>{}</div>").format(Markup(widgets.html_params(**kwargs)), items)


class UserView(CrmModelView):
    """用户管理: users are disabled, never deleted (they own records)."""

    permission = create_permission = edit_permission = "security.user"
    column_list = ["username", "full_name", "roles", "active", "locked_until", "last_login_at"]
    column_sortable_list = ["username", "active"]
    column_details_list = ["username", "full_name", "email", "roles", "active", "locked_until",
                           "created_at", "last_login_at", "last_login_ip", "login_count"]
    column_labels = {"username": _l("用户名"), "full_name": _l("姓名"), "email": _l("电子邮件"),
                     "roles": _l("角色"), "active": _l("启用"), "created_at": _l("创建时间"),
                     "last_login_at": _l("上次登录"), "last_login_ip": _l("上次登录地址"),
                     "login_count": _l("登录次数"), "new_password": _l("密码"),
                     "role_ids": _l("角色"), "locked_until": _l("锁定")}
    column_searchable_list = ["username", "full_name"]
    column_filters = ["active"]
    # times (上次登录 …) to the minute in TIMEZONE: the datetime type formatter of the base
    column_formatters = {"roles": role_names, "locked_until": lock_status}
    column_export_list = ["username", "full_name", "email", "active", "last_login_at"]
    form_columns = ["username", "full_name", "email", "active", "role_ids", "new_password"]
    form_extra_fields = {
        "role_ids": SelectMultipleField(_l("角色"), coerce=int, widget=CheckboxList(),
                                        option_widget=widgets.CheckboxInput()),
        "new_password": PasswordField(_l("密码"), description=_l(
            "新建时必填；编辑时留空表示不修改。至少 10 个字符，不能是常见或容易猜到的密码")),
    }

    def page_rows(self, query):
        """A page of users with their roles (the 角色 column) read in one query."""
        return User.read_role_links(super().page_rows(query))

    def get_list_row_actions(self):
        """The row buttons, and 解锁 on an account locked by failed logins."""
        return [*super().get_list_row_actions(),
                RowButton(_l("解锁"), ".unlock_view", post=True, tone="warning",
                          confirm=lambda row: gettext("确认解锁用户“%(name)s”？", name=str(row)),
                          show=lambda row: row.is_locked() and user_can("security.user.unlock"))]

    @workflow_step("/unlock/", "security.user.unlock", methods=("POST",))
    def unlock_view(self, user, form):
        """解锁: the account may log in again at once; its failed logins start from zero."""
        user.unlock(now=now())
        log.warning("account unlocked: %r by %r from %s", user.username, current_user.username,
                    request.remote_addr)
        return gettext("已解锁用户“%(name)s”", name=str(user))

    def _with_roles(self, form, user=None):
        form.role_ids.choices = [(r.id, shown(r.display_name()))
                                 for r in Role.select().order_by(Role.id)]
        if user is not None and request.method == "GET":
            form.role_ids.data = [link.role_id for link in user.role_links()]
        return form

    def create_form(self, obj=None):
        """A new user needs a password: marked required (*) on this form only."""
        form = self._with_roles(super().create_form(obj))
        form.new_password.validators = [Required(), *form.new_password.validators]
        form.new_password.flags.required = True
        return form

    def edit_form(self, obj=None):
        return self._with_roles(super().edit_form(obj), obj)

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not hasattr(form, "new_password") or request.method != "POST":
            return ok  # the delete and action forms; a form being shown, not sent
        editing = request.endpoint.endswith("edit_view")
        password = form.new_password.data
        if password or not editing:
            # the one password policy (app.py: PasswordPolicy); the user's own names
            # count as easy to guess
            errors, _ = _security.password_util.validate(
                password or "", True, username=form.username.data or "",
                full_name=form.full_name.data or "", email=form.email.data or "")
            if not password:
                errors = [gettext("请设置密码")]
            if errors:
                form.new_password.errors = list(form.new_password.errors) + list(errors)
                ok = False
        taken = User.select().where(User.username == (form.username.data or "").strip())
        if editing:
            taken = taken.where(User.id != request.args.get("id", type=int))
        if form.username.data and taken.exists():
            form.username.errors = list(form.username.errors) + [gettext("该用户名已被使用")]
            ok = False
        return ok

    def on_model_change(self, form, model, is_created):
        model.email = model.email or None
        if form.new_password.data:
            # normalised as the login normalises what is typed (é typed two ways still logs
            # in); ends his other sessions, and he changes it at his next login
            model.set_password(hash_password(
                _security.password_util.normalize(form.new_password.data)), by=current_user)

    def after_model_change(self, form, model, is_created):
        model.set_roles(Role.select().where(Role.id.in_(form.role_ids.data or [])))


class RoleView(CrmModelView):
    """角色管理; what a role may do is set in 权限分配."""

    permission = create_permission = edit_permission = delete_permission = "security.role"
    column_list = ["name", "description", "users"]
    column_sortable_list = ["name"]
    column_labels = {"name": _l("角色名称"), "description": _l("说明"), "users": _l("用户数")}
    column_details_list = ["name", "description", "users"]  # grants: see 权限分配
    column_formatters = {"users": lambda v, c, m, n: m.users.count(),
                         "name": lambda v, c, m, n: shown(m.display_name()),
                         "description": lambda v, c, m, n: shown(m.display_description())}
    form_columns = ["name", "description"]

    def row_deletable(self, row):
        return row.deletable()  # no 删除 button on a role that still has users

    def on_model_delete(self, model):
        model.ensure_deletable()


class PermissionView(CrmView):
    """权限分配: every permission of one role, granted or revoked in one screen."""

    permission = "security.permission"

    @expose("/", methods=("GET", "POST"))
    def index(self):
        roles = list(Role.select().order_by(Role.id))
        role_id = request.values.get("role", type=int)
        role = next((r for r in roles if r.id == role_id), roles[0] if roles else None)
        if request.method == "POST" and role is not None:
            try:
                changes = role.set_grants(self._posted_grants(), by=current_user.id)
            except DomainError as exc:
                flash(domain_message(exc), "error")
            else:
                flash(gettext("保存成功：%(count)d 项权限变更", count=len(changes)), "success")
            return redirect(url_for(".index", role=role.id))
        history = (PermissionChange.select().where(PermissionChange.role == role)
                   .order_by(PermissionChange.changed_at.desc(), PermissionChange.id.desc())
                   .limit(30)) if role else []
        return self.render("admin/permissions.html", roles=roles, role=role,
                           grants=role.grants() if role else {}, modules=MODULES,
                           permissions=PERMISSIONS, scopes=SCOPES, history=history)

    @staticmethod
    def _posted_grants():
        grants = {}
        for permission in PERMISSIONS:
            value = request.form.get(permission.code, "")
            if permission.scoped and value in SCOPES:
                grants[permission.code] = value
            elif not permission.scoped and value == "on":
                grants[permission.code] = None
        return grants


def views():
    category = _l("权限管理")
    return [
        UserView(User, name=_l("用户管理"), category=category, endpoint="user"),
        RoleView(Role, name=_l("角色管理"), category=category, endpoint="role"),
        PermissionView(name=_l("权限分配"), category=category, endpoint="permission"),
        *audit.views(category),
    ]
