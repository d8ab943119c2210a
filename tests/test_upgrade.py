"""Upgrades keep the administrator's data and grants; reference data changes by migration.

An installation of the release that ended at migration 0005 is built as that release's
``flask init-db`` left it (its reference data is frozen below), changed the way an
administrator would, then upgraded by today's ``flask init-db``. Runs on the suite's kind
of database (SQLite, or PostgreSQL under TEST_DATABASE_URL). The steps migrations take
(``models/reference.py``) are tested on their own at the end.
"""
import re

import pytest
from peewee import Table

from models import DictionaryEntry, PermissionChange, Role, User, db, schema
from models import reference as steps
from models.security import PERMISSIONS_BY_CODE, format_grant
from seed import reference
from tests.conftest import csrf_token, make_user, scratch_database

# What the 0005 release's `flask init-db` wrote: code → (name, description, permissions).
ROLES_0005 = {
    "admin": ("系统管理员", "用户、角色、权限；数据字典",
              "basedata.dictionary,security.permission,security.role,security.user"),
    "supervisor": (
        "销售主管", "创建并指派销售机会；查看全部客户并处理流失；分配服务；查看报表",
        "customers.churn.confirm:all,customers.churn.postpone:all,customers.churn:all,"
        "customers.customer.import,customers.customer:all,customers.order:all,"
        "marketing.opportunity.assign,marketing.opportunity.create,"
        "marketing.opportunity.delete:own,marketing.opportunity.edit:all,"
        "marketing.opportunity:all,marketing.plan.close:all,marketing.plan.execute:all,"
        "marketing.plan.make:all,marketing.plan:all,reports.churn:all,"
        "reports.composition:all,reports.contribution:all,reports.service:all,"
        "service.archive:all,service.assign"),
    "manager": (
        "客户经理", "开发指派的机会；维护自己的客户；处理服务；查询产品与库存",
        "basedata.product,basedata.stock,customers.activity:own,customers.churn.confirm:own,"
        "customers.churn.postpone:own,customers.churn:own,customers.contact:own,"
        "customers.customer.delete:own,customers.customer.edit:own,customers.customer:own,"
        "customers.order:own,marketing.opportunity.create,marketing.opportunity.delete:own,"
        "marketing.opportunity.edit:own,marketing.opportunity:own,marketing.plan.close:own,"
        "marketing.plan.execute:own,marketing.plan.make:own,marketing.plan:own,"
        "service.archive:own,service.create,service.feedback:own,service.handle:own"),
    "executive": ("高管", "查看全部报表",
                  "reports.churn:all,reports.composition:all,reports.contribution:all,"
                  "reports.service:all"),
}
DICTIONARY_0005 = [
    ("企业客户等级", "普通客户", "1", False), ("企业客户等级", "重点开发客户", "2", False),
    ("企业客户等级", "大客户", "3", False), ("企业客户等级", "合作伙伴", "4", False),
    ("企业客户等级", "战略合作伙伴", "5", False),
    ("服务类型", "咨询", "咨询", True), ("服务类型", "建议", "建议", True),
    ("服务类型", "投诉", "投诉", True),
    ("地区", "北京", "北京", True), ("地区", "华北", "华北", True), ("地区", "中南", "中南", True),
    ("地区", "东北", "东北", True), ("地区", "西部", "西部", True),
]


@pytest.fixture
def at_0005(fresh_app, tmp_path):
    """An app on an installation at migration 0005 holding that release's reference data."""
    app = fresh_app(TESTING=True, DATABASE_URL=scratch_database(tmp_path, "at0005"),
                    SECRET_KEY="k", SECURITY_PASSWORD_SALT="s",
                    SECURITY_PASSWORD_HASH="plaintext")
    database = db.obj
    with app.app_context():
        assert schema.upgrade(database, target="0005_user_lockout")[-1] == "0005_user_lockout"
        Table("role", ("id", "code", "name", "description", "permissions")).bind(database) \
            .insert([{"code": code, "name": name, "description": description,
                           "permissions": permissions}
                          for code, (name, description, permissions) in ROLES_0005.items()]) \
            .execute()
        Table("dictionary_entry", ("id", "category", "item", "value", "editable")) \
            .bind(database).insert([{"category": c, "item": i, "value": v, "editable": e}
                                         for c, i, v, e in DICTIONARY_0005]).execute()
    yield app
    getattr(database, "close_all", database.close)()


def stored_grants(code_or_name):
    """A role's grants as stored, read past the model (what a migration wrote)."""
    role = Role.get_or_none((Role.code == code_or_name) | (Role.name == code_or_name))
    table = Table("role", ("id", "permissions")).bind(db.obj)
    stored = table.select(table.permissions).where(table.id == role.id).scalar()
    return set(filter(None, (stored or "").split(",")))


def add_role(name, permissions):
    Table("role", ("id", "name", "permissions")).bind(db.obj).insert(
        name=name, permissions=",".join(sorted(permissions))).execute()


def init_db(app):
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    return result.output


def seeded_grants(code):
    return {format_grant(c, s) for c, s in reference.ROLES[code][2].items()}


# -- upgrading an installation ---------------------------------------------------------------

def test_an_upgrade_keeps_what_the_administrator_deleted_revoked_and_changed(at_0005):
    with at_0005.app_context():
        # The administrator, in 数据字典 and 权限分配, before the upgrade:
        DictionaryEntry.delete().where(DictionaryEntry.item == "华北").execute()
        DictionaryEntry.update(value="客诉").where(DictionaryEntry.item == "投诉").execute()
        supervisor = Role.get(Role.code == "supervisor")
        grants = supervisor.grants()
        del grants["customers.customer.import"]
        grants["reports.churn"] = "own"
        Role.update(permissions=sorted(format_grant(c, s) for c, s in grants.items())).where(
            Role.id == supervisor.id).execute()  # as the version before the audit log wrote
        Role.update(name="营销总监").where(Role.code == "supervisor").execute()
        Role.delete().where(Role.code == "executive").execute()

        output = init_db(at_0005)
        assert "applied migration 0006_unlock_permission" in output
        assert "applied migration 0007_user_must_change_password" in output
        for upgraded_again in (False, True):  # every later deployment runs it again
            assert not DictionaryEntry.select().where(DictionaryEntry.item == "华北").exists()
            assert DictionaryEntry.get(DictionaryEntry.item == "投诉").value == "客诉"
            assert DictionaryEntry.select().count() == len(DICTIONARY_0005) - 1
            kept = stored_grants("supervisor")
            assert "customers.customer.import" not in kept and "reports.churn:own" in kept
            assert Role.get(Role.code == "supervisor").name == "营销总监"
            assert not Role.select().where(Role.code == "executive").exists()
            assert "schema is up to date" in init_db(at_0005)


def test_a_new_permission_reaches_the_roles_that_held_the_one_it_comes_from(at_0005):
    with at_0005.app_context():
        add_role("用户专员", {"security.user"})  # the administrator's own roles
        add_role("只读角色", {"reports.churn:all"})
        admin = Role.get(Role.code == "admin")  # and one he took 用户管理 away from
        Role.update(permissions="security.role").where(Role.code == "supervisor").execute()
        init_db(at_0005)
        assert stored_grants("admin") == set(ROLES_0005["admin"][2].split(",")) | {
            "security.user.unlock", "security.audit"}  # 0006, and 0012 from 权限分配
        assert stored_grants("用户专员") == {"security.user", "security.user.unlock"}
        assert stored_grants("只读角色") == {"reports.churn:all"}
        assert stored_grants("supervisor") == {"security.role"}
        assert stored_grants("manager") == set(ROLES_0005["manager"][2].split(","))
        assert Role.get_by_id(admin.id).grants()["security.user.unlock"] is None


def test_an_upgraded_installation_holds_the_reference_data_of_a_new_one(at_0005):
    """Whoever changes seed/reference.py writes the migration that does the same to the
    installations already running (models/reference.py), and the other way round."""
    with at_0005.app_context():
        init_db(at_0005)
        for code in reference.ROLES:
            assert stored_grants(code) == seeded_grants(code), code
        assert set(DictionaryEntry.select(DictionaryEntry.category, DictionaryEntry.item,
                                          DictionaryEntry.value, DictionaryEntry.editable)
                   .tuples()) == set(reference.DICTIONARY)
        held = {g.partition(":")[0] for role in Role.select() for g in stored_grants(role.code)}
        assert held <= set(PERMISSIONS_BY_CODE)  # no grant of a code the release dropped


def test_an_upgraded_user_of_a_role_that_managed_users_still_unlocks(at_0005):
    with at_0005.app_context():
        add_role("用户专员", {"security.user"})
        init_db(at_0005)
        clerk = make_user(at_0005, "clerk", "专员", [])
        clerk.set_roles(Role.select().where(Role.name == "用户专员"))
        locked = make_user(at_0005, "laowang", "老王", ["manager"])
        locked.record_failed_login(locked.created_at, attempts=1, minutes=15)
        assert locked.is_locked()
    client = at_0005.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = clerk.fs_uniquifier
    page = client.get("/admin/user/").get_data(as_text=True)
    assert page.count('action="/admin/user/unlock/"') == 1
    response = client.post("/admin/user/unlock/", data={
        "id": locked.id, "csrf_token": csrf_token(client, "/admin/user/")})
    assert response.status_code == 302
    with at_0005.app_context():
        assert not User.get_by_id(locked.id).is_locked()


# -- the initial reference data: loaded once -------------------------------------------------

def test_reference_data_is_loaded_into_an_empty_installation_only(database):
    from tests.conftest import _clear
    assert reference.is_loaded()
    DictionaryEntry.delete().where(DictionaryEntry.item == "西部").execute()
    Role.delete().where(Role.code == "executive").execute()
    assert reference.load() is False  # `flask init-db`, create-user, seed-demo: nothing back
    assert not DictionaryEntry.select().where(DictionaryEntry.item == "西部").exists()
    assert not Role.select().where(Role.code == "executive").exists()
    _clear(database)
    assert not reference.is_loaded()
    assert reference.load() is True
    assert Role.select().count() == len(reference.ROLES)
    assert DictionaryEntry.select().count() == len(reference.DICTIONARY)


def test_a_new_installation_loads_the_reference_data_when_it_creates_the_schema(fresh_app):
    app = fresh_app()
    with app.app_context():
        output = init_db(app)
        assert "applied migration 0001_initial" in output
        assert {r.code: stored_grants(r.code) for r in Role.select()} == {
            code: seeded_grants(code) for code in reference.ROLES}


# -- the steps of a migration (models/reference.py) ------------------------------------------

def test_a_renamed_permission_is_renamed_in_every_role_with_its_scope(users):
    add_role("片区经理", {"customers.customer:all", "customers.order:all"})
    add_role("已有新名", {"customers.customer:own", "customers.client:all"})
    Role.get(Role.code == "executive").set_grants({"reports.churn": "all"}, by=users["admin"])
    before = {role.name: stored_grants(role.name) for role in Role.select()}

    assert steps.rename_permission(db.obj, "customers.customer", "customers.client") == 4
    for role in Role.select():
        expected = {re.sub(r"^customers\.customer(?=:|$)", "customers.client", g)
                    for g in before[role.name]}
        if role.name == "已有新名":
            expected = {"customers.client:all"}  # the grant it had under the new name wins
        assert stored_grants(role.name) == expected, role.name
    assert stored_grants("manager") >= {"customers.client:own", "customers.customer.edit:own"}
    assert stored_grants("supervisor") >= {"customers.client:all",
                                           "customers.customer.import"}
    assert steps.rename_permission(db.obj, "customers.customer", "customers.client") == 0


def test_a_rename_carries_the_permission_history_along(users):
    Role.get(Role.code == "executive").set_grants(
        {"reports.churn": "own", "reports.service": "all"}, by=users["admin"])
    steps.rename_permission(db.obj, "reports.churn", "reports.lost")
    assert {c.permission for c in PermissionChange.select()} == {
        "reports.lost", "reports.contribution", "reports.composition"}


def test_a_grant_follows_the_scope_of_the_permission_it_comes_from(database):
    assert steps.grant_where_held(db.obj, "customers.churn", "customers.churn.export") == 2
    assert "customers.churn.export:all" in stored_grants("supervisor")
    assert "customers.churn.export:own" in stored_grants("manager")
    assert not any(g.startswith("customers.churn.export") for g in stored_grants("executive"))

    assert steps.grant_where_held(db.obj, "reports.churn", "reports.audit", scope=None) == 2
    assert "reports.audit" in stored_grants("executive")
    assert steps.grant_where_held(db.obj, "basedata.product", "basedata.price",
                                  scope="own") == 1
    assert "basedata.price:own" in stored_grants("manager")


def test_a_grant_the_role_already_holds_is_left_as_it_is(database):
    add_role("已有", {"customers.churn:all", "customers.churn.export:own"})
    steps.grant_where_held(db.obj, "customers.churn", "customers.churn.export")
    assert stored_grants("已有") == {"customers.churn:all", "customers.churn.export:own"}
    assert steps.grant_where_held(db.obj, "customers.churn", "customers.churn.export") == 0


def test_a_retired_permission_leaves_every_role(database):
    assert steps.revoke_everywhere(db.obj, "customers.order") == 2
    assert not any(g.startswith("customers.order") for role in Role.select()
                   for g in stored_grants(role.code))
    assert "customers.customer:own" in stored_grants("manager")  # the others stay


def test_new_dictionary_entries_never_overwrite_the_administrators(database):
    DictionaryEntry.update(value="华北区").where(DictionaryEntry.item == "华北").execute()
    added = steps.add_dictionary_entries(db.obj, [("地区", "华北", "华北", True),
                                                  ("地区", "港澳台", "港澳台", True)])
    assert added == 1
    assert DictionaryEntry.get(DictionaryEntry.item == "华北").value == "华北区"
    assert DictionaryEntry.get(DictionaryEntry.item == "港澳台").editable
