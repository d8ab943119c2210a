"""The large benchmark database: 100,000 customers, 1,000,000 orders, 2,500,000 order lines.

    .venv/bin/python bench/generate.py [--db sqlite|pg|both] [--scale 1|small|0.01] [--force]

Deterministic (a fixed seed; every date counted back from ``today``), built through the app's
own schema (``models.schema.upgrade``, as ``flask init-db`` does) and reference data, roles
and demo users (``seed/``), so every table, index and trigger of every migration exists and
is filled by the database itself as the rows arrive. The rows are written in bulk: one
``executemany`` per chunk in big transactions on SQLite, ``COPY`` on PostgreSQL.

SQLite goes to ``.cache/bench/large.db``, PostgreSQL to ``BENCH_PG_URL`` (default
``postgresql://postgres@127.0.0.1:5432/bench_large``, created when missing). A database the
generator made carries a table ``bench_marker`` (generator version, sizes, migrations, build
time); it is rebuilt only when one of those differs, and only a database holding that marker
(or holding no table at all) is ever dropped.
"""
import argparse
import bisect
import datetime
import hashlib
import io
import itertools
import json
import math
import os
import random
import sys
import time
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from peewee import PostgresqlDatabase  # noqa: E402
from playhouse.migrations import Migration  # noqa: E402

from models import (  # noqa: E402
    Activity,
    ChurnRecord,
    Contact,
    Customer,
    DictionaryEntry,
    Opportunity,
    Order,
    OrderLine,
    PlanItem,
    Product,
    Role,
    ServiceRequest,
    StatusChange,
    User,
    db,
    schema,
)
from models.base import local_today, stored  # noqa: E402
from models.basedata import SERVICE_TYPE  # noqa: E402
from models.security import MANAGER_ROLE  # noqa: E402
from seed import demo, reference  # noqa: E402

GENERATOR_VERSION = 2  # bump on any change to what is generated: the databases are rebuilt
SEED = 20260901
SQLITE_PATH = os.path.join(ROOT, ".cache", "bench", "large.db")
PG_URL = os.environ.get("BENCH_PG_URL") or "postgresql://postgres@127.0.0.1:5432/bench_large"
MARKER = "bench_marker"

# The rows at scale 1; every size is proportional (and exact) at any other scale.
BASE = {
    "customers": 100_000, "orders": 1_000_000, "order_lines": 2_500_000,
    "opportunities": 20_000, "contacts": 200_000, "activities": 300_000,
    "services": 50_000, "churn_records": 10_000,
}
# The least of each, so that every status is present even at a tiny scale.
MINIMUM = {"customers": 60, "orders": 200, "order_lines": 500, "opportunities": 12,
           "contacts": 60, "activities": 60, "services": 12, "churn_records": 6}
SCALES = {"full": 1.0, "small": 0.002}
MANAGERS = 48  # generated 客户经理, besides the demo's xiaoming and wangcai: 50 in all
YEARS = 5  # orders over the five years before today

# -- the vocabulary: realistic names with many shared substrings -----------------------

# (地区, city, pinyin, districts, zip prefix, area code, administrative code): the demo's
# cities and more, each in its 地区 (the dictionary's five).
CITIES = [(region, city, code, districts, zip3, area, admin)
          for region, city, code, districts, zip3, area, admin in demo.CITIES] + [
    ("华北", "保定", "bd", ["竞秀区朝阳大街", "莲池区裕华路"], "071", "0312", "130602"),
    ("华北", "唐山", "ts", ["路北区建设路", "路南区新华道"], "063", "0315", "130203"),
    ("华北", "廊坊", "lf", ["广阳区新华路"], "065", "0316", "131003"),
    ("华北", "大同", "dt", ["平城区魏都大道"], "037", "0352", "140213"),
    ("华北", "包头", "bt", ["昆都仑区钢铁大街"], "014", "0472", "150203"),
    ("中南", "南宁", "nn", ["青秀区民族大道", "兴宁区朝阳路"], "530", "0771", "450103"),
    ("中南", "海口", "hk", ["龙华区滨海大道"], "570", "0898", "460106"),
    ("中南", "洛阳", "ly", ["涧西区中州西路"], "471", "0379", "410305"),
    ("中南", "佛山", "fs", ["禅城区季华路", "南海区桂城大道"], "528", "0757", "440604"),
    ("中南", "东莞", "dg", ["南城区鸿福路"], "523", "0769", "441900"),
    ("中南", "株洲", "zhz", ["天元区长江南路"], "412", "0731", "430211"),
    ("东北", "吉林", "jl", ["船营区解放大路"], "132", "0432", "220204"),
    ("东北", "鞍山", "as", ["铁东区胜利路"], "114", "0412", "210302"),
    ("东北", "齐齐哈尔", "qqhr", ["龙沙区卜奎大街"], "161", "0452", "230202"),
    ("西部", "贵阳", "gy", ["观山湖区长岭北路", "云岩区中华北路"], "550", "0851", "520115"),
    ("西部", "乌鲁木齐", "wlmq", ["天山区解放北路"], "830", "0991", "650102"),
    ("西部", "银川", "yc", ["金凤区北京中路"], "750", "0951", "640106"),
    ("西部", "西宁", "xn", ["城中区南大街"], "810", "0971", "630103"),
    ("西部", "绵阳", "my", ["涪城区临园路"], "621", "0816", "510703"),
]
REGION_WEIGHTS = {"北京": 24, "华北": 20, "中南": 26, "东北": 12, "西部": 18}
# 字号: two characters out of these, the first ones far more often (a Zipf-like skew):
# "华信", "恒达" are everywhere, as they are in real registers.
BRAND_FIRST = ("华恒鑫金瑞宏联启天永嘉润新盛海万宝晨正九银泰德明同安百凯昌富广星蓝智合信中锦祥"
               "立思易东伟兴隆丰源通诚创佳美博远")
BRAND_SECOND = "达通源信泰丰盛华安鑫宇辉诚创和兴业恒瑞川德隆昌祥瑞成峰阳光远航凯利邦科荣康禾威顺"
TRADES = ["电子", "电器", "科技", "数码科技", "商贸", "家电连锁", "信息技术", "办公设备",
          "教育科技", "酒店管理", "贸易", "物流", "网络科技", "软件", "通信设备", "机电",
          "实业", "文化传媒", "医疗器械", "建材", "电气", "自动化", "光电", "智能科技",
          "供应链管理", "餐饮管理", "物业管理", "汽车销售", "服装", "食品"]
FORMS = [("有限公司", 68), ("股份有限公司", 12), ("有限责任公司", 10), ("集团有限公司", 5),
         ("有限公司{city}分公司", 5)]
SOURCES = ["招标信息", "老客户介绍", "展会", "电话咨询", "网站留言", "上门拜访", "广告"]
CHURN_REASONS = ["客户业务转型，改由集团总部统一向其他供应商采购，明确表示不再合作",
                 "客户经营困难，已停止采购", "竞争对手给出更低价格，客户已转向对方",
                 "客户公司被收购，采购由新股东统一安排"]


def sizes(scale):
    """The row counts at ``scale`` (a number, or a name of SCALES)."""
    scale = SCALES.get(scale, scale)
    scale = float(scale)
    if not 0 < scale <= 10:
        raise ValueError(f"scale {scale} out of (0, 10]")
    return {name: max(MINIMUM[name], round(count * scale)) for name, count in BASE.items()}


def spread(total, weights, rng):
    """Integers summing to exactly ``total``, proportional to ``weights`` (the largest
    remainders, ties broken at random, round up)."""
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0:
        return [0] * len(weights)
    shares = [w * total / weight_sum for w in weights]
    counts = [int(s) for s in shares]
    missing = total - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], rng.random()))
    for i in order[:missing]:
        counts[i] += 1
    return counts


def weighted_picker(rng, items, weights):
    """A function drawing one of ``items`` by ``weights`` (cumulative, bisected)."""
    cumulative = list(itertools.accumulate(weights))
    top = cumulative[-1]
    return lambda: items[bisect.bisect_right(cumulative, rng.random() * top)]


# -- writing in bulk -------------------------------------------------------------------

def _pg_text(kind):
    """A converter of one value to COPY's text format."""
    def text(value):
        if value is None:
            return "\\N"
        value = str(value)
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (value.replace("\\", "\\\\").replace("\t", "\\t")
                     .replace("\n", "\\n").replace("\r", "\\r"))
        return value

    def boolean(value):
        return "\\N" if value is None else ("t" if value else "f")

    def moment(value):
        return "\\N" if value is None else value.isoformat(" ")
    return {"bool": boolean, "datetime": moment}.get(kind, text)


class Bulk:
    """Rows into a table, by the fastest path of each database: ``executemany`` in one
    transaction per call on SQLite, ``COPY … FROM STDIN`` on PostgreSQL."""

    CHUNK = 100_000
    PG_CHUNK = 20_000

    def __init__(self, database):
        self.database = database
        self.pg = isinstance(database, PostgresqlDatabase)
        self.counts = {}
        self.tables = set()

    def insert(self, model, fields, rows):
        """``rows``: an iterable of tuples in the order of ``fields`` (model field names).

        SQLite: one transaction for the table. PostgreSQL: one per chunk of COPY, so that
        the row versions a trigger leaves behind (a summary row updated by every order of
        its customer) are pruned as the load goes, instead of piling up in one transaction.
        """
        meta = model._meta
        columns = [meta.fields[f].column_name for f in fields]
        table = meta.table_name
        self.tables.add(table)
        written = 0
        if self.pg:
            kinds = ["bool" if meta.fields[f].field_type == "BOOL" else
                     "datetime" if meta.fields[f].field_type == "DATETIME" else "text"
                     for f in fields]
            converters = [_pg_text(kind) for kind in kinds]
            sql = f'COPY "{table}" ({", ".join(map(_quoted, columns))}) FROM STDIN'
            for chunk in _chunks(rows, self.PG_CHUNK):
                buffer = io.StringIO()
                buffer.writelines(
                    "\t".join([convert(v) for convert, v in zip(converters, row)]) + "\n"
                    for row in chunk)
                buffer.seek(0)
                with self.database.atomic():
                    self.database.connection().cursor().copy_expert(sql, buffer)
                written += len(chunk)
        else:
            sql = (f'INSERT INTO "{table}" ({", ".join(map(_quoted, columns))}) '
                   f'VALUES ({", ".join("?" * len(columns))})')
            with self.database.atomic():
                connection = self.database.connection()
                for chunk in _chunks(rows, self.CHUNK):
                    connection.executemany(sql, chunk)
                    written += len(chunk)
        self.counts[table] = self.counts.get(table, 0) + written
        return written

    def finish(self):
        """PostgreSQL: the id sequences continue after the ids written here."""
        if not self.pg:
            return
        for table in sorted(self.tables):
            self.database.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'GREATEST((SELECT MAX(id) FROM "{table}"), 1))')


def _quoted(name):
    return f'"{name}"'


def _chunks(rows, size):
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


# -- the data ---------------------------------------------------------------------------

class Generator:
    """Fills a migrated database that holds no business data yet (reference data and the
    demo accounts are added when missing). One random stream per kind of row, so a change
    to one kind leaves the others as they were."""

    def __init__(self, database, scale, today=None, seed=SEED, log=None):
        self.database = database
        self.size = sizes(scale)
        self.today = today or local_today()
        self.seed = seed
        self.log = log or (lambda message: None)
        self.bulk = Bulk(database)
        self.changes = []  # StatusChange rows: (entity, id, from, to, user id, at, note)

    def rng(self, name):
        return random.Random(f"{self.seed}:{name}")

    def day(self, days_ago):
        return self.today - datetime.timedelta(days=days_ago)

    @staticmethod
    def at(day, rng, first=8, last=17):
        """A moment of ``day`` in office hours on the company's clock, as stored (UTC)."""
        return stored(datetime.datetime.combine(
            day, datetime.time(rng.randint(first, last), rng.choice((0, 10, 15, 20, 30, 40,
                                                                     45, 50)))))

    @property
    def last_moment(self):
        """Today 09:00 on the company's clock: no generated step is later."""
        return stored(datetime.datetime.combine(self.today, datetime.time(9, 0)))

    def run(self):
        if Customer.select().exists():
            raise RuntimeError("the database already holds customers: not a new database")
        started = time.perf_counter()
        steps = [("users", self.users), ("customers", self.customers),
                 ("orders", self.orders), ("contacts", self.contacts),
                 ("activities", self.activities), ("churn", self.churn),
                 ("opportunities", self.opportunities), ("services", self.services),
                 ("status changes", self.status_changes)]
        timings = {}
        for name, step in steps:
            began = time.perf_counter()
            step()
            timings[name] = round(time.perf_counter() - began, 2)
            self.log(f"  {name}: {timings[name]} s")
        self.bulk.finish()
        return {"sizes": self.size, "rows": dict(sorted(self.bulk.counts.items())),
                "today": self.today.isoformat(), "seed": self.seed,
                "search_terms": self.search_terms, "step_seconds": timings,
                "fill_seconds": round(time.perf_counter() - started, 2)}

    # -- people -------------------------------------------------------------------
    def users(self):
        """Reference data, the demo accounts and products (``seed/``, as ``flask init-db``
        and ``seed-demo`` write them), and the generated 客户经理."""
        reference.load()
        accounts, _ = demo.load_users(self.today)
        self.products = demo.load_products()[0]
        self.supervisor = accounts["supervisor"].id
        rng = self.rng("users")
        password = accounts["xiaoming"].password  # the demo password, hashed once
        role = Role.get(Role.code == MANAGER_ROLE)
        names = set(full for full, _ in demo.USERS.values())
        managers = [accounts[name] for name in demo.MANAGERS]
        for n in range(1, MANAGERS + 1):
            username = f"manager{n:02d}"
            user = User.get_or_none(User.username == username)
            if user is None:
                name = self.person(rng, names)[0]
                user = User.create(
                    username=username, full_name=name, password=password,
                    active=True, fs_uniquifier=hashlib.sha256(
                        f"{self.seed}:{username}".encode()).hexdigest()[:32],
                    created_at=stored(datetime.datetime.combine(
                        self.day(YEARS * 366 + 30), datetime.time(9, 0))))
                user.set_roles([role])
            managers.append(user)
        self.managers = [u.id for u in managers]
        self.manager_weight = [math.exp(rng.gauss(0, 0.45)) for _ in self.managers]

    @staticmethod
    def person(rng, taken=None):
        for _ in range(100):
            female = rng.random() < 0.4
            name = rng.choice(demo.SURNAMES) + rng.choice(
                demo.GIVEN_FEMALE if female else demo.GIVEN_MALE)
            if taken is None or name not in taken:
                break
        if taken is not None:
            taken.add(name)
        return name, (Contact.FEMALE if female else Contact.MALE)

    @staticmethod
    def digits(rng, n):
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))

    def mobile(self, rng):
        return "1" + rng.choice(["38", "39", "35", "36", "37", "50", "58", "86", "89", "33",
                                 "80"]) + self.digits(rng, 8)

    def company(self, rng, city):
        """A company name: city + 字号 + 行业 + form, sometimes 字号 + 行业 + （city） + form."""
        first = BRAND_FIRST[min(int(rng.paretovariate(1.1)) - 1, len(BRAND_FIRST) - 1)] \
            if rng.random() < 0.5 else rng.choice(BRAND_FIRST)
        brand = first + rng.choice(BRAND_SECOND.replace(first, ""))
        trade = rng.choice(TRADES)
        form = self.pick_form()
        other = rng.choice(CITIES)[1]
        if "{city}" in form:
            return f"{city}{brand}{trade}{form.format(city=other)}", brand, trade
        if rng.random() < 0.1:
            return f"{brand}{trade}（{city}）{form}", brand, trade
        return f"{city}{brand}{trade}{form}", brand, trade

    # -- customers ------------------------------------------------------------------
    def customers(self):
        rng = self.rng("customers")
        count = self.size["customers"]
        self.pick_form = weighted_picker(rng, [f for f, _ in FORMS], [w for _, w in FORMS])
        pick_region = weighted_picker(rng, list(REGION_WEIGHTS), list(REGION_WEIGHTS.values()))
        cities = {r: [c for c in CITIES if c[0] == r] for r in REGION_WEIGHTS}
        pick_manager = weighted_picker(rng, self.managers, self.manager_weight)
        # created over five years, more every year (+35 % a year): inverse of the growth CDF
        span, growth = YEARS * 365, math.log(1.35) / 365
        # a moment in days since five years ago; its fraction is the time of the office day
        moments = sorted(math.log(1 + rng.random() * (math.exp(growth * span) - 1)) / growth
                         for _ in range(count))
        rows, self.customer_day, self.customer_manager = [], [], []
        self.customer_address, self.customer_level, self.customer_name = [], [], []
        self.customer_area = []
        per_day = {}
        terms = None
        start = self.day(span)
        for i, moment in enumerate(moments, start=1):
            day = start + datetime.timedelta(days=int(moment))
            minutes = 8 * 60 + int((moment % 1) * 60) * 10  # 8:00 … 17:50, in creation order
            created = stored(datetime.datetime.combine(day, datetime.time(minutes // 60,
                                                                          minutes % 60)))
            region = pick_region()
            _, city, code, districts, zip3, area, admin = rng.choice(cities[region])
            district = rng.choice(districts)
            name, brand, trade = self.company(rng, city)
            if terms is None and i > count // 2 and len(brand) == 2:
                terms = {"2": brand, "2-common": trade[:2], "4": brand + trade[:2]}
            capital = rng.choice([50, 100, 200, 300, 500, 800, 1000, 2000, 5000])
            org, phone = self.digits(rng, 9), self.digits(rng, 8)
            seq = per_day[day] = per_day.get(day, 0) + 1
            level = rng.choices([1, 2, 3, 4, 5], weights=[30, 25, 20, 15, 10])[0]
            manager = pick_manager()
            address = f"{city}市{district}{rng.randint(1, 300)}号"
            rows.append([
                i, f"{Customer.number_prefix(day)}{seq:03d}", name, region, manager, level,
                rng.choices([1, 2, 3, 4, 5], weights=[3, 8, 30, 40, 19])[0],
                rng.choices([1, 2, 3, 4, 5], weights=[3, 7, 25, 40, 25])[0],
                address, f"{zip3}{rng.randint(0, 99):02d}0", f"{area}-{phone}",
                f"{area}-{phone[:-2]}{rng.randint(10, 99)}", f"www.{code}{i:06d}.com.cn",
                "91" + admin + "MA" + self.digits(rng, 7) + rng.choice("0123456789X"),
                self.person(rng)[0], Decimal(capital),
                Decimal(capital * rng.randint(15, 80) // 10),
                f"{rng.choice(demo.BANKS)}{city}{district[:district.index('区')]}支行",
                self.digits(rng, 19), admin + org, admin + org, Customer.ACTIVE, created])
            self.customer_day.append(day.toordinal())
            self.customer_manager.append(manager)
            self.customer_address.append(address)
            self.customer_level.append(level)
            self.customer_name.append(name)
            self.customer_area.append(area)
        if max(per_day.values()) > 999:
            raise RuntimeError("more than 999 customers on one day: 客户编号 would overflow")
        self.search_terms = terms
        self.customer_rows = rows  # written after the orders decide who is lost

    # -- orders -----------------------------------------------------------------------
    def orders(self):
        """Orders over the five years, each customer's between his creation and today (or
        the day he stopped ordering), many for a few customers and few for most. First the
        days (who is silent decides the churn records, hence who is 流失), then the rows,
        chunk by chunk."""
        rng = self.rng("orders")
        n = len(self.customer_day)
        today = self.today.toordinal()
        # about 15 % stop ordering some time before today; they are the churn candidates
        stopped = [today - rng.randint(190, 900) if rng.random() < 0.15 else today
                   for _ in range(n)]
        first = [d + 3 for d in self.customer_day]
        propensity = [math.exp(rng.gauss(0, 1.3)) for _ in range(n)]
        weights = [p * max(0, e - f) for p, e, f in zip(propensity, stopped, first)]
        counts = spread(self.size["orders"], weights, rng)
        keyed = []
        for i, count in enumerate(counts):
            if count:
                keyed.extend((rng.randint(first[i], stopped[i]) << 20) | i
                             for _ in range(count))
        keyed.sort()
        self.last_order = [None] * n
        for key in keyed:
            self.last_order[key & 0xFFFFF] = key >> 20
        self.last_order = [None if d is None else datetime.date.fromordinal(d)
                           for d in self.last_order]
        line_counts = [rng.choices([1, 2, 3, 4], weights=[20, 30, 30, 20])[0]
                       for _ in range(len(keyed))]
        self._exact(line_counts, self.size["order_lines"], 1, len(self.products))
        self.decide_lost()
        self.write_customers()
        # the customer's manager written with the order, as its trigger would (0021)
        self.bulk.insert(Order, ["id", "customer", "number", "date", "address", "status",
                                 "manager"], self.order_rows(rng, keyed))
        self.bulk.insert(OrderLine, ["id", "order", "product", "quantity", "unit", "price"],
                         self.line_rows(rng, keyed, line_counts))

    def order_rows(self, rng, keyed):
        today = self.today.toordinal()
        seq, last_day = 0, None
        for order_id, key in enumerate(keyed, start=1):
            ordinal, i = key >> 20, key & 0xFFFFF
            seq = seq + 1 if ordinal == last_day else 1
            last_day = ordinal
            day = datetime.date.fromordinal(ordinal)
            unpaid = rng.random() < (0.6 if today - ordinal <= 45 else 0.04)
            yield (order_id, i + 1, f"DD{day:%Y%m%d}{seq:04d}", day, self.customer_address[i],
                   Order.UNPAID if unpaid else Order.PAID, self.customer_manager[i])

    def line_rows(self, rng, keyed, line_counts):
        products, line_id = self.products, 0
        for order_id, (key, lines) in enumerate(zip(keyed, line_counts), start=1):
            scale = 1 + self.customer_level[key & 0xFFFFF] / 2
            for product in rng.sample(products, lines):
                line_id += 1
                if product.price < 100:
                    quantity = rng.randint(1, 20) * 10
                else:
                    quantity = max(1, int(rng.randint(1, 12) * scale))
                yield (line_id, order_id, product.id, quantity, product.unit, product.price)

    @staticmethod
    def _exact(counts, total, low, high):
        """Nudge ``counts`` (each within [low, high]) until they sum to ``total``."""
        difference = total - sum(counts)
        step = 1 if difference > 0 else -1
        i = 0
        while difference and i < 10 * len(counts):
            j = i % len(counts)
            if low <= counts[j] + step <= high:
                counts[j] += step
                difference -= step
            i += 1
        if difference:
            raise RuntimeError(f"cannot reach {total} (off by {difference})")

    def decide_lost(self):
        """Who gets a churn record, and with which status (a confirmed one means 流失);
        about 1 % of the others were deleted (删除 is a status)."""
        rng = self.rng("churn-choice")
        cutoff = self.today - datetime.timedelta(days=183)
        candidates = [i for i, last in enumerate(self.last_order)
                      if (last is not None and last < cutoff) or
                      (last is None and self.customer_day[i] < cutoff.toordinal())]
        count = self.size["churn_records"]
        if len(candidates) < count:
            raise RuntimeError(f"only {len(candidates)} silent customers for {count} churn "
                               "records: raise the scale")
        chosen = rng.sample(candidates, count)
        statuses = ([ChurnRecord.CONFIRMED] * max(1, count // 5) +
                    [ChurnRecord.POSTPONED] * max(1, count * 3 // 10))
        statuses += [ChurnRecord.WARNING] * (count - len(statuses))
        self.churn_plan = list(zip(chosen, statuses))
        rows = self.customer_rows
        status_column = 21
        for i, status in self.churn_plan:
            if status == ChurnRecord.CONFIRMED:
                rows[i][status_column] = Customer.LOST
        churned = {i for i, _ in self.churn_plan}
        others = [i for i in range(len(rows)) if i not in churned]
        for i in rng.sample(others, max(1, len(rows) // 100)):
            rows[i][status_column] = Customer.DELETED
            deleted = rows[i][22] + datetime.timedelta(days=rng.randint(30, 300))
            self.changes.append(("customer", i + 1, Customer.ACTIVE, Customer.DELETED,
                                 self.customer_manager[i], min(deleted, self.last_moment), None))

    def write_customers(self):
        self.bulk.insert(Customer, [
            "id", "number", "name", "region", "manager", "level", "satisfaction", "credit",
            "address", "zip_code", "phone", "fax", "website", "license_no", "legal_person",
            "registered_capital", "annual_revenue", "bank", "bank_account", "local_tax_no",
            "national_tax_no", "status", "created_at"], self.customer_rows)
        self.customer_status = [row[21] for row in self.customer_rows]
        self.customer_created = [row[22] for row in self.customer_rows]
        del self.customer_rows

    # -- contacts and interactions ---------------------------------------------------
    def contacts(self):
        rng = self.rng("contacts")
        n = len(self.customer_day)
        counts = spread(self.size["contacts"], [rng.uniform(0.5, 1.5) for _ in range(n)], rng)
        rows, contact_id = [], 0
        for i, count in enumerate(counts):
            area = self.customer_area[i]
            for title in rng.sample(demo.TITLES, min(count, len(demo.TITLES))) + \
                    [rng.choice(demo.TITLES) for _ in range(count - len(demo.TITLES))]:
                contact_id += 1
                name, gender = self.person(rng)
                rows.append((contact_id, i + 1, name, gender, title,
                             f"{area}-{self.digits(rng, 8)}", self.mobile(rng),
                             rng.choice(demo.CONTACT_NOTES), self.customer_manager[i]))
        self.bulk.insert(Contact, ["id", "customer", "name", "gender", "title", "office_phone",
                                   "mobile", "note", "manager"], rows)  # (0023)

    def activities(self):
        rng = self.rng("activities")
        today = self.today.toordinal()
        weights = [1 + math.sqrt(today - d) / 10 for d in self.customer_day]
        counts = spread(self.size["activities"], weights, rng)

        def rows():
            activity_id = 0
            for i, count in enumerate(counts):
                first = self.customer_day[i]
                for _ in range(count):
                    activity_id += 1
                    summary, detail = rng.choice(demo.ACTIVITIES)
                    yield (activity_id, i + 1,
                           datetime.date.fromordinal(rng.randint(first, max(first, today))),
                           rng.choice(demo.PLACES), summary, detail,
                           rng.choice(demo.ACTIVITY_NOTES), self.customer_manager[i])
        self.bulk.insert(Activity, ["id", "customer", "date", "place", "summary", "detail",
                                    "note", "manager"], rows())  # (0023)

    # -- churn ----------------------------------------------------------------------
    def churn(self):
        rng = self.rng("churn")
        rows = []
        for record_id, (i, status) in enumerate(sorted(self.churn_plan), start=1):
            last = self.last_order[i]
            base = last or datetime.date.fromordinal(self.customer_day[i])
            detected = min(base + datetime.timedelta(days=190), self.today)
            created = stored(datetime.datetime.combine(detected, datetime.time(2, 0)))
            manager = self.customer_manager[i]
            measures = reason = confirmed = None
            if status != ChurnRecord.WARNING:
                entries = []
                for k, text in enumerate(demo.MEASURES[:rng.randint(1, 2)]):
                    day = min(detected + datetime.timedelta(days=12 + 30 * k), self.today)
                    moment = self.at(day, rng)
                    entries.append(f"{day:%Y-%m-%d} {moment:%H:%M} {self.manager_name(manager)}"
                                   f"：{text}")
                    if k == 0:
                        self.changes.append(("churn_record", record_id, ChurnRecord.WARNING,
                                             ChurnRecord.POSTPONED, manager, moment, None))
                measures = "\n".join(entries)
            if status == ChurnRecord.CONFIRMED:
                reason = rng.choice(CHURN_REASONS)
                day = min(detected + datetime.timedelta(days=rng.randint(60, 150)), self.today)
                confirmed = self.at(day, rng)
                self.changes.append(("churn_record", record_id, ChurnRecord.POSTPONED,
                                     ChurnRecord.CONFIRMED, manager, confirmed, None))
                self.changes.append(("customer", i + 1, Customer.ACTIVE, Customer.LOST,
                                     manager, confirmed, None))
            rows.append((record_id, i + 1, last, measures, reason, status, created, confirmed,
                         manager))
        self.bulk.insert(ChurnRecord, ["id", "customer", "last_order_date", "measures",
                                       "reason", "status", "created_at", "confirmed_at",
                                       "manager"], rows)  # the customer's manager (0024)

    def manager_name(self, user_id):
        if not hasattr(self, "_names"):
            self._names = dict(User.select(User.id, User.full_name).tuples())
        return self._names[user_id]

    # -- opportunities -----------------------------------------------------------------
    def opportunities(self):
        rng = self.rng("opportunities")
        count = self.size["opportunities"]
        statuses = ([Opportunity.DEVELOPED] * (count // 4) +
                    [Opportunity.FAILED] * (count * 35 // 100) +
                    [Opportunity.NEW] * max(1, count // 10))
        statuses += [Opportunity.ASSIGNED] * (count - len(statuses))
        rng.shuffle(statuses)
        # the developed ones became customers of the last two years
        recent = [i for i, d in enumerate(self.customer_day)
                  if d > self.today.toordinal() - 730 and d < self.today.toordinal() - 2]
        developed = iter(sorted(rng.sample(recent, min(len(recent), statuses.count(
            Opportunity.DEVELOPED)))))
        pick_manager = weighted_picker(rng, self.managers, self.manager_weight)
        rows, plan, item_id = [], [], 0
        for opportunity_id, status in enumerate(statuses, start=1):
            name, summary, description = None, *rng.choice(
                [(s, d) for _, _, s, d in demo.PROSPECTS] + [(s, d) for _, s, d in demo.DEVELOPED])
            customer = None
            if status == Opportunity.DEVELOPED:
                i = next(developed, None)
                if i is None:
                    status = Opportunity.FAILED
                else:
                    customer, name = i + 1, self.customer_name[i]
                    assignee = self.customer_manager[i]
                    end = self.customer_created[i]
                    created = end - datetime.timedelta(days=rng.randint(40, 70))
            if customer is None:
                name = self.company(rng, rng.choice(CITIES)[1])[0]
                assignee = pick_manager()
                age = {Opportunity.NEW: (1, 30), Opportunity.ASSIGNED: (20, 200)}.get(
                    status, (100, 1000))
                created = self.at(self.day(rng.randint(*age)), rng)
            creator = self.supervisor if rng.random() < 0.6 else pick_manager()
            contact = self.person(rng)[0]
            assigned_at = None
            self.changes.append(("opportunity", opportunity_id, None, Opportunity.NEW,
                                 creator, created, None))
            if status != Opportunity.NEW:
                assigned_at = created + datetime.timedelta(days=rng.randint(1, 5), hours=2)
                self.changes.append(("opportunity", opportunity_id, Opportunity.NEW,
                                     Opportunity.ASSIGNED, self.supervisor, assigned_at, None))
                start = assigned_at.date()
                if status == Opportunity.ASSIGNED:
                    day, steps = start, demo.PLAN_STEPS[:rng.randint(1, 4)]
                    for content, result in steps:
                        day += datetime.timedelta(days=rng.randint(3, 15))
                        item_id += 1
                        plan.append((item_id, opportunity_id, day, content,
                                     result if day < self.today else None))
                else:
                    if customer is None:
                        end = assigned_at + datetime.timedelta(days=rng.randint(30, 60))
                    steps = demo.PLAN_STEPS[:rng.randint(2, 6)]
                    span = max(len(steps) + 1, (end.date() - start).days)
                    for k, (content, result) in enumerate(steps):
                        item_id += 1
                        day = start + datetime.timedelta(days=(k + 1) * span // (len(steps) + 1))
                        if status == Opportunity.FAILED and k == len(steps) - 1:
                            result = rng.choice(demo.FAILURES)
                        plan.append((item_id, opportunity_id, day, content, result))
                    self.changes.append(("opportunity", opportunity_id, Opportunity.ASSIGNED,
                                         status, assignee, end, None))
            else:
                assignee = None
            rows.append((opportunity_id, rng.choice(SOURCES), name, rng.choice(
                [20, 30, 40, 50, 60, 70, 80, 90]), summary, contact, self.mobile(rng),
                description, creator, created, assignee, assigned_at, status, customer))
        self.bulk.insert(Opportunity, [
            "id", "source", "customer_name", "probability", "summary", "contact",
            "contact_phone", "description", "created_by", "created_at", "assigned_to",
            "assigned_at", "status", "customer"], rows)
        self.bulk.insert(PlanItem, ["id", "opportunity", "date", "content", "result"], plan)

    # -- services ----------------------------------------------------------------------
    def services(self):
        rng = self.rng("services")
        count = self.size["services"]
        statuses = ([ServiceRequest.NEW] * max(1, count * 4 // 100) +
                    [ServiceRequest.ASSIGNED] * max(1, count * 6 // 100) +
                    [ServiceRequest.HANDLED] * max(1, count * 5 // 100))
        statuses += [ServiceRequest.ARCHIVED] * (count - len(statuses))
        rng.shuffle(statuses)
        types = [e.item for e in reference_entries(SERVICE_TYPE)]
        weights = [demo.SERVICE_WEIGHTS.get(t, 10) for t in types]
        pick_type = weighted_picker(rng, types, weights)
        active = [i for i, s in enumerate(self.customer_status) if s == Customer.ACTIVE]
        today = self.today.toordinal()
        rows = []
        for service_id, status in enumerate(statuses, start=1):
            kind = pick_type()
            summary, request, handling, result = rng.choice(
                demo.SERVICES.get(kind) or demo.SERVICES["咨询"])
            age = rng.randint(3, 14) if status != ServiceRequest.ARCHIVED else \
                rng.randint(15, 1000)
            i = rng.choice(active)
            if self.customer_day[i] > today - age:
                age = max(0, today - self.customer_day[i] - 1)
            creator = self.customer_manager[i]
            created = self.at(self.day(age), rng)
            assignee = assigned_at = handled_at = None
            text = done = satisfaction = None
            self.changes.append(("service_request", service_id, None, ServiceRequest.NEW,
                                 creator, created, None))
            if status != ServiceRequest.NEW:
                assignee = creator if rng.random() < 0.8 else rng.choice(self.managers)
                assigned_at = created + datetime.timedelta(hours=rng.randint(1, 20))
                self.changes.append(("service_request", service_id, ServiceRequest.NEW,
                                     ServiceRequest.ASSIGNED, self.supervisor, assigned_at,
                                     None))
            if status in (ServiceRequest.HANDLED, ServiceRequest.ARCHIVED):
                text = handling
                handled_at = assigned_at + datetime.timedelta(hours=rng.randint(2, 48))
                self.changes.append(("service_request", service_id, ServiceRequest.ASSIGNED,
                                     ServiceRequest.HANDLED, assignee, handled_at, handling))
            if status == ServiceRequest.ARCHIVED:
                done, satisfaction = result, rng.choices([3, 4, 5], weights=[2, 5, 4])[0]
                self.changes.append((
                    "service_request", service_id, ServiceRequest.HANDLED,
                    ServiceRequest.ARCHIVED, creator,
                    handled_at + datetime.timedelta(days=rng.randint(1, 5)),
                    f"{'☆' * satisfaction} {result}"))
            rows.append((service_id, kind, summary, i + 1, status, request, creator, created,
                         assignee, assigned_at, text, assignee if text else None, handled_at,
                         done, satisfaction))
        self.bulk.insert(ServiceRequest, [
            "id", "service_type", "summary", "customer", "status", "request", "created_by",
            "created_at", "assigned_to", "assigned_at", "handling", "handled_by", "handled_at",
            "result", "satisfaction"], rows)

    def status_changes(self):
        rows = sorted(self.changes, key=lambda c: (c[5], c[0], c[1]))
        self.bulk.insert(StatusChange, ["id", "entity", "entity_id", "from_status",
                                        "to_status", "changed_by", "changed_at", "note"],
                         ((k, *change) for k, change in enumerate(rows, start=1)))


def reference_entries(category):
    return list(DictionaryEntry.of(category))


# -- fingerprints: two builds give the same rows ---------------------------------------

FINGERPRINTED = [Customer, Contact, Activity, Order, OrderLine, ChurnRecord, Opportunity,
                 PlanItem, ServiceRequest, StatusChange]


def fingerprint(models=FINGERPRINTED):
    """A digest per table of every generated row, users named by username (ids of users
    and products depend on the database's sequences, not on the generator)."""
    usernames = dict(User.select(User.id, User.username).tuples())
    products = {p.id: str(p) for p in Product.select()}
    digests = {}
    for model in models:
        fields = model._meta.sorted_fields
        digest = hashlib.sha256()
        for row in model.select(*fields).order_by(model._meta.primary_key).tuples().iterator():
            cells = []
            for field, value in zip(fields, row):
                rel = getattr(field, "rel_model", None)
                if rel is User:
                    value = usernames.get(value)
                elif rel is Product:
                    value = products.get(value)
                cells.append(str(value))
            digest.update("\x1f".join(cells).encode() + b"\x1e")
        digests[model._meta.table_name] = digest.hexdigest()
    return digests


# -- building a database: marker, rebuild, the app ---------------------------------------

def make_app(url):
    """The app on ``url``, as the benchmark runs it: without a developer's env file, with
    its own instance folder, logging warnings only (not a line per request)."""
    os.environ.setdefault("CRM_ENV_FILE", os.devnull)
    os.environ.setdefault("CRM_INSTANCE_PATH", os.path.join(ROOT, ".cache", "bench",
                                                            "instance"))
    from app import create_app
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-large",
                       "SECURITY_PASSWORD_SALT": "bench-large", "LOG_LEVEL": "WARNING"})


def wanted_marker(scale):
    """What a current database's marker says: generator, seed, sizes, and each migration
    with a digest of its text (a migration edited since the build makes it stale too)."""
    migrations = {}
    for migration in Migration.load_directory(schema.MIGRATIONS_DIR):
        with open(migration.path, "rb") as fh:
            migrations[migration.name] = hashlib.sha256(fh.read()).hexdigest()[:16]
    return {"generator": GENERATOR_VERSION, "seed": SEED, "sizes": sizes(scale),
            "migrations": dict(sorted(migrations.items()))}


def read_marker(database):
    """The marker of a generated database, or None; "empty" when it holds no table."""
    tables = database.get_tables()
    if MARKER not in tables:
        return "empty" if not tables else None
    row = database.execute_sql(f"SELECT value FROM {MARKER} WHERE key = 'build'").fetchone()
    return json.loads(row[0]) if row else {}


def write_marker(database, info):
    database.execute_sql(f"CREATE TABLE IF NOT EXISTS {MARKER} (key VARCHAR(20) PRIMARY KEY, "
                         "value TEXT)")
    with database.atomic():
        database.execute_sql(f"DELETE FROM {MARKER} WHERE key = 'build'")
        database.execute_sql(f"INSERT INTO {MARKER} (key, value) VALUES ('build', %s)"
                             .replace("%s", database.param), (json.dumps(info),))


def is_current(marker, wanted):
    return isinstance(marker, dict) and marker.get("state") == "done" and \
        all(marker.get(k) == v for k, v in wanted.items())


def pg_server(url):
    base = url.partition("?")[0]
    server, _, name = base.rpartition("/")
    return server, name


def pg_admin(url):
    import psycopg2
    server, _ = pg_server(url)
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    return connection


def database_size(kind, url):
    if kind == "sqlite":
        return os.path.getsize(url.split("sqlite:///", 1)[1])
    connection = pg_admin(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(%s)", (pg_server(url)[1],))
            return cursor.fetchone()[0]
    finally:
        connection.close()


def current_marker(kind, url):
    """The marker of the database at ``url`` (None: not ours; "empty"; "missing")."""
    if kind == "sqlite":
        path = url.split("sqlite:///", 1)[1]
        if not os.path.exists(path):
            return "missing"
    else:
        connection = pg_admin(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                               (pg_server(url)[1],))
                if cursor.fetchone() is None:
                    return "missing"
        finally:
            connection.close()
    from models import open_database
    database = open_database(url)
    try:
        with database.connection_context():
            return read_marker(database)
    finally:
        getattr(database, "close_all", database.close)()


def build(kind, scale=1.0, force=False, log=print):
    """Build the large database of ``kind`` (sqlite or pg) unless it is current; its marker."""
    url = "sqlite:///" + SQLITE_PATH if kind == "sqlite" else PG_URL
    shown = SQLITE_PATH if kind == "sqlite" else url
    marker = current_marker(kind, url)
    if marker is None:
        raise SystemExit(f"{shown} holds tables but no {MARKER}: not a database this "
                         "generator made; refusing to drop it (choose another BENCH_PG_URL)")
    wanted = wanted_marker(scale)
    if not force and is_current(marker, wanted):
        log(f"{kind}: {shown} is current (generator {GENERATOR_VERSION}, "
            f"{wanted['sizes']['customers']} customers): not rebuilt")
        return marker
    log(f"{kind}: building {shown} at scale {scale} …")
    started = time.perf_counter()
    if kind == "sqlite":
        os.makedirs(os.path.dirname(SQLITE_PATH), exist_ok=True)
        target = SQLITE_PATH + ".building"
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
        build_url = "sqlite:///" + target
    else:
        connection = pg_admin(url)
        try:
            with connection.cursor() as cursor:
                name = pg_server(url)[1]
                if marker != "missing":
                    cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        build_url = url
    app = make_app(build_url)
    with app.app_context():
        database = db.obj
        database.connect(reuse_if_open=True)
        schema.upgrade(database)
        write_marker(database, {**wanted, "state": "building"})
        if kind == "sqlite":
            # the parents are written before their children; checked once at the end
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -400000",
                           "temp_store = MEMORY", "foreign_keys = OFF"):
                database.execute_sql(f"PRAGMA {pragma}")
        else:
            database.execute_sql("SET synchronous_commit = off")
        info = Generator(database, scale, log=log).run()
        analysed = time.perf_counter()
        if kind == "sqlite":
            broken = database.execute_sql("PRAGMA foreign_key_check").fetchmany(5)
            if broken:
                raise RuntimeError(f"foreign keys broken: {broken}")
            database.execute_sql("PRAGMA journal_mode = WAL")
            database.execute_sql("ANALYZE")
        info["analyze_seconds"] = round(time.perf_counter() - analysed, 2)
        info.update(wanted, state="done", built_at=datetime.datetime.now().isoformat(
            timespec="seconds"), build_seconds=round(time.perf_counter() - started, 2))
        write_marker(database, info)
        getattr(database, "close_all", database.close)()
    if kind == "pg":
        analysed = time.perf_counter()
        vacuum(url)  # what autovacuum does on a live server: the planner's statistics
        info["analyze_seconds"] = round(time.perf_counter() - analysed, 2)
    else:
        for suffix in ("-wal", "-shm"):
            if os.path.exists(SQLITE_PATH + suffix):
                os.remove(SQLITE_PATH + suffix)
        os.replace(target, SQLITE_PATH)
    info["build_seconds"] = round(time.perf_counter() - started, 2)
    info["bytes"] = database_size(kind, url)
    app = make_app(url)
    with app.app_context():
        db.connect(reuse_if_open=True)
        write_marker(db.obj, info)
        getattr(db.obj, "close_all", db.obj.close)()
    log(f"{kind}: built in {info['build_seconds']} s, {info['bytes'] / 2**20:.0f} MB")
    return info


def vacuum(url):
    import psycopg2
    connection = psycopg2.connect(url.partition("?")[0])
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    finally:
        connection.close()
    # the summaries, filled row by row by their triggers, rewritten as `copy-database`
    # leaves them (models/schema.py)
    from models import ALL_MODELS, open_database
    database = open_database(url)
    try:
        schema.compact_summaries(database, ALL_MODELS)
    finally:
        getattr(database, "close_all", database.close)()


def parse_scale(text):
    return text if text in SCALES else float(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument("--scale", type=parse_scale, default=1.0,
                        help="1 = 100,000 customers (default); 'small' or e.g. 0.01")
    parser.add_argument("--force", action="store_true", help="rebuild even when current")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "pg"] if args.db == "both" else [args.db]
    for kind in kinds:
        build(kind, args.scale, args.force)


if __name__ == "__main__":
    main()
