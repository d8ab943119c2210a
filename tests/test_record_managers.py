"""联系人, 交往记录 and 流失记录 carry their customer's 客户经理 (contact.manager_id,
activity.manager_id: migration 0023; churn_record.manager_id: 0024; as 0021 for orders —
tests/test_sales_by_month.py):
the triggers keep it equal to the customer's after every write — the ORM, the forms'
saves, raw SQL, bulk inserts, a customer handed over, a stale object saved, the column
written by hand — and the migration gives the rows already stored theirs. On the suite's
kind of database (SQLite, or PostgreSQL under TEST_DATABASE_URL)."""
import contextlib
import datetime
import itertools
import json
import random

import pytest
from peewee import Table

from models import (
    Activity,
    AuditEntry,
    ChurnRecord,
    Contact,
    Customer,
    db,
    open_database,
    schema,
)
from tests.conftest import migration_before, scratch_database

_numbers = itertools.count(1)
D = datetime.date


def carried(model, database=None):
    query = model.select(model.id, model.manager).tuples()
    return dict(query.bind(database) if database is not None else query)


def expected(model, database=None):
    """{row: its customer's manager}, by the plain join."""
    query = model.select(model.id, Customer.manager).join(Customer).tuples()
    return dict(query.bind(database) if database is not None else query)


def fields(model, customer, rng):
    if model is ChurnRecord:
        return {"customer": customer, "status": ChurnRecord.WARNING}
    if model is Contact:
        return {"customer": customer, "name": f"联系人{next(_numbers)}", "title": "经理",
                "office_phone": "010-1"}
    return {"customer": customer, "date": D(2026, rng.randint(1, 12), 1), "place": "北京",
            "summary": f"拜访{next(_numbers)}"}


@pytest.mark.parametrize("model", [Contact, Activity, ChurnRecord], ids=lambda m: m.__name__)
def test_after_random_writes_every_row_carries_its_customers_manager(users, model):
    rng = random.Random(20261204)
    managers = [users[name] for name in ("xiaoming", "wangcai", "supervisor")]
    customers = [Customer.create(number=f"KHM{next(_numbers):08d}", name=f"经理客户{i}",
                                 manager=managers[i % 2]) for i in range(3)]
    table = model._meta.table_name

    def some_row():
        ids = [row_id for row_id, in model.select(model.id).tuples()]
        return model.get_by_id(rng.choice(ids))

    def create():
        model.create(**fields(model, rng.choice(customers), rng))

    def move():  # to another customer, through the ORM (a form's save)
        row = some_row()
        row.customer = rng.choice(customers)
        row.save()

    def move_in_sql():
        db.execute_sql(f"UPDATE {table} SET customer_id = {rng.choice(customers).id} "
                       f"WHERE id = {some_row().id}")

    def hand_over():
        customer = rng.choice(customers)
        customer.manager = rng.choice(managers)
        customer.save()

    def hand_over_in_sql():
        db.execute_sql(f"UPDATE customer SET manager_id = {rng.choice(managers).id} "
                       f"WHERE id = {rng.choice(customers).id}")

    def stale_save():  # read before a hand-over, saved after it
        row = some_row()
        Customer.update(manager=rng.choice(managers)).where(
            Customer.id == row.customer_id).execute()
        if model is ChurnRecord:
            row.measures = "更新"
        elif model is Contact:
            row.note = "更新"
        else:
            row.place = "上海"
        row.save()

    def write_the_manager():
        db.execute_sql(f"UPDATE {table} SET manager_id = {rng.choice(managers).id} "
                       f"WHERE id = {some_row().id}")

    def bulk_insert():
        model.insert_many([{**fields(model, rng.choice(customers), rng), "customer":
                            rng.choice(customers).id} for _ in range(3)]).execute()

    def delete():
        some_row().delete_instance()

    for _ in range(4):
        create()
    steps = [create, move, move_in_sql, hand_over, hand_over_in_sql, stale_save,
             write_the_manager, bulk_insert, delete]
    done, most = set(), 0
    for number in range(120):
        step = steps[number] if number < len(steps) else rng.choice(steps)
        if model.select().count() < 2:
            step = create
        step()
        done.add(step.__name__)
        assert carried(model) == expected(model), f"after step {number}: {step.__name__}"
        most = max(most, len(set(carried(model).values())))
    assert done == {s.__name__ for s in steps}
    assert most > 1  # more than one manager was carried at once


AT = datetime.datetime(2025, 1, 1, 8)


@contextlib.contextmanager
def installation_before(migration, tmp_path):
    """A database migrated up to the one before ``migration``, with two 客户经理 (ids 1
    and 2) and a customer of each (ids 1 and 2); yields it and an ``insert(table,
    columns, *rows)`` for what else it holds."""
    old = open_database(scratch_database(tmp_path, migration))
    try:
        schema.upgrade(old, target=migration_before(migration))

        def insert(table, columns, *rows):
            Table(table, columns).bind(old).insert(
                [dict(zip(columns, row)) for row in rows]).execute()

        insert("user", ("id", "username", "full_name", "active", "fs_uniquifier", "created_at",
                        "failed_logins", "must_change_password"),
               (1, "laowang", "老王", True, "u1", AT, 0, False),
               (2, "laoli", "老李", True, "u2", AT, 0, False))
        insert("customer", ("id", "number", "name", "manager_id", "status", "created_at"),
               (1, "KH1", "客户1", 1, "active", AT), (2, "KH2", "客户2", 2, "active", AT))
        yield old, insert
    finally:
        getattr(old, "close_all", old.close)()


def test_migration_0023_gives_the_rows_an_installation_already_has_their_managers(tmp_path):
    with installation_before("0023_contact_activity_manager", tmp_path) as (old, insert):
        insert("contact", ("id", "customer_id", "name", "gender", "title", "office_phone"),
               (1, 1, "甲", "M", "经理", "1"), (2, 2, "乙", "F", "经理", "2"))
        insert("activity", ("id", "customer_id", "date", "place", "summary"),
               (1, 2, D(2025, 1, 2), "北京", "拜访"))

        assert "0023_contact_activity_manager" in schema.upgrade(
            old, target="0023_contact_activity_manager")
        assert carried(Contact, old) == {1: 1, 2: 2} == expected(Contact, old)
        assert carried(Activity, old) == {1: 2} == expected(Activity, old)
        old.execute_sql("UPDATE customer SET manager_id = 1 WHERE id = 2")  # the triggers run
        assert carried(Contact, old) == {1: 1, 2: 1} and carried(Activity, old) == {1: 1}


def test_migration_0024_gives_the_churn_records_already_stored_their_managers(tmp_path):
    with installation_before("0024_churn_manager", tmp_path) as (old, insert):
        insert("churn_record", ("id", "customer_id", "status", "created_at"),
               (1, 1, "warning", AT), (2, 2, "warning", AT), (3, 2, "confirmed", AT))

        assert "0024_churn_manager" in schema.upgrade(old, target="0024_churn_manager")
        assert carried(ChurnRecord, old) == {1: 1, 2: 2, 3: 2} == expected(ChurnRecord, old)
        old.execute_sql("UPDATE customer SET manager_id = 1 WHERE id = 2")  # the triggers run
        assert carried(ChurnRecord, old) == {1: 1, 2: 1, 3: 1}


def test_the_audit_log_records_what_users_wrote_not_the_carried_manager(users):
    """A contact read before its customer was handed over holds the old manager; saved,
    its change is what was written, not "客户经理: 旺财 → 小明" (the database puts the
    column right again)."""
    customer = Customer.create(number="KHM-AUDIT", name="审计客户", manager=users["xiaoming"])
    Contact.create(customer=customer, name="审计联系人", title="经理", office_phone="010-1")
    contact = Contact.get(Contact.name == "审计联系人")
    assert contact.manager_id == users["xiaoming"].id
    Customer.update(manager=users["wangcai"]).where(Customer.id == customer.id).execute()
    contact.note = "改了备注"
    contact.save()
    entries = list(AuditEntry.select().where(AuditEntry.entity == "contact")
                   .order_by(AuditEntry.id))
    assert set(json.loads(entries[-1].changes)) == {"note"}
    assert all("manager" not in json.loads(e.changes) for e in entries)
    assert carried(Contact)[contact.id] == users["wangcai"].id
