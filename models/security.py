"""Users, roles and the permissions roles carry (权限管理).

The one Flask import of ``models/``: the user and role models carry
Flask-Security's mixins, which are its contract for them.

A permission is a code from ``PERMISSIONS``. A role stores its grants as a list
of strings: ``code`` for an unscoped permission, ``code:own`` or ``code:all`` for
a scoped one. Grants are data, changed through the UI, and every change is
recorded in ``PermissionChange``.
"""
import datetime
import uuid
from dataclasses import dataclass
from functools import cached_property

from flask_security import RoleMixin, UserMixin
from peewee import (
    JOIN,
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from . import base
from .base import N_, BaseModel, DomainError, Refusals, check_texts, now

OWN, ALL = "own", "all"
MANAGER_ROLE = "manager"  # the code of the 客户经理 role: who customers and work go to
SCOPES = {OWN: N_("本人"), ALL: N_("全部")}


@dataclass(frozen=True)
class Permission:
    code: str
    label: str
    scoped: bool = False

    @property
    def module(self):
        return self.code.split(".", 1)[0]


MODULES = {
    "marketing": N_("营销管理"),
    "customers": N_("客户管理"),
    "service": N_("服务管理"),
    "reports": N_("统计报表"),
    "basedata": N_("基础数据"),
    "security": N_("权限管理"),
}

# Every screen and workflow action of SPEC.md. "own" means: records the user
# created, is assigned to, or manages (each model says which in ``owned_by``).
PERMISSIONS = [
    Permission("marketing.opportunity", N_("销售机会管理"), scoped=True),
    Permission("marketing.opportunity.create", N_("创建销售机会")),
    Permission("marketing.opportunity.edit", N_("编辑销售机会"), scoped=True),
    Permission("marketing.opportunity.delete", N_("删除销售机会"), scoped=True),
    Permission("marketing.opportunity.assign", N_("指派销售机会")),
    Permission("marketing.plan", N_("客户开发计划"), scoped=True),
    Permission("marketing.plan.make", N_("制定计划"), scoped=True),
    Permission("marketing.plan.execute", N_("执行计划"), scoped=True),
    Permission("marketing.plan.close", N_("开发成功 / 终止开发"), scoped=True),
    Permission("customers.customer", N_("客户信息管理"), scoped=True),
    Permission("customers.customer.edit", N_("编辑客户信息"), scoped=True),
    Permission("customers.customer.delete", N_("删除客户"), scoped=True),
    Permission("customers.customer.import", N_("导入客户")),
    Permission("customers.contact", N_("联系人管理"), scoped=True),
    Permission("customers.activity", N_("交往记录管理"), scoped=True),
    Permission("customers.order", N_("历史订单"), scoped=True),
    Permission("customers.churn", N_("客户流失管理"), scoped=True),
    Permission("customers.churn.postpone", N_("暂缓流失"), scoped=True),
    Permission("customers.churn.confirm", N_("确认流失"), scoped=True),
    Permission("service.create", N_("服务创建")),
    Permission("service.assign", N_("服务分配")),
    Permission("service.handle", N_("服务处理"), scoped=True),
    Permission("service.feedback", N_("服务反馈"), scoped=True),
    Permission("service.archive", N_("服务归档"), scoped=True),
    Permission("reports.contribution", N_("客户贡献分析"), scoped=True),
    Permission("reports.composition", N_("客户构成分析"), scoped=True),
    Permission("reports.service", N_("客户服务分析"), scoped=True),
    Permission("reports.churn", N_("客户流失分析"), scoped=True),
    Permission("basedata.dictionary", N_("数据字典管理")),
    Permission("basedata.product", N_("查询产品信息")),
    Permission("basedata.stock", N_("查询库存")),
    Permission("security.user", N_("用户管理")),
    Permission("security.user.unlock", N_("解锁用户")),  # migration 0006
    Permission("security.role", N_("角色管理")),
    Permission("security.permission", N_("权限分配")),
    Permission("security.audit", N_("审计日志")),  # migration 0012
]
PERMISSIONS_BY_CODE = {p.code: p for p in PERMISSIONS}


def parse_grant(grant):
    """Split a stored grant into (code, scope); scope is None for unscoped codes."""
    code, _, scope = grant.partition(":")
    return code, (scope or None)


def format_grant(code, scope):
    """The stored form of a grant: ``code`` or ``code:scope``."""
    permission = PERMISSIONS_BY_CODE.get(code)
    if permission is None:
        raise DomainError(N_("未知的权限：%(code)s"), code=code)
    if permission.scoped:
        if scope not in SCOPES:
            raise DomainError(N_("权限“%(code)s”需要指定范围"), code=code)
        return f"{code}:{scope}"
    return code


class ListField(TextField):
    """A list of strings stored comma-joined (Flask-Security reads ``Role.permissions``)."""

    def db_value(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        return ",".join(v.strip() for v in value if v and v.strip())

    def python_value(self, value):
        return [v for v in value.split(",") if v] if value else []


# The four roles of SPEC.md by code: the name and description they are seeded with
# (seed/reference.py), marked for translation.
SEEDED_ROLE_TEXTS = {
    "admin": (N_("系统管理员"), N_("用户、角色、权限；数据字典")),
    "supervisor": (N_("销售主管"),
                   N_("创建并指派销售机会；查看全部客户并处理流失；分配服务；查看报表")),
    "manager": (N_("客户经理"), N_("开发指派的机会；维护自己的客户；处理服务；查询产品与库存")),
    "executive": (N_("高管"), N_("查看全部报表")),
}


class Role(BaseModel, RoleMixin):
    name = CharField(unique=True, max_length=80)
    code = CharField(unique=True, max_length=40, null=True)  # stable key for seeds
    description = CharField(max_length=200, null=True)
    permissions = ListField(null=True)

    def __str__(self):
        return self.name

    def clean(self):
        """角色名称 required, 说明 optional, one line each, within their columns."""
        refusals = Refusals()
        check_texts(self, refusals, {"name": (N_("角色名称"), 80)},
                    {"description": (N_("说明"), 200)})
        refusals.raise_any()

    def display_name(self):
        """The name to show: a msgid (shown translated) while a seeded role keeps its
        seeded name; a role the administrator created or renamed shows his text."""
        return self._seeded_text(0, self.name)

    def display_description(self):
        return self._seeded_text(1, self.description)

    def _seeded_text(self, index, text):
        seeded = SEEDED_ROLE_TEXTS.get(self.code)
        return seeded[index] if seeded and seeded[index] == text else text

    def deletable(self):
        """A role still held by users cannot be deleted."""
        return not self.users.exists()

    def ensure_deletable(self):
        if not self.deletable():
            raise DomainError(N_("角色“%(name)s”仍有用户，不能删除"), name=self.name)

    def grants(self):
        """{code: scope} of this role (scope None for unscoped permissions)."""
        return dict(parse_grant(g) for g in self.permissions or [])

    def set_grants(self, grants, by, at=None):
        """Replace this role's grants with ``{code: scope}``; record every change."""
        at = at or now()
        before = self.grants()
        for code, scope in grants.items():
            format_grant(code, scope)  # validates code and scope
        changed = []
        for code in sorted(set(before) | set(grants)):
            old, new = before.get(code, False), grants.get(code, False)
            if old != new:
                changed.append(PermissionChange(
                    role=self, permission=code, changed_by=by, changed_at=at,
                    before=_grant_label(code, old), after=_grant_label(code, new)))
        from .audit import GRANT, record
        with self._meta.database.atomic():
            self.permissions = sorted(format_grant(c, s) for c, s in grants.items())
            type(self).update(permissions=self.permissions).where(
                type(self).id == self.id).execute()
            for change in changed:
                change.save()
            if changed:
                record(GRANT, self, by=by, at=at, changes={
                    change.permission: [change.before, change.after] for change in changed})
        return changed


def _grant_label(code, scope):
    if scope is False:
        return "-"
    return scope or "+"


class User(UserMixin, BaseModel):
    username = CharField(unique=True, max_length=32)
    full_name = CharField(max_length=50, index=True)  # lists sort users by it (0011)
    email = CharField(unique=True, max_length=255, null=True)
    password = CharField(max_length=255, null=True)
    active = BooleanField(default=True, index=True)
    fs_uniquifier = CharField(unique=True, max_length=64)
    confirmed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=now)
    last_login_at = DateTimeField(null=True)
    current_login_at = DateTimeField(null=True)
    last_login_ip = CharField(max_length=64, null=True)
    current_login_ip = CharField(max_length=64, null=True)
    login_count = IntegerField(null=True)
    locale = CharField(max_length=16, null=True)
    # Account lockout (see ``record_failed_login``): kept in the database, so every
    # server process and every restart sees the same count.
    failed_logins = IntegerField(default=0)
    last_failed_login_at = DateTimeField(null=True)
    locked_until = DateTimeField(null=True)
    # A password someone else set (an administrator in 用户管理) is changed by its user
    # before he does anything else (``set_password``; app.py: _force_password_change).
    must_change_password = BooleanField(default=False)

    def __str__(self):
        return self.full_name or self.username

    def clean(self):
        """用户名 and 姓名 required, 电子邮件 optional, one line each, within their columns."""
        refusals = Refusals()
        check_texts(self, refusals, {"username": (N_("用户名"), 32), "full_name": (N_("姓名"), 50)},
                    {"email": (N_("电子邮件"), 255)})
        refusals.raise_any()

    # -- lockout: a few failed logins lock the account for a while -------------
    def is_locked(self, form_error=None, now=None):
        """Whether the account is locked at ``now``.

        Also Flask-Security's hook (``UserMixin.is_locked``), which it calls after
        a right password and which then refuses the login.
        """
        return self.locked_until is not None and self.locked_until > (now or base.now())

    def lock_ends(self):
        """The minute the lock ends, rounded up (locked until 09:15:20 reads 09:16)."""
        return (self.locked_until + datetime.timedelta(seconds=59)).replace(second=0)

    def record_failed_login(self, now, attempts, minutes):
        """Count one failed login; the ``attempts``-th within ``minutes`` locks the
        account for ``minutes``. Returns True when this failure locked it.

        While the account is locked nothing is counted: the lock does not grow
        with the attacker's guesses and ends when it said it would. The first
        failure after an expired lock, or after a quiet ``minutes``, counts from 1.
        One conditional UPDATE, so failures arriving at the same time through
        several server processes are all counted.
        """
        model = type(self)
        recent = model.last_failed_login_at > now - datetime.timedelta(minutes=minutes)
        count = Case(None, [(recent & model.locked_until.is_null(), model.failed_logins + 1)], 1)
        counted = self._update_unless_locked(now, {
            model.failed_logins: count, model.last_failed_login_at: now,
            model.locked_until: Case(None, [(count >= attempts,
                                             now + datetime.timedelta(minutes=minutes))])})
        return counted and self.is_locked(now=now)

    def reset_failed_logins(self, now):
        """A successful login clears the count (never while the account is locked)."""
        model = type(self)
        self._update_unless_locked(now, {model.failed_logins: 0,
                                         model.last_failed_login_at: None,
                                         model.locked_until: None})

    def _update_unless_locked(self, now, fields):
        # By id: Flask-Login's get_id() (update_if's key) is the fs_uniquifier.
        model = type(self)
        updated = model.update(fields).where(
            model.id == self.id,
            model.locked_until.is_null() | (model.locked_until <= now)).execute() == 1
        self._reload_lockout()
        return updated

    def unlock(self, now):
        """An administrator lifts the lock (and clears the count)."""
        if not self.is_locked(now=now):
            raise DomainError(N_("用户“%(name)s”未被锁定"), name=str(self))
        from .audit import UNLOCK, record
        model = type(self)
        with self._meta.database.atomic():
            model.update({model.failed_logins: 0, model.last_failed_login_at: None,
                          model.locked_until: None}).where(model.id == self.id).execute()
            record(UNLOCK, self)
        self._reload_lockout()

    def _reload_lockout(self):
        model = type(self)
        row = (model.select(model.failed_logins, model.last_failed_login_at, model.locked_until)
               .where(model.id == self.id).get())
        self.failed_logins = row.failed_logins
        self.last_failed_login_at = row.last_failed_login_at
        self.locked_until = row.locked_until

    # -- passwords ---------------------------------------------------------------
    def set_password(self, hashed, by):
        """A new password (``hashed``), set by the user ``by``; saved by the caller.

        Every other session of this user ends (a new ``fs_uniquifier``). A password
        somebody else chose — an administrator creating the account or resetting it —
        is known to two people: its user must change it at his next login.
        """
        self.password = hashed
        self.fs_uniquifier = uuid.uuid4().hex
        self.must_change_password = by is None or by.id != self.id

    def password_changed(self):
        """The user chose his own password: he is no longer asked to change it."""
        self.must_change_password = False
        type(self).update(must_change_password=False).where(type(self).id == self.id).execute()

    def end_sessions(self):
        """A new ``fs_uniquifier``: every session and remember-me cookie of this user,
        on every device, stops being accepted (Flask-Security identifies sessions by it)."""
        self.fs_uniquifier = uuid.uuid4().hex
        type(self).update(fs_uniquifier=self.fs_uniquifier).where(
            type(self).id == self.id).execute()

    @cached_property
    def _grants(self):
        """{code: scope} merged over the user's roles; 'all' beats 'own'.

        Loaded once per user object, i.e. once per request: a change an
        administrator makes takes effect on the user's next request.
        """
        merged = {}
        for link in self.role_links():
            for code, scope in link.role.grants().items():
                if merged.get(code) != ALL:
                    merged[code] = scope
        return merged

    @classmethod
    def signed_in(cls, uniquifier):
        """The user whose session carries ``uniquifier``, his role links read with him in
        one query (Flask-Security loads him on every request, then asks for his roles);
        None if there is none."""
        rows = list(cls.select(cls, UserRoles, Role)
                    .join(UserRoles, JOIN.LEFT_OUTER, on=(UserRoles.user == cls.id),
                          attr="_link")
                    .join(Role, JOIN.LEFT_OUTER)
                    .where(cls.fs_uniquifier == uniquifier).order_by(Role.id))
        if not rows:
            return None
        user = rows[0]
        # a user without roles: peewee leaves the joined link None (or all its fields None)
        user._role_links = [row._link for row in rows
                            if getattr(row, "_link", None) is not None and row._link.id is not None]
        for link in user._role_links:
            link.user = user
        return user

    @classmethod
    def read_role_links(cls, users):
        """``users`` (a list page of them) with their role links read in one query, not
        one per user (``role_links``); returns ``users``."""
        by_id = {user.id: user for user in users}
        for user in users:
            user._role_links = []
        if by_id:
            for link in (UserRoles.select(UserRoles, Role).join(Role)
                         .where(UserRoles.user.in_(list(by_id)))
                         .order_by(UserRoles.user, Role.id)):
                link.user = by_id[link.user_id]
                link.user._role_links.append(link)
        return users

    def role_links(self):
        """His links to his roles, with the roles: read once per user object (a request)."""
        if "_role_links" not in self.__dict__:
            self._role_links = list(UserRoles.select(UserRoles, Role).join(Role)
                                    .where(UserRoles.user == self).order_by(Role.id))
        return self._role_links

    @property
    def roles(self):
        """What Flask-Security reads as his roles (``has_role``, the identity it loads on
        every request): the links of ``role_links``, already read with their roles — not
        a query of the links and one more per link's role."""
        return self.role_links()

    @roles.setter
    def roles(self, roles):
        # Flask-Security's create_user passes roles=[] and adds the links afterwards
        if roles:
            raise TypeError("roles are given by User.set_roles")

    def role_names(self):
        return [link.role.name for link in self.role_links()]

    def role_display_names(self):
        """His roles as shown (``Role.display_name``: msgids for the seeded ones)."""
        return [link.role.display_name() for link in self.role_links()]

    def grant_items(self):
        """His grants as a sorted tuple of (code, scope): what a kept count of his work
        depends on (admin_views/home.py)."""
        return tuple(sorted(self._grants.items())) if self.active else ()

    def can(self, code):
        """Whether any of the user's roles grants ``code``."""
        return self.active and code in self._grants

    def scope(self, code):
        """'all', 'own', or None when the permission is not granted."""
        if not self.can(code):
            return None
        return self._grants[code] or ALL

    @classmethod
    def managers(cls):
        """The active 客户经理: who opportunities, services and customers can go to."""
        return cls.with_role(MANAGER_ROLE)

    @classmethod
    def with_role(cls, role_code):
        """Active users holding the role with this code, by username."""
        return (cls.select().join(UserRoles).join(Role)
                .where(cls.active == True, Role.code == role_code)  # noqa: E712
                .order_by(cls.username))

    def set_roles(self, roles):
        """Give this user exactly ``roles``; a change is audited as the user's 角色."""
        from .audit import UPDATE, record
        with self._meta.database.atomic():
            before = sorted(self.role_display_names()) if self.id else []
            UserRoles.delete().where(UserRoles.user == self).execute()
            for role in roles:
                UserRoles.create(user=self, role=role)
            self.__dict__.pop("_grants", None)
            self.__dict__.pop("_role_links", None)
            after = sorted(role.display_name() for role in roles)
            if before != after:
                record(UPDATE, self, changes={"roles": [before or None, after or None]})


class UserRoles(BaseModel):
    """The user ↔ role link; Flask-Security reads ``user.roles`` through it."""

    audited = False  # audited as the user's change of roles (User.set_roles)

    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")  # User.roles reads them
    role = ForeignKeyField(Role, backref="users", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "role"), True),)

    name = property(lambda self: self.role.name)
    description = property(lambda self: self.role.description)

    def get_permissions(self):
        return self.role.get_permissions()


class PermissionChange(BaseModel):
    """Who granted or revoked what, when (权限分配 audit trail)."""

    audited = False  # audited as the role's grant change (Role.set_grants)

    role = ForeignKeyField(Role, backref="permission_changes", on_delete="CASCADE")
    permission = CharField(max_length=60)
    before = CharField(max_length=10)
    after = CharField(max_length=10)
    changed_by = ForeignKeyField(User, backref="permission_changes")
    changed_at = DateTimeField(default=now, index=True)
