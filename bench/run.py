"""A benchmark of the CRM: list-page latency, the marketing verbs and assignment contention.

It prints numbers and writes them to ``bench/results/<UTC timestamp>.json``; it asserts
nothing about speed (it only checks the data stayed correct: unique customer numbers,
every raced opportunity assigned exactly once).

    .venv/bin/python bench/run.py [--scale N] [--repeat R]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/run.py

``BENCH_DATABASE_URL`` must name a scratch database: every table is dropped first.
Without it the run uses a fresh SQLite file in a temporary directory.
"""
import argparse
import collections
import datetime
import importlib.metadata
import json
import logging
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from peewee import PostgresqlDatabase, chunked, fn  # noqa: E402

from app import create_app  # noqa: E402
from models import (  # noqa: E402
    ALL_MODELS,
    ChurnRecord,
    Customer,
    DomainError,
    Opportunity,
    Order,
    OrderLine,
    Product,
    ServiceRequest,
    StatusChange,
    User,
    db,
    schema,
)
from seed import demo, reference  # noqa: E402

# The list pages timed, with the roles that open them.
PAGES = [
    ("/admin/opportunity/", ("supervisor", "xiaoming")),
    ("/admin/plan/", ("supervisor", "xiaoming")),
    ("/admin/customer/", ("supervisor", "xiaoming")),
    ("/admin/customer/?search=北京", ("supervisor", "xiaoming")),
    ("/admin/order/", ("supervisor", "xiaoming")),
    ("/admin/churn/", ("supervisor", "xiaoming")),
    ("/admin/service_archive/", ("supervisor", "xiaoming")),
    ("/admin/customer/export/csv/", ("supervisor",)),
    ("/admin/stock/", ("xiaoming",)),
]
ROLES = ("supervisor", "xiaoming")
# One day for every workflow verb: the customers developed share its daily number sequence.
AT = datetime.datetime(2020, 1, 6, 10, 0)
WORKFLOW_COUNT = 200
RACE_COUNT = 100
RACE_THREADS = (2, 4)
SEED = 20240601


# -- setup --------------------------------------------------------------------------------

def database_url(tmpdir):
    return os.environ.get("BENCH_DATABASE_URL") or \
        "sqlite:///" + os.path.join(tmpdir, "bench.db")


def drop_everything(database):
    """Every table of the app (and the migration log): the run starts from nothing."""
    tables = [m._meta.table_name for m in ALL_MODELS] + ["schema_migration"]
    cascade = " CASCADE" if isinstance(database, PostgresqlDatabase) else ""
    with database.atomic():
        for table in tables:
            database.execute_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')


def build_app(url):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench",
                      "SECURITY_PASSWORD_SALT": "bench",
                      "SECURITY_PASSWORD_HASH": "plaintext", "TESTING": True})
    with app.app_context():
        drop_everything(db.obj)
        schema.upgrade(db.obj)
    return app


def next_free_seq(day):
    """The next free 3-digit sequence of ``day``'s customer numbers, by the model's rule."""
    number = Customer.next_number(day)
    return int(number[-3:])


def scale_up(factor, rng, today):
    """``factor`` × the demo's customers (numbered, split between the two managers), with
    orders and order lines in the demo's rhythm; plus ``factor`` × the demo's churn records
    and archived services, so those lists are not trivially short. Bulk inserts."""
    managers = [User.get(User.username == name) for name in demo.MANAGERS]
    products = list(Product.select())
    templates = list(Customer.select().order_by(Customer.id))
    skip = {"id", "number", "manager", "created_at", "status"}
    fields = [f for f in Customer._meta.sorted_field_names if f not in skip]

    # customers: numbered per day, continuing each day's sequence
    specs = []
    for k in range(factor):
        for i, template in enumerate(templates):
            created = datetime.datetime.combine(
                today - datetime.timedelta(days=rng.randint(30, 760)),
                datetime.time(rng.randint(8, 17), rng.choice([0, 15, 30, 45])))
            spec = {f: getattr(template, f) for f in fields}
            spec["name"] = f"{template.name}（分{k + 1}）"
            spec["manager"] = managers[(k * len(templates) + i) % 2].id
            spec["created_at"] = created
            spec["status"] = Customer.ACTIVE
            specs.append(spec)
    specs.sort(key=lambda s: s["created_at"])
    seq = {}
    for spec in specs:
        day = spec["created_at"].date()
        if day not in seq:
            seq[day] = next_free_seq(day)
        spec["number"] = f"{Customer.number_prefix(day)}{seq[day]:03d}"
        seq[day] += 1
        if seq[day] > 1000:
            raise SystemExit(f"more than 999 customers on {day}: lower --scale")
    with db.atomic():
        for batch in chunked(specs, 200):
            Customer.insert_many(batch).execute()
    numbers = [s["number"] for s in specs]
    ids = {}
    for batch in chunked(numbers, 500):
        ids.update(Customer.select(Customer.number, Customer.id)
                   .where(Customer.number.in_(batch)).tuples())
    new_customers = [(ids[s["number"]], s) for s in specs]

    # orders: every 20–90 days from a few days after the customer was created
    order_seq = collections.Counter()
    for number, in Order.select(Order.number).tuples():
        day = number[2:10]
        order_seq[day] = max(order_seq[day], int(number[10:]))
    orders, lines = [], []
    for cid, spec in new_customers:
        day = spec["created_at"].date() + datetime.timedelta(days=rng.randint(3, 30))
        while day < today:
            key = f"{day:%Y%m%d}"
            order_seq[key] += 1
            number = f"DD{key}{order_seq[key]:03d}"
            recent = (today - day).days <= 45
            unpaid = rng.random() < (0.6 if recent else 0.05)
            orders.append({"customer": cid, "number": number, "date": day,
                           "address": spec["address"] or "",
                           "status": Order.UNPAID if unpaid else Order.PAID})
            count = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
            for product in rng.sample(products, count):
                quantity = rng.randint(1, 20) * 10 if product.price < 100 else rng.randint(1, 12)
                lines.append((number, {"product": product.id, "quantity": quantity,
                                       "unit": product.unit, "price": product.price}))
            day += datetime.timedelta(days=rng.randint(20, 90))
    with db.atomic():
        for batch in chunked(orders, 500):
            Order.insert_many(batch).execute()
    order_ids = {}
    for batch in chunked([o["number"] for o in orders], 500):
        order_ids.update(Order.select(Order.number, Order.id)
                         .where(Order.number.in_(batch)).tuples())
    with db.atomic():
        for batch in chunked([{**line, "order": order_ids[number]} for number, line in lines],
                             500):
            OrderLine.insert_many(batch).execute()

    # churn records (warning / postponed) and archived services, ``factor`` × the demo's
    demo_churn = ChurnRecord.select().count()
    demo_archived = ServiceRequest.select().where(
        ServiceRequest.status == ServiceRequest.ARCHIVED).count()
    churn = []
    for cid, spec in rng.sample(new_customers, min(len(new_customers), demo_churn * factor)):
        last = today - datetime.timedelta(days=rng.randint(190, 400))
        churn.append({"customer": cid, "last_order_date": last,
                      "status": rng.choice([ChurnRecord.WARNING, ChurnRecord.POSTPONED]),
                      "created_at": datetime.datetime.combine(
                          last + datetime.timedelta(days=190), datetime.time(2, 0))})
    services = []
    for _ in range(demo_archived * factor):
        cid, spec = rng.choice(new_customers)
        kind = rng.choice(list(demo.SERVICES))
        summary, request, handling, result = rng.choice(demo.SERVICES[kind])
        created = datetime.datetime.combine(
            today - datetime.timedelta(days=rng.randint(20, 550)), datetime.time(10, 0))
        manager = spec["manager"]
        services.append({
            "service_type": kind, "summary": summary, "customer": cid,
            "status": ServiceRequest.ARCHIVED, "request": request, "created_by": manager,
            "created_at": created, "assigned_to": manager,
            "assigned_at": created + datetime.timedelta(hours=4), "handling": handling,
            "handled_by": manager, "handled_at": created + datetime.timedelta(days=1),
            "result": result, "satisfaction": rng.choice([3, 4, 5])})
    with db.atomic():
        for batch in chunked(churn, 200):
            ChurnRecord.insert_many(batch).execute()
        for batch in chunked(services, 200):
            ServiceRequest.insert_many(batch).execute()
    return {"customers": len(specs), "orders": len(orders), "order_lines": len(lines),
            "churn_records": len(churn), "archived_services": len(services)}


def row_counts():
    return {m._meta.table_name: m.select().count() for m in ALL_MODELS}


# -- measuring ----------------------------------------------------------------------------

class QueryLog(logging.Handler):
    """Counts the SQL statements peewee runs while attached (peewee logs each at DEBUG)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        msg = record.msg
        self.statements.append(msg[0] if isinstance(msg, tuple) else str(msg))

    def __enter__(self):
        self.logger = logging.getLogger("peewee")
        self.saved = (self.logger.level, self.logger.propagate)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved[0])
        self.logger.propagate = self.saved[1]

    def summary(self):
        """The count, and the statement run most often (an N+1 shows up here)."""
        if not self.statements:
            return {"queries": 0, "most_repeated": 0, "most_repeated_sql": None}
        sql, times = collections.Counter(self.statements).most_common(1)[0]
        return {"queries": len(self.statements), "most_repeated": times,
                "most_repeated_sql": " ".join(sql.split())[:160]}


def p95(samples):
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def client_for(app, user):
    """A test client logged in by writing the session, as Flask-Login would."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.fs_uniquifier
        session["_fresh"] = True
    return client


def fetch(client, url):
    response = client.get(url)
    body = response.get_data()  # an export streams: read it all inside the timing
    response.close()
    return response.status_code, len(body)


def measure_pages(app, repeat):
    users = {u.username: u for u in User.select().where(User.username.in_(list(ROLES)))}
    clients = {name: client_for(app, users[name]) for name in ROLES}
    results = []
    for label, roles in PAGES:
        path, _, query = label.partition("?")
        url = path + ("?" + urllib.parse.quote(query, safe="=&") if query else "")
        for role in roles:
            client = clients[role]
            with QueryLog() as log:
                status, size = fetch(client, url)  # warm-up, and the queries it runs
            entry = {"page": label, "role": role, "status": status, "bytes": size,
                     **log.summary()}
            if status != 200:
                entry["skipped"] = True
                results.append(entry)
                continue
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                fetch(client, url)
                samples.append((time.perf_counter() - start) * 1000)
            entry.update(median_ms=round(statistics.median(samples), 2),
                         p95_ms=round(p95(samples), 2), min_ms=round(min(samples), 2),
                         mean_ms=round(statistics.fmean(samples), 2))
            results.append(entry)
    return results


OPPORTUNITY_FIELDS = dict(source="基准测试", summary="基准测试：批量采购笔记本电脑",
                          description="基准测试生成的销售机会。", probability=50,
                          contact_phone="010-12345678")


def open_many(count, label, supervisor):
    return [Opportunity.open(by=supervisor, at=AT, customer_name=f"{label}客户{i + 1:03d}",
                             contact=f"联系人{i + 1}", **OPPORTUNITY_FIELDS)
            for i in range(count)]


def measure_workflow(count):
    supervisor = User.get(User.username == "supervisor")
    managers = [User.get(User.username == name) for name in demo.MANAGERS]

    start = time.perf_counter()
    opportunities = open_many(count, "基准开发", supervisor)
    opened = time.perf_counter() - start

    start = time.perf_counter()
    for i, opportunity in enumerate(opportunities):
        opportunity.assign(managers[i % 2], by=supervisor, at=AT)
    assigned = time.perf_counter() - start

    with QueryLog() as log:
        opportunities[0].develop(by=opportunities[0].assigned_to, at=AT)
    develop_queries = log.summary()["queries"]
    start = time.perf_counter()
    customers = [opportunities[0].customer]
    for opportunity in opportunities[1:]:
        customers.append(opportunity.develop(by=opportunity.assigned_to, at=AT))
    developed = time.perf_counter() - start  # the first one ran under the query log

    numbers = [c.number for c in customers]
    prefix = Customer.number_prefix(AT.date())
    in_db = Customer.select().where(Customer.number.startswith(prefix)).count()
    unique = len(set(numbers)) == len(numbers) == in_db
    return {
        "count": count, "at": AT.isoformat(),
        "open_total_s": round(opened, 3), "open_mean_ms": round(opened / count * 1000, 3),
        "assign_total_s": round(assigned, 3),
        "assign_mean_ms": round(assigned / count * 1000, 3),
        "open_assign_mean_ms": round((opened + assigned) / count * 1000, 3),
        "develop_total_s": round(developed, 3),
        "develop_mean_ms": round(developed / (count - 1) * 1000, 3),
        "develop_queries": develop_queries,
        "first_number": min(numbers), "last_number": max(numbers),
        "numbers_unique": unique, "numbers_in_db": in_db,
    }


def race(threads, count, label):
    """``threads`` threads assign the same ``count`` opportunities, in the same order."""
    supervisor = User.get(User.username == "supervisor")
    managers = [User.get(User.username == name) for name in demo.MANAGERS]
    ids = [o.id for o in open_many(count, label, supervisor)]
    db.close()  # each thread opens its own connection
    barrier = threading.Barrier(threads + 1)
    wins, refusals, errors = [0] * threads, [0] * threads, [collections.Counter()
                                                            for _ in range(threads)]
    elapsed = [0.0] * threads

    def worker(n):
        with db.connection_context():
            rows = list(Opportunity.select().where(Opportunity.id.in_(ids))
                        .order_by(Opportunity.id))
            barrier.wait()
            start = time.perf_counter()
            for opportunity in rows:
                try:
                    opportunity.assign(managers[n % 2].id, by=supervisor.id, at=AT)
                except DomainError:
                    refusals[n] += 1
                except Exception as exc:  # noqa: BLE001 — counted and reported, not hidden
                    errors[n][type(exc).__name__] += 1
                else:
                    wins[n] += 1
            elapsed[n] = time.perf_counter() - start

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    total = time.perf_counter() - start

    assigned = Opportunity.select().where(Opportunity.id.in_(ids),
                                          Opportunity.status == Opportunity.ASSIGNED).count()
    per_row = (StatusChange.select(StatusChange.entity_id, fn.COUNT(StatusChange.id))
               .where(StatusChange.entity == Opportunity._meta.table_name,
                      StatusChange.entity_id.in_(ids),
                      StatusChange.to_status == Opportunity.ASSIGNED)
               .group_by(StatusChange.entity_id).tuples())
    changes = dict(per_row)
    exactly_once = assigned == count and len(changes) == count and \
        all(n == 1 for n in changes.values())
    error_counts = sum(errors, collections.Counter())
    return {
        "threads": threads, "opportunities": count, "elapsed_s": round(total, 3),
        "wins": wins, "refusals": refusals, "errors": dict(error_counts),
        "thread_elapsed_s": [round(e, 3) for e in elapsed],
        "total_wins": sum(wins), "wins_ok": sum(wins) == count,
        "assigned_exactly_once": exactly_once,
    }


# -- reporting ----------------------------------------------------------------------------

def versions(database):
    meta = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "peewee": importlib.metadata.version("peewee"),
        "flask": importlib.metadata.version("flask"),
        "flask_admin": importlib.metadata.version("flask-admin"),
        "flask_security": importlib.metadata.version("flask-security-too"),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
    }
    if isinstance(database, PostgresqlDatabase):
        meta["postgresql"] = database.execute_sql("SHOW server_version").fetchone()[0]
    return meta


def redact(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def pad(text, width):
    """``text`` left-aligned in ``width`` terminal columns (a Chinese character takes two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def print_pages(pages):
    print(f"\n{'page':34} {'role':10} {'status':>6} {'median':>8} {'p95':>8} "
          f"{'queries':>7} {'max rep':>7} {'KB':>7}")
    for p in pages:
        if p.get("skipped"):
            print(f"{pad(p['page'], 34)} {p['role']:10} {p['status']:>6} {'skipped':>8}")
            continue
        flag = "  <-- >200 ms" if p["p95_ms"] > 200 else ""
        print(f"{pad(p['page'], 34)} {p['role']:10} {p['status']:>6} {p['median_ms']:>8.1f} "
              f"{p['p95_ms']:>8.1f} {p['queries']:>7} {p['most_repeated']:>7} "
              f"{p['bytes'] / 1024:>7.1f}{flag}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10,
                        help="add N × the demo's customers, with orders (default 10)")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed requests per page and role, after one warm-up (default 20)")
    args = parser.parse_args(argv)
    if args.scale < 0 or args.repeat < 1:
        parser.error("--scale must be ≥ 0 and --repeat ≥ 1")

    started = time.perf_counter()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmpdir:
        os.environ["CRM_INSTANCE_PATH"] = os.path.join(tmpdir, "instance")
        url = database_url(tmpdir)
        kind = "postgresql" if url.startswith("postgres") else "sqlite"
        print(f"database: {kind} {redact(url)}  scale={args.scale}  repeat={args.repeat}  "
              f"cores={os.cpu_count()}")
        timings = {}

        t = time.perf_counter()
        app = build_app(url)
        timings["schema_s"] = round(time.perf_counter() - t, 3)
        meta = versions(db.obj)

        with app.app_context():
            t = time.perf_counter()
            reference.load()
            demo.load()
            timings["demo_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            added = scale_up(args.scale, random.Random(SEED), datetime.date.today())
            timings["scale_up_s"] = round(time.perf_counter() - t, 3)
            counts = row_counts()
        db.close()
        print(f"setup: schema {timings['schema_s']} s, demo {timings['demo_s']} s, "
              f"scale-up {timings['scale_up_s']} s")
        print("rows: " + ", ".join(f"{k}={v}" for k, v in counts.items() if v))

        t = time.perf_counter()
        pages = measure_pages(app, args.repeat)
        timings["pages_s"] = round(time.perf_counter() - t, 3)
        print_pages(pages)

        with app.app_context():
            t = time.perf_counter()
            workflow = measure_workflow(WORKFLOW_COUNT)
            timings["workflow_s"] = round(time.perf_counter() - t, 3)
            w = workflow
            print(f"\nworkflow ({w['count']} opportunities, at {w['at']}):")
            print(f"  open    {w['open_mean_ms']:8.2f} ms/op   assign {w['assign_mean_ms']:8.2f} "
                  f"ms/op   open+assign {w['open_assign_mean_ms']:8.2f} ms/op")
            print(f"  develop {w['develop_mean_ms']:8.2f} ms/op   ({w['develop_queries']} "
                  f"queries each)   numbers {w['first_number']}…{w['last_number']}  "
                  f"unique: {'yes' if w['numbers_unique'] else 'NO'} "
                  f"({w['numbers_in_db']} in the database)")

            t = time.perf_counter()
            contention = [race(n, RACE_COUNT, f"基准竞争{n}线程") for n in RACE_THREADS]
            timings["contention_s"] = round(time.perf_counter() - t, 3)
        print(f"\ncontention ({RACE_COUNT} opportunities, every thread assigns each):")
        for c in contention:
            print(f"  {c['threads']} threads: {c['elapsed_s']:.3f} s   wins per thread "
                  f"{c['wins']}   refusals {c['refusals']}   total wins {c['total_wins']} "
                  f"({'ok' if c['wins_ok'] else 'WRONG'}), assigned exactly once: "
                  f"{'yes' if c['assigned_exactly_once'] else 'NO'}"
                  + (f"   errors {c['errors']}" if c["errors"] else ""))

        if isinstance(db.obj, PostgresqlDatabase) and hasattr(db.obj, "close_all"):
            db.obj.close_all()
        else:
            db.close()

    timings["total_s"] = round(time.perf_counter() - started, 3)
    result = {
        "timestamp_utc": stamp, "database": kind, "database_url": redact(url),
        "scale": args.scale, "repeat": args.repeat, **meta,
        "timings": timings, "added": added, "rows": counts, "pages": pages,
        "workflow": workflow, "contention": contention,
    }
    out_dir = os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{stamp}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False, indent=2, default=str)
    print(f"\ntotal {timings['total_s']} s; written to {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
