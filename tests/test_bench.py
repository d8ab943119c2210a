"""The large benchmark (bench/) at a tiny scale: the generator's shapes and the runner's
coverage. Nothing here is about speed (bench/README.md holds the numbers)."""
import datetime
import os
import re
import sys

import pytest
from peewee import fn

from models import (
    ALL_MODELS,
    ChurnRecord,
    Contact,
    Customer,
    Opportunity,
    Order,
    OrderLine,
    PlanItem,
    ServiceRequest,
    StatusChange,
    User,
    db,
    schema,
)
from seed import reference

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))
import generate  # noqa: E402
import large  # noqa: E402

TODAY = datetime.date(2026, 6, 15)
COMPANY = re.compile(r"[\u4e00-\u9fff（）]+公司")


def build(app):
    with app.app_context():
        return generate.Generator(db.obj, "small", today=TODAY).run()


def clear():
    schema.empty(db.obj, ALL_MODELS)
    reference.load()


@pytest.fixture
def built(app):
    return build(app)


def test_the_generated_database(built):
    """One build (each one costs a second on PostgreSQL), every shape of it."""
    rows_are_the_sizes_asked_for(built)
    every_status_is_present()
    names_are_chinese_companies_sharing_their_words(built)
    shapes_of_people_and_orders()


def test_sizes_are_the_scale_of_the_large_database():
    small, full = generate.sizes("small"), generate.sizes(1)
    assert full["customers"] == 100_000 and full["orders"] == 1_000_000
    assert full["order_lines"] == 2_500_000
    for name, count in small.items():
        assert count == max(generate.MINIMUM[name], round(full[name] * 0.002))


def rows_are_the_sizes_asked_for(built):
    size = built["sizes"]
    assert Customer.select().count() == size["customers"] == 200
    assert Order.select().count() == size["orders"]
    assert OrderLine.select().count() == size["order_lines"]
    assert Contact.select().count() == size["contacts"]
    assert Opportunity.select().count() == size["opportunities"]
    assert ServiceRequest.select().count() == size["services"]
    assert ChurnRecord.select().count() == size["churn_records"]
    assert built["rows"]["customer"] == size["customers"]


def every_status_is_present():
    for model in (Customer, Order, Opportunity, ServiceRequest, ChurnRecord):
        statuses = {s for s, in model.select(model.status).distinct().tuples()}
        assert statuses == set(model.STATUS), model
    developed = Opportunity.select().where(Opportunity.status == Opportunity.DEVELOPED)
    assert all(o.customer_id and o.customer.name == o.customer_name for o in developed)
    assert PlanItem.select().where(PlanItem.opportunity.in_(
        Opportunity.select(Opportunity.id).where(Opportunity.status != Opportunity.NEW))).exists()
    # a confirmed churn made its customer 流失, and the history says so
    for record in ChurnRecord.select().where(ChurnRecord.status == ChurnRecord.CONFIRMED):
        assert record.customer.status == Customer.LOST
        assert StatusChange.select().where(StatusChange.entity == "customer",
                                           StatusChange.entity_id == record.customer_id,
                                           StatusChange.to_status == Customer.LOST).exists()


def names_are_chinese_companies_sharing_their_words(built):
    names = [n for n, in Customer.select(Customer.name).tuples()]
    assert all(COMPANY.fullmatch(name) for name in names), names[:5]
    assert len(set(names)) > 0.9 * len(names)
    terms = built["search_terms"]
    assert [len(terms[k]) for k in ("2", "2-common", "4")] == [2, 2, 4]
    common = Customer.select().where(Customer.name.contains(terms["2-common"])).count()
    assert common >= 2 and Customer.select().where(Customer.name.contains(terms["4"])).exists()


def shapes_of_people_and_orders():
    managers = list(User.managers())
    assert len(managers) == generate.MANAGERS + 2  # and xiaoming, wangcai of the demo
    assert {u.username for u in User.select()} >= {"admin", "supervisor", "executive"}
    assert not Customer.select().where(Customer.manager.not_in(
        [u.id for u in managers])).exists()
    first, last = Order.select(fn.MIN(Order.date), fn.MAX(Order.date)).scalar(as_tuple=True)
    first, last = (d if isinstance(d, datetime.date) else datetime.date.fromisoformat(d)
                   for d in (first, last))
    assert TODAY - datetime.timedelta(days=5 * 366) <= first and last <= TODAY
    # skewed: the tenth of the customers with most orders has a good third of them
    per_customer = sorted((n for _, n in Order.select(Order.customer, fn.COUNT(Order.id))
                           .group_by(Order.customer).tuples()), reverse=True)
    assert sum(per_customer[:20]) > 0.33 * sum(per_customer)
    # growing: the last year has more orders than the first two together
    def year_count(start, end):
        return Order.select().where(Order.date.between(start, end)).count()
    year = datetime.timedelta(days=365)
    assert year_count(TODAY - year, TODAY) > year_count(TODAY - 5 * year, TODAY - 3 * year)
    lines = (OrderLine.select(OrderLine.order, fn.COUNT(OrderLine.id).alias("n"))
             .group_by(OrderLine.order))
    assert {n for _, n in lines.tuples()} <= {1, 2, 3, 4}
    # every customer number is KH + his creation day + a sequence, unique
    for customer in Customer.select().limit(20):
        assert customer.number.startswith("KH") and len(customer.number) == 11


def test_two_builds_give_the_same_rows(app):
    build(app)
    with app.app_context():
        first = generate.fingerprint()
        clear()
    build(app)
    with app.app_context():
        assert generate.fingerprint() == first


def test_the_runner_measures_every_list_view(app, built):
    variants_come_from_the_views(app, built)
    runner = large.Runner(app, repeat=1, warmup=1, terms=built["search_terms"])
    pages = runner.run(full=False, exports=False)
    list_views = {v.endpoint for v in runner.list_views()}
    first_pages = {p["view"]: p for p in pages if p["variant"] == "first page"}
    assert set(first_pages) >= list_views
    for view in list_views:
        entry = first_pages[view]
        assert entry["status"] == 200, entry
        assert entry["n"] == 1 and entry["queries"] > 0 and entry["p95_ms"] > 0
        assert entry["sql_ms"] <= entry["p95_ms"] and entry["bytes"] > 0
    assert {p["view"] for p in pages if p["category"] == "report"} >= {
        "report_contribution", "report_composition", "report_service", "report_churn"}
    assert {p["role"] for p in pages} == {"supervisor", "manager", "executive", "admin"}
    assert db.obj.execute_sql.__func__ is type(db.obj).execute_sql  # the clock is removed


def variants_come_from_the_views(app, built):
    runner = large.Runner(app, repeat=1, warmup=1, terms=built["search_terms"])
    with app.app_context():
        runner.accounts = runner.users()
    customers = next(v for v in runner.list_views() if v.endpoint == "customer")
    with app.test_request_context():
        variants = [name for name, _, _ in runner.list_variants(customers)]
    assert "first page" in variants and f"page {large.DEEP_PAGE + 1}" in variants
    assert sum(name.startswith("search") for name in variants) == 3
    assert len([n for n in variants if n.startswith("filter")]) == len(customers._filter_args)
    sortable = [c for c, _ in customers._list_columns if c in customers._sortable_columns]
    assert len([n for n in variants if n.startswith("sort")]) == len(sortable)
    # the first row's links: details (and the lists of one customer)
    entry, body = runner.measure("supervisor", "/admin/customer/", "customer", "first page",
                                 "list", repeat=1)
    links = {name for name, _, _ in runner.row_links(customers, body)}
    assert "details" in links
    runner.clock.close()
