"""审计日志 (models/audit.py): every change, step, grant and login event is recorded with
its before and after values, in the transaction of the change; no secret is recorded;
nobody alters an entry."""
import pytest
from peewee import IntegrityError

from models import (
    AuditEntry,
    ChurnRecord,
    Customer,
    DomainError,
    Opportunity,
    Role,
    User,
    audit,
    db,
)
from models.base import local_today
from tests.conftest import PASSWORD, csrf_token, login


def entries(action=None, **where):
    query = AuditEntry.select().order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    for field, value in where.items():
        query = query.where(getattr(AuditEntry, field) == value)
    return list(query)


def customer(users, name="北京星光电子", manager="xiaoming", **fields):
    return Customer.create(**{"number": f"KH26120{len(name):04d}", "name": name,
                              "manager": users[manager], "region": "北京", "level": 1,
                              **fields})


# -- the rule, without HTTP ----------------------------------------------------------------

def test_a_created_record_is_recorded_with_its_values(users):
    made = customer(users, bank_account="6222 0001")
    entry, = entries(audit.CREATE, entity="customer")
    assert (entry.entity_id, entry.label) == (made.id, str(made))  # "KH… 北京星光电子"
    assert entry.changed["bank_account"] == (None, "6222 0001")
    assert entry.changed["manager"] == (None, "小明")  # a related record by its name
    assert entry.origin is None and entry.user_id is None  # no request, no command


def test_an_update_records_only_what_changed_from_what_was_stored(users):
    made = customer(users, bank_account="6222 0001")
    made = Customer.get_by_id(made.id)
    made.bank_account, made.manager = "6222 0002", users["wangcai"]
    made.name = "北京星光电子"  # typed again as it was: no change
    made.save()
    entry, = entries(audit.UPDATE, entity="customer")
    assert entry.changed == {"bank_account": ("6222 0001", "6222 0002"),
                             "manager": ("小明", "旺财")}
    made.save()  # nothing changed: nothing recorded
    assert len(entries(audit.UPDATE)) == 1


def test_a_save_of_some_columns_records_those_only(users):
    made = customer(users)
    made.bank_account, made.phone = "1", "2"
    made.save(only=[Customer.phone])
    entry, = entries(audit.UPDATE)
    assert entry.changed == {"phone": (None, "2")}


def test_a_delete_records_what_the_record_held(users):
    made = customer(users, phone="010-1")
    made.delete_instance()
    entry, = entries(audit.DELETE)
    assert (entry.entity, entry.entity_id, entry.label) == ("customer", made.id, str(made))
    assert entry.changed["phone"] == ("010-1", None)


def test_the_entry_goes_with_its_change_when_the_change_is_rolled_back(users):
    made = customer(users)
    with pytest.raises(IntegrityError):
        with db.atomic():
            made.bank_account = "6222"
            made.save()
            Customer.create(number=made.number, name="重号", manager=users["xiaoming"],
                            region="北京", level=1)  # the same 客户编号: refused
    assert Customer.get_by_id(made.id).bank_account is None
    assert entries(audit.UPDATE) == [] and len(entries(audit.CREATE)) == 1


def test_a_workflow_step_is_recorded_with_its_moves(users):
    opportunity = Opportunity.open(users["supervisor"], customer_name="星光", source="展会",
                                   probability=50, summary="电视", contact="张三",
                                   contact_phone="138", description="要买电视")
    opportunity.assign(users["xiaoming"].id, by=users["supervisor"].id)
    step, = entries(audit.STEP)
    assert (step.step, step.user_id, step.entity_id) == ("assign", users["supervisor"].id,
                                                         opportunity.id)
    assert step.changed["status"] == (Opportunity.NEW, Opportunity.ASSIGNED)
    assert step.changed["assigned_to"] == (None, "小明")


def test_a_grant_change_is_recorded_with_before_and_after(users):
    role = Role.get(Role.code == "executive")
    grants = role.grants()
    grants["security.audit"] = None
    del grants["reports.churn"]
    role.set_grants(grants, by=users["admin"])
    entry, = entries(audit.GRANT)
    assert entry.user_id == users["admin"].id and entry.entity == "role"
    assert set(entry.changed) == {"security.audit", "reports.churn"}
    assert entries(audit.UPDATE, entity="role") == []  # one entry, not two


def test_a_change_of_roles_is_a_change_of_the_user(users):
    xiaoming = users["xiaoming"]
    xiaoming.set_roles([Role.get(Role.code == "manager"), Role.get(Role.code == "executive")])
    entry, = entries(audit.UPDATE, entity="user")
    before, after = entry.changed["roles"]
    assert before == ["客户经理"] and after == sorted(["客户经理", "高管"])


def test_entries_collected_are_written_together_in_order_or_not_at_all(users, database):
    seen = []
    real = database.execute_sql
    database.execute_sql = lambda *a, **k: seen.append(a[0]) or real(*a, **k)
    try:
        with database.atomic(), audit.collected():
            first = customer(users, "甲")
            second = customer(users, "乙乙")
            assert entries() == []  # kept until the block ends
    finally:
        database.execute_sql = real
    assert [e.entity_id for e in entries(audit.CREATE)] == [first.id, second.id]
    assert len([sql for sql in seen if sql.startswith('INSERT INTO "audit_entry"')]) == 1
    with pytest.raises(DomainError), database.atomic(), audit.collected():
        customer(users, "丙丙丙")
        raise DomainError("refused")
    assert len(entries()) == 2 and not Customer.select().where(Customer.name == "丙丙丙").exists()


def test_detect_churn_records_every_warning_it_opens(users):
    lost = customer(users, "长久沉默的客户")
    Customer.update(created_at=lost.created_at.replace(year=2020)).where(
        Customer.id == lost.id).execute()
    with audit.origin("flask detect-churn"):
        assert ChurnRecord.detect(local_today()) == 1
    entry, = entries(audit.CREATE, entity="churn_record")
    assert entry.label == "长久沉默的客户" and entry.origin == "flask detect-churn"
    assert entry.entity_id == ChurnRecord.get().id


def test_nobody_alters_the_log(users):
    customer(users)
    entry, = entries()
    entry.note = "改过"
    with pytest.raises(DomainError):
        entry.save()
    with pytest.raises(DomainError):
        entry.delete_instance()
    with pytest.raises(DomainError):
        AuditEntry.update(note="改过")
    with pytest.raises(DomainError):
        AuditEntry.delete()
    with pytest.raises(Exception, match="append-only"):  # below the model too
        with db.atomic():
            db.execute_sql("UPDATE audit_entry SET note = 'x'")
    assert AuditEntry.get_by_id(entry.id).note is None


# -- through the screens -------------------------------------------------------------------

def test_an_edit_on_the_form_records_who_from_where_and_before_and_after(app, users, client_for):
    from tests.test_customers_views import EDIT
    typed = {name: value for name, value in EDIT.items() if value}
    made = customer(users, **{**typed, "level": 3, "satisfaction": 4, "credit": 5})
    manager = client_for("xiaoming")
    manager.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    url = f"/admin/customer/edit/?id={made.id}"
    data = {**EDIT, "bank_account": "6222 9999", "phone": "010-8888",
            "csrf_token": csrf_token(manager, url)}
    assert manager.post(url, data=data).status_code == 302
    entry, = entries(audit.UPDATE, entity="customer")
    assert (entry.user_id, entry.origin) == (users["xiaoming"].id, "10.1.2.3")
    assert entry.changed == {"bank_account": ("6222", "6222 9999"), "phone": ("010-1", "010-8888")}


def test_logins_logouts_and_failed_logins_are_recorded(app, users):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    login(client, "xiaoming", "wrong-password")
    login(client, "nobody", "wrong-password")
    assert login(client, "xiaoming").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    client.get("/logout")
    failed_known, failed_unknown = entries(audit.LOGIN_FAILED)
    assert (failed_known.entity_id, failed_known.username, failed_known.user_id,
            failed_known.origin) == (users["xiaoming"].id, "xiaoming", None, "10.9.9.9")
    assert (failed_unknown.entity_id, failed_unknown.username) == (None, "nobody")
    logged_in, = entries(audit.LOGIN)
    assert (logged_in.user_id, logged_in.origin) == (users["xiaoming"].id, "10.9.9.9")
    assert entries(audit.LOGOUT)[0].user_id == users["xiaoming"].id
    assert entries(audit.UPDATE) == []  # Flask-Security's login tracking is not a change


def test_a_lockout_and_its_unlock_are_recorded(app, users):
    for _ in range(app.config["LOCKOUT_ATTEMPTS"]):
        login(app.test_client(), "wangcai", "wrong-password")
    lockout, = entries(audit.LOCKOUT)
    assert lockout.entity_id == users["wangcai"].id
    User.get_by_id(users["wangcai"].id).unlock(now=lockout.at)
    assert entries(audit.UNLOCK)[0].entity_id == users["wangcai"].id


def test_no_password_or_token_reaches_the_log(app, users, client_for):
    from tests.test_security import _edit_user
    admin = client_for("admin")
    new_password = "Zhen-Nan-Cai-9431"
    assert _edit_user(admin, users["xiaoming"], new_password).status_code == 302
    stored = User.get_by_id(users["xiaoming"].id)
    entry, = entries(audit.UPDATE, entity="user")
    assert entry.changed["password"] == (audit.HIDDEN, audit.HIDDEN)
    secrets = {new_password, PASSWORD, stored.password, stored.fs_uniquifier,
               users["xiaoming"].fs_uniquifier}
    for row in AuditEntry.select().tuples():
        for secret in secrets:
            assert not any(secret in str(cell) for cell in row), row


# -- 审计日志 and a record's history, as the screens show them ---------------------------------

def page(response):
    return response.get_data(as_text=True)


def plain(html):
    import re
    return re.sub(r"<[^>]+>", "", html)


def menu_link(client, label):
    import re
    found = re.search(rf'<a[^>]*href="([^"]+)"[^>]*>\s*{label}\s*</a>', page(client.get("/admin/")))
    assert found, f"no menu entry {label}"
    return found.group(1)


def test_the_log_is_read_from_its_menu_entry_and_filtered(users, client_for):
    from tests.test_filters import chosen
    made = customer(users, bank_account="6222 0001")
    made.bank_account = "6222 0002"
    made.save()
    admin = client_for("admin")
    url = menu_link(admin, "审计日志")
    listed = page(admin.get(url))
    assert "6222 0001 → 6222 0002" in listed and "银行帐号" in listed  # the screen's label
    assert listed.count("crm-audit-changes") >= 2  # created, changed; and admin's login
    only_updates = page(admin.get(chosen(admin, url, "操作", option="修改")))
    assert "6222 0001 → 6222 0002" in only_updates and "新建" not in only_updates.split(
        "<tbody")[-1]
    by_type = page(admin.get(chosen(admin, url, "记录类型", option="用户")))
    assert "6222 0002" not in by_type


def test_the_log_is_exported_whole(users, client_for):
    import csv
    import io
    made = customer(users)
    made.phone = "010-1"
    made.save()
    admin = client_for("admin")
    rows = list(csv.reader(io.StringIO(page(admin.get("/admin/audit/export/csv/")).lstrip(
        "\ufeff"))))
    assert rows[0][:4] == ["时间", "操作人", "来源", "操作"]
    assert any("电话：— → 010-1" in cell for row in rows for cell in row)


@pytest.mark.parametrize("username", ["supervisor", "xiaoming", "executive"])
def test_only_who_holds_its_permission_reads_the_log(users, client_for, username):
    client = client_for(username)
    assert "审计日志" not in page(client.get("/admin/"))
    for url in ("/admin/audit/", "/admin/audit/export/csv/", "/admin/audit/export/xlsx/"):
        assert client.get(url).status_code == 403, url


def test_no_screen_writes_to_the_log(users, client_for):
    customer(users)
    entry = AuditEntry.get()
    admin = client_for("admin")
    listed = page(admin.get("/admin/audit/"))
    assert "/admin/audit/edit/" not in listed and "/admin/audit/delete/" not in listed
    assert admin.get(f"/admin/audit/edit/?id={entry.id}").status_code in (403, 404, 302)
    admin.post("/admin/audit/delete/", data={"id": entry.id,
                                            "csrf_token": csrf_token(admin, "/admin/audit/")})
    assert AuditEntry.get_by_id(entry.id).label == entry.label


def test_a_records_page_shows_its_history_of_changes_and_steps(users, client_for):
    from tests.test_customers_views import EDIT
    typed = {name: value for name, value in EDIT.items() if value}
    made = customer(users, **{**typed, "level": 3, "satisfaction": 4, "credit": 5})
    manager = client_for("xiaoming")
    url = f"/admin/customer/edit/?id={made.id}"
    manager.post(url, data={**EDIT, "bank_account": "6222 9999",
                            "csrf_token": csrf_token(manager, url)})
    shown = page(manager.get(f"/admin/customer/details/?id={made.id}"))
    history = plain(shown.split('id="crm-record-history"')[1])
    assert "银行帐号" in history and "6222 → 6222 9999" in history and "小明" in history
    assert "新建" in history and "修改" in history


def test_a_step_shows_on_the_records_page_by_its_name_and_status_labels(app, users, client_for):
    from admin_views.formats import shown_time
    opportunity = Opportunity.open(users["supervisor"], customer_name="星光", source="展会",
                                   probability=50, summary="电视", contact="张三",
                                   contact_phone="138", description="要买电视")
    opportunity.assign(users["xiaoming"].id, by=users["supervisor"].id)
    shown = page(client_for("xiaoming").get(f"/admin/plan/details/?id={opportunity.id}"))
    history = plain(shown.split('id="crm-record-history"')[1])
    assert "指派" in history and "状态：未指派 → 已指派" in history
    assert "指派给：— → 小明" in history
    with app.test_request_context():
        assert f"指派时间：— → {shown_time(opportunity.assigned_at)}" in history  # Beijing


def test_the_administrators_home_shows_the_latest_entries(users, client_for):
    made = customer(users, "最近改过的客户")
    made.phone = "010-1"
    made.save()
    admin = client_for("admin")
    home = page(admin.get("/admin/"))
    latest = plain(home.split('id="crm-latest-audit"')[1].split("</ul>")[0])
    assert "修改" in latest and "新建" in latest and "最近改过的客户" in latest
    assert 'id="crm-latest-audit"' not in page(client_for("supervisor").get("/admin/"))


def test_a_rules_conditional_delete_is_recorded_with_what_the_row_held(users):
    opportunity = Opportunity.open(users["supervisor"], customer_name="星光", source="展会",
                                   probability=50, summary="电视", contact="张三",
                                   contact_phone="138", description="要买电视")
    opportunity.delete_unassigned()
    entry, = entries(audit.DELETE)
    assert (entry.entity, entry.entity_id) == ("opportunity", opportunity.id)
    assert entry.changed["summary"] == ("电视", None)
    assert entry.changed["created_by"] == ("王主管", None)


def test_a_refused_conditional_delete_records_nothing(users):
    opportunity = Opportunity.open(users["supervisor"], customer_name="星光", source="展会",
                                   probability=50, summary="电视", contact="张三",
                                   contact_phone="138", description="要买电视")
    opportunity.assign(users["xiaoming"].id, by=users["supervisor"].id)
    with pytest.raises(DomainError):
        opportunity.delete_unassigned()
    assert entries(audit.DELETE) == []


def test_the_english_log_names_seeded_roles_and_import_modes_in_english(users, client_for):
    import csv
    import io

    from models.customers import imports
    from tests.test_import import cells
    executive = Role.get(Role.code == "executive")
    executive.set_grants({**executive.grants(), "security.audit": None}, by=users["admin"])
    users["xiaoming"].set_roles([Role.get(Role.code == "manager"), executive])
    plan, batch = imports.run_import(
        [(2, cells(名称="甲", 电话="1"))],
        imports.CREATE, file_name="a.csv", by=users["supervisor"], at=AuditEntry.get().at)
    assert batch is not None, [f.message for r in plan.rows for f in r.faults]
    admin = client_for("admin")
    admin.get("/locale/en")
    listed = plain(page(admin.get("/admin/audit/")))
    assert "Executive" in listed and "高管" not in listed
    assert "Roles: Account manager → Account manager, Executive" in listed
    assert "Import mode: — → Create only" in listed
    exported = page(admin.get("/admin/audit/export/csv/")).lstrip("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert "Executive" in cells and not any("高管" in cell or "客户经理" in cell for cell in cells)
