"""统计报表 rules on the models, without HTTP: what each report counts, sums and lists."""
import datetime
import itertools
from decimal import Decimal

import pytest
from peewee import PostgresqlDatabase

from models import (
    ChurnRecord,
    Customer,
    DictionaryEntry,
    Order,
    OrderLine,
    Product,
    ServiceRequest,
    reports,
)
from models.base import stored
from models.basedata import SERVICE_TYPE
from models.customers import customers_of

_numbers = itertools.count(1)
D = datetime.date


def T(*fields):
    """A time on the company's clock (TIMEZONE), as stored (UTC): T(2025, 1, 1, 0, 0) is
    the first minute of 2025 in Beijing."""
    return stored(datetime.datetime(*fields))


# -- a small hand-made data set ---------------------------------------------------------

def customer(users, name, manager="xiaoming", status=Customer.ACTIVE, level=1, credit=3,
             satisfaction=3):
    return Customer.create(number=f"KH{next(_numbers):09d}", name=name, manager=users[manager],
                           status=status, level=level, credit=credit,
                           satisfaction=satisfaction)


def order(customer, day, lines, status=Order.PAID):
    """An order of ``lines`` [(数量, 单价)] placed on ``day``."""
    product = Product.get_or_none() or Product.create(name="幸福牌电视机", model="818 FFT",
                                                      batch="2388 EA03", unit="台",
                                                      price=Decimal("7500"))
    o = Order.create(customer=customer, number=f"DD{next(_numbers):09d}", date=day,
                     address="北京市海淀区", status=status)
    for quantity, price in lines:
        OrderLine.create(order=o, product=product, quantity=quantity, unit="台",
                         price=Decimal(price))
    return o


def service(customer, kind, at):
    return ServiceRequest.create(service_type=kind, summary="咨询保修", customer=customer,
                                 request="保修多久？", created_by=customer.manager_id,
                                 created_at=at)


def churned(customer, at, reason="改向其他供应商采购", status=ChurnRecord.CONFIRMED):
    return ChurnRecord.create(customer=customer, status=status, reason=reason,
                              confirmed_at=at if status == ChurnRecord.CONFIRMED else None,
                              created_at=at - datetime.timedelta(days=30))


def contribution_of(**filters):
    return [(r.name, r.amount) for r in reports.contribution(**filters)]


# -- 客户贡献分析 ---------------------------------------------------------------------

def test_contribution_sums_quantity_times_price_of_paid_orders_only(users):
    c = customer(users, "北京星光电子")
    order(c, D(2025, 3, 1), [(2, "7500.00"), (10, "36.00")])
    order(c, D(2025, 4, 1), [(1, "9800.00")])
    order(c, D(2025, 5, 1), [(5, "16800.00")], status=Order.UNPAID)
    assert contribution_of() == [("北京星光电子", Decimal("25160.00"))]


def test_contribution_amounts_are_exact_decimals_with_two_places(users):
    c = customer(users, "天津恒远")
    o = order(c, D(2025, 1, 2), [(10, "9999999999.99")])
    # A thousand lines of 0.07: summed as floats (SQLite's SUM) this is a cent off.
    OrderLine.insert_many([{"order": o.id, "product": Product.get().id, "quantity": 1,
                            "unit": "台", "price": Decimal("0.07")}] * 1000).execute()
    [(name, amount)] = contribution_of()
    assert amount == Decimal("100000000069.90") and amount.as_tuple().exponent == -2


def test_customers_without_paid_orders_are_left_out(users):
    order(customer(users, "只有未回款"), D(2025, 1, 2), [(1, "100")], status=Order.UNPAID)
    customer(users, "从未下单")
    order(customer(users, "有回款"), D(2025, 1, 2), [(1, "100")])
    assert [name for name, _ in contribution_of()] == ["有回款"]


def test_contribution_is_largest_first_ranked_and_ties_follow_the_customer_number(users):
    small, tie_a, tie_b, large = (customer(users, n) for n in ("小", "并列甲", "并列乙", "大"))
    for c, price in ((small, "10"), (tie_b, "50"), (tie_a, "50"), (large, "900")):
        order(c, D(2025, 6, 1), [(1, price)])
    rows = reports.contribution()
    assert [(r.rank, r.name) for r in rows] == [(1, "大"), (2, "并列甲"), (3, "并列乙"), (4, "小")]


def test_the_year_filter_takes_orders_dated_within_that_year_boundaries_included(users):
    c = customer(users, "华鼎科技")
    for day, price in ((D(2024, 12, 31), "1"), (D(2025, 1, 1), "10"), (D(2025, 12, 31), "100"),
                       (D(2026, 1, 1), "1000")):
        order(c, day, [(1, price)])
    assert contribution_of(year=2025) == [("华鼎科技", Decimal("110.00"))]
    assert contribution_of(year=2023) == []
    assert contribution_of() == [("华鼎科技", Decimal("1111.00"))]


def test_the_name_filter_keeps_names_containing_the_text(users):
    for name in ("北京星光电子", "上海星光电器", "ACME Beijing", "100%纯净", "天津恒远"):
        order(customer(users, name), D(2025, 2, 2), [(1, "10")])
    assert {n for n, _ in contribution_of(name_contains="星光")} == {"北京星光电子", "上海星光电器"}
    assert [n for n, _ in contribution_of(name_contains="acme")] == ["ACME Beijing"]
    # LIKE wildcards typed by the user are literal text
    assert [n for n, _ in contribution_of(name_contains="%")] == ["100%纯净"]
    assert contribution_of(name_contains="_") == []


def test_contribution_counts_customers_of_any_status(users):
    order(customer(users, "已流失", status=Customer.LOST), D(2025, 2, 2), [(1, "10")])
    assert contribution_of() == [("已流失", Decimal("10.00"))]


def test_contribution_years_are_the_years_with_orders_most_recent_first(users):
    c = customer(users, "博远")
    order(c, D(2023, 5, 5), [(1, "1")])
    order(c, D(2025, 5, 5), [(1, "1")], status=Order.UNPAID)
    order(c, D(2025, 7, 5), [(1, "1")])
    assert reports.contribution_years() == [2025, 2023]


# -- 客户构成分析 ---------------------------------------------------------------------

def composition_of(by, customers=None):
    return [(r.rank, r.label, r.count) for r in reports.composition(by, customers)]


def test_every_level_is_listed_by_its_dictionary_name_zero_included(users):
    customer(users, "甲", level=1)
    customer(users, "乙", level=3)
    customer(users, "丙", level=3)
    assert composition_of("level") == [(1, "普通客户", 1), (2, "重点开发客户", 0), (3, "大客户", 2),
                                       (4, "合作伙伴", 0), (5, "战略合作伙伴", 0)]


def test_only_active_customers_are_counted(users):
    customer(users, "正常", level=2)
    customer(users, "流失", level=2, status=Customer.LOST)
    customer(users, "删除", level=2, status=Customer.DELETED)
    assert [count for _, _, count in composition_of("level")] == [0, 1, 0, 0, 0]


@pytest.mark.parametrize("by", ["credit", "satisfaction"])
def test_credit_and_satisfaction_are_shown_as_stars(users, by):
    customer(users, "甲", **{by: 5})
    customer(users, "乙", **{by: 5})
    customer(users, "丙", **{by: 2})
    assert composition_of(by) == [(1, "☆", 0), (2, "☆☆", 1), (3, "☆☆☆", 0), (4, "☆☆☆☆", 0),
                                  (5, "☆☆☆☆☆", 2)]


def test_customers_without_a_level_get_a_row_of_their_own_only_when_there_are_some(users):
    customer(users, "甲", level=1)
    assert len(composition_of("level")) == 5
    customer(users, "乙", level=None)
    assert composition_of("level")[-1] == (6, reports.UNSET, 1)


def test_an_unknown_composition_is_refused(users):
    with pytest.raises(ValueError):
        reports.composition("region")


# -- 客户服务分析 ---------------------------------------------------------------------

def service_of(**period):
    return [(r.rank, r.service_type, r.count) for r in reports.service(**period)]


def test_services_are_counted_per_type_every_type_listed_zero_included(users):
    c = customer(users, "甲")
    for kind in ("咨询", "咨询", "投诉"):
        service(c, kind, T(2025, 3, 3, 10))
    assert service_of() == [(1, "咨询", 2), (2, "建议", 0), (3, "投诉", 1)]


def test_a_year_counts_services_created_from_new_year_to_new_years_eve(users):
    c = customer(users, "甲")
    for at in (T(2024, 12, 31, 23, 59, 59), T(2025, 1, 1, 0, 0), T(2025, 12, 31, 23, 59, 59),
               T(2026, 1, 1, 0, 0)):
        service(c, "咨询", at)
    assert service_of(year=2025)[0] == (1, "咨询", 2)


def test_a_date_range_includes_both_days(users):
    c = customer(users, "甲")
    for at in (T(2025, 2, 28, 23, 59, 59), T(2025, 3, 1, 0, 0), T(2025, 3, 31, 23, 59, 59),
               T(2025, 4, 1, 0, 0)):
        service(c, "建议", at)
    assert service_of(date_from=D(2025, 3, 1), date_to=D(2025, 3, 31))[1] == (2, "建议", 2)
    assert service_of(date_from=D(2025, 3, 1))[1] == (2, "建议", 3)
    assert service_of(date_to=D(2025, 3, 31))[1] == (2, "建议", 3)
    assert service_of(date_from=D(2025, 3, 15), date_to=D(2025, 3, 15))[1] == (2, "建议", 0)


def test_the_types_are_the_current_dictionary_and_old_types_still_count(users):
    DictionaryEntry.create(category=SERVICE_TYPE, item="表扬", value="表扬")
    service(customer(users, "甲"), "报修", T(2025, 3, 3, 10))  # a type since removed
    assert [kind for _, kind, _ in service_of()] == ["咨询", "建议", "投诉", "表扬", "报修"]


def test_service_years_are_the_years_with_services(users):
    c = customer(users, "甲")
    service(c, "咨询", T(2024, 6, 1, 9))
    service(c, "咨询", T(2026, 6, 1, 9))
    assert reports.service_years() == [2026, 2024]


# -- 客户流失分析 ---------------------------------------------------------------------

def test_churn_lists_confirmed_records_only_with_year_customer_manager_and_reason(users):
    churned(customer(users, "已确认", manager="wangcai"), T(2025, 8, 8, 10), reason="价格原因")
    churned(customer(users, "预警中"), T(2025, 8, 8), status=ChurnRecord.WARNING)
    churned(customer(users, "暂缓中"), T(2025, 8, 8), status=ChurnRecord.POSTPONED)
    assert [(r.rank, r.year, r.customer, r.manager, r.reason) for r in reports.churn()] == [
        (1, 2025, "已确认", "旺财", "价格原因")]


def test_churn_is_newest_first(users):
    churned(customer(users, "早"), T(2024, 1, 5, 10))
    churned(customer(users, "晚"), T(2026, 2, 5, 10))
    churned(customer(users, "中"), T(2025, 3, 5, 10))
    assert [(r.customer, r.year) for r in reports.churn()] == [("晚", 2026), ("中", 2025),
                                                              ("早", 2024)]


def test_churn_is_filtered_by_customer_name_and_by_manager(users):
    churned(customer(users, "北京星光", manager="xiaoming"), T(2025, 1, 5, 10))
    churned(customer(users, "天津恒远", manager="wangcai"), T(2025, 1, 5, 10))
    assert [r.customer for r in reports.churn(name_contains="星光")] == ["北京星光"]
    assert [r.customer for r in reports.churn(manager_contains="旺")] == ["天津恒远"]
    assert [r.customer for r in reports.churn(manager_contains="xiaoming")] == ["北京星光"]
    assert list(reports.churn(name_contains="星光", manager_contains="旺财")) == []


def test_churn_per_year_counts_every_year_between_the_first_and_the_last(users):
    for i, year in enumerate((2022, 2022, 2025)):
        churned(customer(users, f"客户{i}"), T(year, 6, 1, 10))
    assert reports.churn_per_year() == [(2022, 2), (2023, 0), (2024, 0), (2025, 1)]
    assert reports.churn_years() == [2025, 2022]
    assert reports.churn_per_year(name_contains="不存在") == []


# -- the "own" restriction ------------------------------------------------------------

def test_every_report_restricted_to_a_managers_customers_shows_only_them(users):
    mine, theirs = customer(users, "小明的", level=2), customer(users, "旺财的", "wangcai", level=2)
    for c, year in ((mine, 2024), (theirs, 2025)):
        order(c, D(year, 3, 3), [(1, "10")])
        service(c, "投诉", T(year, 3, 3, 9))
    churned(customer(users, "小明流失的", status=Customer.LOST), T(2024, 9, 9, 9))
    churned(customer(users, "旺财流失的", "wangcai", status=Customer.LOST), T(2025, 9, 9, 9))
    own = customers_of(users["xiaoming"])
    assert [r.name for r in reports.contribution(customers=own)] == ["小明的"]
    assert reports.contribution_years(own) == [2024]
    assert [r.count for r in reports.composition("level", own)] == [0, 1, 0, 0, 0]
    assert [r.count for r in reports.service(customers=own)] == [0, 0, 1]
    assert reports.service_years(own) == [2024]
    assert [r.customer for r in reports.churn(customers=own)] == ["小明流失的"]
    assert reports.churn_years(own) == [2024]
    # and without the restriction, everyone's
    assert len(list(reports.contribution())) == 2 and reports.churn_years() == [2025, 2024]


# -- pages and totals: nothing grows with the data ---------------------------------------

def test_a_contribution_page_is_numbered_from_its_offset_and_the_total_covers_every_row(users):
    for i in range(7):
        order(customer(users, f"客户{i}", manager="wangcai" if i % 2 else "xiaoming"),
              D(2025 if i < 5 else 2024, 6, 1), [(1, f"{100 * (i + 1)}.07")])
    page = list(reports.contribution(offset=2, limit=3))
    assert [(r.rank, r.name, r.amount) for r in page] == [
        (3, "客户4", Decimal("500.07")), (4, "客户3", Decimal("400.07")),
        (5, "客户2", Decimal("300.07"))]
    assert [r.rank for r in reports.contribution(offset=5, limit=50)] == [6, 7]
    assert reports.contribution_total() == (7, Decimal("2800.49"))
    assert reports.contribution_total(year=2025) == (5, Decimal("1500.35"))
    assert reports.contribution_total(name_contains="客户6") == (1, Decimal("700.07"))
    own = customers_of(users["xiaoming"])  # 客户0, 2, 4, 6
    assert reports.contribution_total(customers=own) == (4, Decimal("1600.28"))
    assert [r.name for r in reports.contribution(customers=own, limit=2)] == ["客户6", "客户4"]
    assert reports.contribution_total(year=2023) == (0, Decimal("0.00"))


def test_a_paid_order_without_lines_lists_no_customer(users):
    Order.create(customer=customer(users, "空订单"), number="DD-EMPTY", date=D(2025, 1, 1),
                 address="北京", status=Order.PAID)
    assert contribution_of() == [] and reports.contribution_total() == (0, Decimal("0.00"))


def test_year_lists_skip_the_years_without_data(users):
    c = customer(users, "跨年")
    for day in (D(1999, 7, 1), D(2019, 1, 1), D(2019, 12, 31), D(2025, 3, 3)):
        order(c, day, [(1, "1")], status=Order.UNPAID)
    assert reports.contribution_years() == [2025, 2019, 1999]
    assert reports.contribution_years(customers_of(users["wangcai"])) == []


def test_service_and_churn_years_are_the_companys_years(users):
    c = customer(users, "甲")
    service(c, "咨询", T(2025, 1, 1, 0, 30))  # 2024-12-31 16:30 UTC: 2025 in Beijing
    service(c, "咨询", T(2023, 12, 31, 23, 59))  # 2023-12-31 15:59 UTC
    assert reports.service_years() == [2025, 2023]
    churned(customer(users, "乙", status=Customer.LOST), T(2026, 1, 1, 7, 0))
    assert reports.churn_years() == [2026]


def test_year_lists_never_take_the_year_of_every_row(users, database, monkeypatch):
    """MIN of the indexed column, year after year: no date_part/EXTRACT, one query a year."""
    c = customer(users, "甲")
    for year in (2021, 2023, 2025):
        order(c, D(year, 5, 5), [(1, "1")])
        service(c, "咨询", T(year, 5, 5, 9))
        churned(customer(users, f"流失{year}", status=Customer.LOST), T(year, 5, 5, 9))
    statements = []
    execute = database.execute_sql

    def record(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return execute(sql, params, *args, **kwargs)
    monkeypatch.setattr(database, "execute_sql", record)
    for years in (reports.contribution_years, reports.service_years, reports.churn_years):
        statements.clear()
        assert years() == [2025, 2023, 2021]
        assert len(statements) == 4, statements  # three years and the look-up past the last
        assert not any(word in sql.lower() for sql in statements
                       for word in ("date_part", "extract", "distinct")), statements


def test_a_churn_page_its_count_and_the_counts_per_year_cover_every_row(users):
    for i in range(5):
        churned(customer(users, f"流失{i}", manager="wangcai" if i == 4 else "xiaoming",
                         status=Customer.LOST), T(2022 + i // 2, 3, 1 + i, 10))
    assert [(r.rank, r.customer) for r in reports.churn(offset=1, limit=2)] == [
        (2, "流失3"), (3, "流失2")]
    assert reports.churn_count() == 5
    assert reports.churn_count(manager_contains="旺财") == 1
    assert reports.churn_per_year() == [(2022, 2), (2023, 2), (2024, 1)]
    assert reports.churn_per_year(manager_contains="小明") == [(2022, 2), (2023, 2)]
    own = customers_of(users["wangcai"])
    assert reports.churn_count(customers=own) == 1
    assert reports.churn_per_year(customers=own) == [(2024, 1)]


# -- the plans: the indexes the reports count through -----------------------------------------

def plans(database, monkeypatch, run):
    """The query plans of the SELECTs ``run()`` issues (PostgreSQL told to avoid table scans
    where it can: on a few rows it would scan anyway)."""
    statements = []
    execute = database.execute_sql

    def record(sql, params=None, *args, **kwargs):
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))
        return execute(sql, params, *args, **kwargs)
    monkeypatch.setattr(database, "execute_sql", record)
    run()
    monkeypatch.undo()
    pg = isinstance(database, PostgresqlDatabase)
    found = []
    with database.atomic():
        if pg:
            database.execute_sql("SET LOCAL enable_seqscan = off")
            database.execute_sql("SET LOCAL enable_bitmapscan = off")
        for sql, params in statements:
            rows = database.execute_sql(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + sql,
                                        params).fetchall()
            found.append(" ".join(str(cell) for row in rows for cell in row))
    return found


@pytest.mark.parametrize("by", ["level", "credit", "satisfaction"])
def test_the_composition_counts_through_the_status_index(users, database, monkeypatch, by):
    customer(users, "甲")
    plan, = [p for p in plans(database, monkeypatch, lambda: reports.composition(by))
             if "customer" in p]
    assert f"customer_status_{by}" in plan, plan


def test_the_contribution_page_reads_the_summary_through_its_year_index(users, database,
                                                                       monkeypatch):
    order(customer(users, "甲"), D(2025, 1, 1), [(1, "1")])
    for year in (None, 2025):
        page, = plans(database, monkeypatch,
                      lambda: list(reports.contribution(year=year, limit=50)))
        assert "year_cents_lines" in page, page
        assert "TEMP B-TREE FOR ORDER BY" not in page  # at most the ties (RIGHT PART) sorted
