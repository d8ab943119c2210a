"""Reference data: the data dictionary of SPEC.md and the four roles with their grants.

This is what a *new* installation starts with, as of this release: ``load()`` writes
it once, into a database that holds no reference data yet (``flask init-db`` when it
has just created the schema). After that the dictionary and the grants are the
administrator's, and no deployment loads them again: a change a release makes to
them is a numbered migration (``models/reference.py``: "roles that held X get Y",
renames, new entries), which an upgraded installation applies to what it holds.
So whoever changes ``ROLES`` or ``DICTIONARY`` writes the migration that does the same
to existing installations; tests/test_upgrade.py fails until both agree.
"""
from models import DictionaryEntry, Role, db
from models.basedata import CUSTOMER_LEVEL, REGION, SERVICE_TYPE
from models.security import ALL, OWN, format_grant

DICTIONARY = [
    # (category, item, value, editable)
    (CUSTOMER_LEVEL, "普通客户", "1", False),
    (CUSTOMER_LEVEL, "重点开发客户", "2", False),
    (CUSTOMER_LEVEL, "大客户", "3", False),
    (CUSTOMER_LEVEL, "合作伙伴", "4", False),
    (CUSTOMER_LEVEL, "战略合作伙伴", "5", False),
    (SERVICE_TYPE, "咨询", "咨询", True),
    (SERVICE_TYPE, "建议", "建议", True),
    (SERVICE_TYPE, "投诉", "投诉", True),
    (REGION, "北京", "北京", True),
    (REGION, "华北", "华北", True),
    (REGION, "中南", "中南", True),
    (REGION, "东北", "东北", True),
    (REGION, "西部", "西部", True),
]

REPORTS = ["reports.contribution", "reports.composition", "reports.service", "reports.churn"]

# The role table of SPEC.md as grants {code: scope}.
ROLES = {
    "admin": ("系统管理员", "用户、角色、权限；数据字典", {
        "security.user": None, "security.user.unlock": None,  # 0006_unlock_permission
        "security.role": None, "security.permission": None,
        "security.audit": None,  # 0012_audit_log
        "basedata.dictionary": None,
    }),
    "supervisor": ("销售主管", "创建并指派销售机会；查看全部客户并处理流失；分配服务；查看报表", {
        "marketing.opportunity": ALL, "marketing.opportunity.create": None,
        "marketing.opportunity.edit": ALL, "marketing.opportunity.delete": OWN,
        "marketing.opportunity.assign": None,
        "marketing.plan": ALL, "marketing.plan.make": ALL, "marketing.plan.execute": ALL,
        "marketing.plan.close": ALL,
        "customers.customer": ALL, "customers.customer.import": None, "customers.order": ALL,
        "customers.churn": ALL, "customers.churn.postpone": ALL, "customers.churn.confirm": ALL,
        "service.assign": None, "service.archive": ALL,
        **{code: ALL for code in REPORTS},
    }),
    "manager": ("客户经理", "开发指派的机会；维护自己的客户；处理服务；查询产品与库存", {
        "marketing.opportunity": OWN, "marketing.opportunity.create": None,
        "marketing.opportunity.edit": OWN, "marketing.opportunity.delete": OWN,
        "marketing.plan": OWN, "marketing.plan.make": OWN, "marketing.plan.execute": OWN,
        "marketing.plan.close": OWN,
        "customers.customer": OWN, "customers.customer.edit": OWN,
        "customers.customer.delete": OWN, "customers.contact": OWN, "customers.activity": OWN,
        "customers.order": OWN,
        "customers.churn": OWN, "customers.churn.postpone": OWN, "customers.churn.confirm": OWN,
        "service.create": None, "service.handle": OWN, "service.feedback": OWN,
        "service.archive": OWN,
        "basedata.product": None, "basedata.stock": None,
    }),
    "executive": ("高管", "查看全部报表", {code: ALL for code in REPORTS}),
}


def is_loaded():
    """Whether this installation has its reference data: any role or dictionary entry.

    An administrator cannot empty both (the 系统管理员 role has a user, and the
    企业客户等级 entries cannot be deleted), so "none at all" means "never loaded".
    """
    return Role.select().exists() or DictionaryEntry.select().exists()


def load_dictionary():
    DictionaryEntry.insert_many([{"category": c, "item": i, "value": v, "editable": e}
                                 for c, i, v, e in DICTIONARY]).execute()


def load_roles():
    Role.insert_many([{"code": code, "name": name, "description": description,
                       "permissions": ",".join(sorted(format_grant(c, s)
                                                      for c, s in grants.items()))}
                      for code, (name, description, grants) in ROLES.items()]).execute()


def load():
    """Write the reference data into an installation that has none; else change nothing
    (what the administrator deleted or changed stays so). Returns whether it loaded."""
    with db.atomic():
        if is_loaded():
            return False
        load_dictionary()
        load_roles()
        return True
