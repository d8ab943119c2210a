"""Search through the index finds exactly what LIKE finds (models/search.py, migration 0010).

The rule is ``column.contains(word)`` — LIKE/ILIKE '%word%' with the word's % and _ as
plain characters. For a corpus of names (Chinese, Latin in mixed case, digits, %, _,
spaces, quotes) and words of 1 to 6 characters, the index's answer is compared with the
rule's after creates, renames, deletes and raw SQL, on the suite's database (SQLite, or
PostgreSQL under TEST_DATABASE_URL), and through the list pages.
"""
import datetime
import functools
import importlib.util
import logging
import operator
import os
import random
import re

import pytest
from peewee import PostgresqlDatabase, Table

from models import (
    ChurnRecord,
    Customer,
    Opportunity,
    Order,
    ServiceRequest,
    User,
    db,
    open_database,
    schema,
    search,
)
from models.base import local_today
from tests.conftest import migration_before, scratch_database
from tests.test_lists_at_scale import Queries

NAMES = [
    "北京河畔电器有限公司", "河畔电器", "上海电器厂", "电器", "河", "畔河电", "天津河畔",
    "数码科技有限公司", "科技数码", "有限公司科技", "Acme Trading", "ACME trading co", "acme",
    "AbC123", "abc_123", "abcX123", "100%纯净", "100 纯净", "50%_off", "a_b", "a%b", "ab", "aXb",
    "x y z", "前 后", "Ünïcode Café", "ünïcode café", "ＡＢＣ全角", "ａｂｃ全角", '"引号"公司',
    "O'Brien 公司", "a\\b 反斜杠", "KH 开头的名字", "长长长长长长长长长长长长长长长长长长长",
]
REGIONS = ["北京", "华北", "中南", "东北", "西部", None]
WORDS = [
    "%", "_", "\\", '"', "'", " ", "a%b", "A_B", "a_", "_b", "%纯", "0%", "00%", "%_o",
    "河畔", "电器", "畔电", "河畔电器", "北京河畔", "电器有限公司", "科技有限", "有限公司",
    "acme", "ACME", "Trading", "ACME TRADING CO", "e t", "1", "12", "123", "abc", "ABC",
    "ünï", "ÜNÏ", "é", "É", "ａｂｃ", "ＡＢＣ", "kh", "KH2", "kh2501", "华北", "北京", "京",
    "不存在", "长长", "长长长", "长长长长长长长长长长长长长长长长长长长长",
]
CUSTOMER_COLUMNS = [Customer.number, Customer.name, Customer.region]
CUSTOMERS = search.INDEXES[Customer]


@pytest.fixture
def manager(users):
    return users["xiaoming"]


def add_customers(manager, names, start=1):
    return [Customer.create(number=f"KH250101{start + i:03d}", name=name, manager=manager,
                            region=REGIONS[i % len(REGIONS)])
            for i, name in enumerate(names)]


def corpus_words(seed=9):
    """The fixed words, and substrings of 1 to 6 characters of every name (seeded)."""
    rng = random.Random(seed)
    words = list(WORDS)
    for name in [c.name for c in Customer.select(Customer.name)]:
        for length in range(1, 7):
            if len(name) >= length:
                start = rng.randrange(len(name) - length + 1)
                words.append(name[start:start + length])
    return list(dict.fromkeys(w for w in words if w))


def like(fields, word):
    """The rule: the ids whose fields contain the word, read row by row."""
    condition = functools.reduce(operator.or_, [f.contains(word) for f in fields])
    return {c.id for c in Customer.select(Customer.id).where(condition)}


def indexed(fields, word):
    return {c.id for c in Customer.select(Customer.id).where(search.containing(fields, word))}


def assert_same_as_like(words=None):
    words = words or corpus_words()
    for fields in ([Customer.name], CUSTOMER_COLUMNS):
        for word in words:
            assert indexed(fields, word) == like(fields, word), (word, [f.name for f in fields])
            if len(word) >= 2:  # answered by the index, not by reading the rows
                assert CUSTOMERS.rows_containing(word, [f.name for f in fields]) is not None
    return words


def test_the_index_finds_what_like_finds(manager):
    add_customers(manager, NAMES)
    words = assert_same_as_like()
    assert len(words) > 150
    assert like([Customer.name], "河畔") == {c.id for c in Customer.select().where(
        Customer.name.in_(["北京河畔电器有限公司", "河畔电器", "天津河畔"]))}
    assert len(like([Customer.name], "%")) == 3 and len(like([Customer.name], "_")) == 3
    assert like(CUSTOMER_COLUMNS, "华北")  # the region is searched too
    # one word of one character reads the rows; the others use the index
    assert CUSTOMERS.rows_containing("河", ["name"]) is None


def test_the_index_follows_every_write_path(manager):
    customers = add_customers(manager, NAMES)
    words = corpus_words()
    first, second, third = customers[:3]
    # the ORM: a rename, a bulk update, a new number and region, a delete, a create
    first.name = "南京江畔电子有限公司"
    first.save()
    Customer.update(name=Customer.name.concat("（新）")).where(Customer.id == second.id).execute()
    Customer.update(number="KH991231999", region="西部").where(Customer.id == third.id).execute()
    customers[3].delete_instance()
    add_customers(manager, ["江畔电子", "ACME 新公司"], start=500)
    Customer.update(status=Customer.LOST).where(Customer.id == customers[4].id).execute()
    # raw SQL, as an import script or the bench generator writes
    p = db.param
    db.execute_sql("INSERT INTO customer (number, name, region, manager_id, status, created_at) "
                   f"VALUES ('KH250102001', '河畔新村Acme', '华北', {p}, 'active', {p})",
                   (manager.id, datetime.datetime(2025, 1, 2)))
    db.execute_sql(f"UPDATE customer SET name = '旧名换成江畔' WHERE id = {p}", (customers[5].id,))
    db.execute_sql(f"DELETE FROM customer WHERE id = {p}", (customers[6].id,))
    assert_same_as_like(words + ["江畔", "南京江畔", "（新）", "KH991231", "999", "新村"])
    assert indexed([Customer.name], "江畔") == {
        c.id for c in Customer.select().where(Customer.name.contains("江畔"))} != set()
    assert not indexed([Customer.name], "北京河畔")  # renamed away
    # nothing is left behind once every customer is gone
    Customer.delete().execute()
    index = "customer_search" if isinstance(db.obj, PostgresqlDatabase) else "customer_bigram"
    assert Table(index).bind(db.obj).select().count() == 0
    assert all(not indexed(CUSTOMER_COLUMNS, word) for word in ("河畔", "acme", "KH2"))


def test_a_word_many_customers_hold_is_matched_row_by_row_on_sqlite(manager, monkeypatch):
    add_customers(manager, NAMES)
    monkeypatch.setattr(search, "COMMON", 3)
    monkeypatch.setattr(search, "FEW", 1)  # the ids of fewer are handed over (below)
    on_sqlite = not isinstance(db.obj, PostgresqlDatabase)
    for word, holders in [("河畔", 3), ("有限公司", 3), ("电器有限", 1), ("acme", 3), ("ab", 4),
                          ("畔电", 2)]:
        assert len(like([Customer.name], word)) == holders
        read_rows = CUSTOMERS.rows_containing(word, ["name"]) is None
        assert read_rows == (on_sqlite and holders >= 3), word  # PostgreSQL: its planner's
        assert indexed([Customer.name], word) == like([Customer.name], word)


def test_a_word_few_rows_hold_is_answered_with_their_ids_read_once(
        client_for, manager, database, monkeypatch):
    """At most FEW matches: the index is read once and the page and its count carry the ids
    (PostgreSQL then ORs a service's two searched tables through two index scans); more:
    the sub-select, which each statement runs."""
    add_customers(manager, NAMES)
    monkeypatch.setattr(search, "FEW", 3)
    assert sorted(CUSTOMERS.rows_containing("河畔", ["name"])) == sorted(
        like([Customer.name], "河畔"))  # 3 holders
    assert not isinstance(CUSTOMERS.rows_containing("ab", ["name"]), list)  # 4 holders
    index = "customer_search" if isinstance(db.obj, PostgresqlDatabase) else "customer_bigram"
    client = client_for("xiaoming")  # (his list: every customer here is his)
    client.get("/admin/customer/")
    pg = isinstance(db.obj, PostgresqlDatabase)
    # more: the ids read up to FEW, counted up to COMMON (SQLite), then in the page and count
    for word, reads in (("河畔", 1), ("ab", 3 if pg else 4)):
        with Queries(database) as seen:
            page = client.get(f"/admin/customer/?search={word}").get_data(as_text=True)
        assert sum(index in sql for sql in seen) == reads, (word, seen)
        assert listed_numbers(page) == numbers(Customer.name.contains(word)), word


# -- through the list pages ------------------------------------------------------------------

NUMBER = re.compile(r"KH\d{9}")


def listed(client, url):
    return listed_numbers(client.get(url).get_data(as_text=True))


def listed_numbers(page):
    return set(NUMBER.findall(page))


def numbers(condition):
    return {c.number for c in Customer.active().where(condition)}


def test_the_customer_list_shows_the_rows_like_finds(client_for, manager):
    add_customers(manager, NAMES)
    client = client_for("supervisor")
    for word in ["河畔", "电器", "河畔电器", "acme", "ACME", "%", "a_b", "123", "华北", "KH2501",
                 "有限公司", "京"]:
        expected = numbers(functools.reduce(operator.or_, [
            f.contains(word) for f in CUSTOMER_COLUMNS]))
        assert listed(client, f"/admin/customer/?page_size=100&search={word}") == expected, word
    # words are ANDed, and ^ / = keep Flask-Admin's prefix and exact meaning
    assert listed(client, "/admin/customer/?search=河畔 电器") == numbers(
        Customer.name.contains("河畔") & Customer.name.contains("电器"))
    assert listed(client, "/admin/customer/?search=^河畔") == numbers(
        Customer.name.startswith("河畔"))
    assert listed(client, "/admin/customer/?search==ACME") == numbers(Customer.name == "acme")


def test_a_list_searching_the_customer_name_through_a_join(client_for, users):
    today = local_today()
    names = ["河畔电器", "北京河畔", "电器城", "ACME 电器"]
    for i, name in enumerate(names):
        customer = Customer.create(number=f"KH250103{i:03d}", name=name,
                                   manager=users["xiaoming"],
                                   created_at=datetime.datetime(2024, 1, 1, 9))
        Order.create(customer=customer, number=f"DD-{i}", address="北京",
                     date=today - datetime.timedelta(days=300))
    ChurnRecord.detect(today)
    assert ChurnRecord.select().count() == len(names)
    client = client_for("supervisor")
    for word in ["河畔", "电器", "acme", "河畔电器", "%", "不存在"]:
        assert listed(client, f"/admin/churn/?search={word}") == numbers(
            Customer.name.contains(word)), word


def test_the_customer_picker_uses_the_same_rule(client_for, manager):
    add_customers(manager, NAMES)
    client = client_for("xiaoming")
    for word in ["河畔", "acme", "%", "KH25010100"]:
        found = client.get(f"/admin/contact/ajax/lookup/?name=customer&query={word}").get_json()
        expected = {c.id for c in Customer.select().where(
            Customer.number.contains(word) | Customer.name.contains(word))}
        assert {row[0] for row in found} == set(sorted(expected)[:10]), word


# -- the upgrade, and no trigram index ---------------------------------------------------------

@pytest.fixture
def other_database():
    """Point the models at another database for a test, then back."""
    suite = db.obj
    opened = []

    def use(url):
        database = open_database(url)
        opened.append(database)
        db.initialize(database)
        return database
    yield use
    db.initialize(suite)
    for database in opened:
        getattr(database, "close_all", database.close)()


def insert_old_customers(database, names):
    """Customers as an installation before 0010 holds them, written past the models."""
    user = Table("user", ("id", "username", "full_name", "password", "active", "fs_uniquifier",
                          "failed_logins", "must_change_password", "created_at")).bind(database)
    user.insert(username="old", full_name="老经理", password="x", active=True,
                fs_uniquifier="u-old", failed_logins=0, must_change_password=False,
                created_at=datetime.datetime(2024, 1, 1)).execute()
    user_id = user.select(user.id).where(user.username == "old").scalar()
    Table("customer", ("number", "name", "region", "manager_id", "status", "created_at")).bind(
        database).insert([{"number": f"KH240101{i:03d}", "name": name, "region": "北京",
                           "manager_id": user_id, "status": "active",
                           "created_at": datetime.datetime(2024, 1, 1)}
                          for i, name in enumerate(names)]).execute()


def test_an_upgrade_indexes_the_customers_already_stored(tmp_path, other_database):
    database = other_database(scratch_database(tmp_path, "search_upgrade"))
    before = migration_before("0010_customer_search")
    assert schema.upgrade(database, target=before)[-1] == before
    insert_old_customers(database, NAMES)
    assert "0010_customer_search" in schema.upgrade(database)
    assert indexed([Customer.name], "河畔") == like([Customer.name], "河畔") != set()
    assert_same_as_like()


def load_migration():
    path = os.path.join(schema.MIGRATIONS_DIR, "0010_customer_search.py")
    spec = importlib.util.spec_from_file_location("search_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_trigram_index(tmp_path, other_database):
    """A database upgraded where the trigram index cannot be made: on PostgreSQL by a role
    without the CREATE privilege pg_trgm needs, on SQLite by a tokenizer it lacks."""
    url = scratch_database(tmp_path, "no_trigram")
    if not url.startswith("postgres"):
        database = other_database(url)
        schema.upgrade(database, target=migration_before("0010_customer_search"))
        insert_old_customers(database, NAMES)
        migration = load_migration()
        migration.TOKENIZER = "no_such_tokenizer"
        with database.atomic():
            migration.up(None, database)
        return database
    name = url.rpartition("/")[2]
    admin = open_database(url)
    try:
        if not admin.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = 'testb_nopriv'") \
                .fetchone():
            admin.execute_sql("CREATE ROLE testb_nopriv LOGIN")
        admin.execute_sql(f'REVOKE CREATE, TEMP ON DATABASE "{name}" FROM PUBLIC')
        admin.execute_sql("GRANT CREATE ON SCHEMA public TO testb_nopriv")
    finally:
        admin.close_all()
    database = other_database(url.replace("://postgres@", "://testb_nopriv@"))
    schema.upgrade(database, target=migration_before("0010_customer_search"))
    insert_old_customers(database, NAMES)
    schema.upgrade(database)
    return database


def test_without_a_trigram_index_search_reads_the_rows_and_says_so_once(
        tmp_path, other_database, caplog):
    caplog.set_level(logging.WARNING)
    database = without_trigram_index(tmp_path, other_database)
    assert [r for r in caplog.records if r.name == "crm.schema"]  # the upgrade said it
    caplog.clear()
    for word in ["河畔电器", "acme", "有限公司", "%纯净"]:
        assert CUSTOMERS.rows_containing(word, ["name"]) is None
        assert indexed([Customer.name], word) == like([Customer.name], word)
    assert not CUSTOMERS.trigram_index(database)
    assert CUSTOMERS.rows_containing("河畔", ["name"]) is not None  # 2 characters: indexed
    assert_same_as_like([w for w in WORDS if len(w) == 2])
    warnings = [r for r in caplog.records if r.name == "crm.search"]
    assert len(warnings) == 1 and "no trigram index" in warnings[0].getMessage()


# -- the services' and opportunities' own texts (migration 0018) -------------------------------

def add_services(users, names):
    customer = Customer.create(number="KH250109001", name="服务客户", manager=users["xiaoming"])
    return [ServiceRequest.create(
        service_type=name[:20] if i % 3 else "咨询", summary=name if i % 3 != 1 else "概要",
        customer=customer, request="-", created_by=users["xiaoming"],
        status=ServiceRequest.ARCHIVED) for i, name in enumerate(names)]


def add_opportunities(users, names):
    return [Opportunity.create(
        customer_name=name, summary=NAMES[-1 - i], contact=REGIONS[i % len(REGIONS)],
        probability=50, description="-", created_by=users["supervisor"])
        for i, name in enumerate(names)]


ROWS = {ServiceRequest: add_services, Opportunity: add_opportunities}


def rows_like(model, fields, word):
    condition = functools.reduce(operator.or_, [f.contains(word) for f in fields])
    return {r.id for r in model.select(model.id).where(condition)}


def rows_indexed(model, fields, word):
    return {r.id for r in model.select(model.id).where(search.containing(fields, word))}


def assert_rows_same_as_like(model, words):
    index = search.INDEXES[model]
    columns = [getattr(model, c) for c in index.columns]
    for fields in [[c] for c in columns] + [columns]:
        for word in words:
            assert rows_indexed(model, fields, word) == rows_like(model, fields, word), (
                model.__name__, word, [f.name for f in fields])
            if len(word) >= 2:
                assert index.rows_containing(word, [f.name for f in fields]) is not None


def text_words(model, seed=5):
    """The fixed words, and substrings of 1 to 6 characters of every indexed text."""
    rng = random.Random(seed)
    words = list(WORDS)
    columns = [getattr(model, c) for c in search.INDEXES[model].columns]
    for row in model.select(*columns).tuples():
        for value in filter(None, row):
            for length in range(1, 7):
                if len(value) >= length:
                    start = rng.randrange(len(value) - length + 1)
                    words.append(value[start:start + length])
    return list(dict.fromkeys(w for w in words if w))


@pytest.mark.parametrize("model", [ServiceRequest, Opportunity], ids=lambda m: m.__name__)
def test_service_and_opportunity_texts_are_found_as_like_finds(users, model):
    rows = ROWS[model](users, NAMES)
    words = text_words(model)
    assert len(words) > 150
    assert_rows_same_as_like(model, words)
    # every write path keeps the index: the ORM, a bulk update, raw SQL, a delete
    first, second, third = rows[:3]
    column = next(iter(search.INDEXES[model].columns))
    model.update({column: "江畔电子"}).where(model.id == first.id).execute()
    model.update(summary=model.summary.concat("（新）")).where(model.id == second.id).execute()
    third.delete_instance()
    p = db.param
    db.execute_sql(f"UPDATE {model._meta.table_name} SET summary = '旧名换成江畔' "
                   f"WHERE id = {p}", (rows[4].id,))
    db.execute_sql(f"DELETE FROM {model._meta.table_name} WHERE id = {p}", (rows[5].id,))
    ROWS[model](users, ["河畔新村Acme"]) if model is Opportunity else None
    assert_rows_same_as_like(model, words + ["江畔", "江畔电子", "（新）", "新村", "acme"])
    assert rows_indexed(model, [getattr(model, column)], "江畔") == {first.id}
    model.delete().execute()
    index = search.INDEXES[model]
    table = index.search_table if isinstance(db.obj, PostgresqlDatabase) else \
        index.bigrams.__name__
    assert Table(table).bind(db.obj).select().count() == 0


def service_ids(client, url):
    return {int(i) for i in re.findall(r"/(?:details|edit)/\?id=(\d+)", client.get(url).get_data(
        as_text=True))}


def test_the_service_and_opportunity_lists_show_the_rows_like_finds(client_for, users):
    add_services(users, NAMES)
    add_opportunities(users, NAMES)
    client = client_for("supervisor")
    services = [Customer.name, ServiceRequest.summary, ServiceRequest.service_type]
    opportunities = [Opportunity.customer_name, Opportunity.summary, Opportunity.contact]
    for word in ["河畔", "电器", "河畔电器", "acme", "ACME", "%", "a_b", "服务客户", "咨询", "京"]:
        expected = {s.id for s in ServiceRequest.select(ServiceRequest.id).join(Customer)
                    .where(functools.reduce(operator.or_, [f.contains(word) for f in services]))}
        assert service_ids(client, f"/admin/service_archive/?page_size=100&search={word}") \
            == expected, word
        assert service_ids(client, f"/admin/opportunity/?page_size=100&search={word}") \
            == rows_like(Opportunity, opportunities, word), word


@pytest.mark.parametrize("model", [ServiceRequest, Opportunity], ids=lambda m: m.__name__)
def test_an_upgrade_indexes_the_rows_already_stored(tmp_path, other_database, users, model):
    database = other_database(scratch_database(tmp_path, "text_upgrade"))
    before = migration_before("0018_text_search")
    schema.upgrade(database, target=before)
    with database.atomic():  # the rows as such an installation holds them
        User.insert_many([{k: getattr(u, k) for k in (
            "id", "username", "full_name", "password", "active", "fs_uniquifier",
            "failed_logins", "must_change_password", "created_at")} for u in users.values()
        ]).execute()
        ROWS[model](users, NAMES)
    assert "0018_text_search" in schema.upgrade(database)
    assert_rows_same_as_like(model, text_words(model))
