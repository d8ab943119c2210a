"""The benchmark at 100,000 customers: every page, on SQLite and PostgreSQL, side by side.

    .venv/bin/python bench/large.py [--db sqlite|pg|both] [--repeat 30] [--quick]

For each database it builds the large database if it is missing or stale (bench/generate.py;
a current one is reused), then measures in a fresh process per database, through the Flask
test client logged in as the role that uses the page: per page p50/p95 over ``--repeat``
requests after warm-up, SQL statements per request, the time spent inside
``db.execute_sql`` (SQL) and outside it (Python), the response size and the page's peak RSS;
the list exports and the report exports (time, size, peak memory); ``flask detect-churn``
(in a subprocess, on a copy of the database); the process's peak RSS and its RSS after the
run. The pages are discovered from the registered views — every Flask-Admin list with its
filters (``_filter_args``), sortable columns (``_sortable_columns``) and search
(``column_searchable_list``), the row links of its first row (details, edit, workflow
steps, per-customer lists), every report with each of its filters, the home page and
权限分配 — so a new view, filter or sort is measured without touching this file.

Writes bench/results.json and the table of bench/README.md (between its markers), and
prints that table. It asserts nothing about speed.
"""
import argparse
import gc
import html
import importlib.metadata
import json
import os
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import generate  # noqa: E402  (sets the environment the app reads)

RESULTS = os.path.join(HERE, "results.json")
README = os.path.join(HERE, "README.md")
TABLE_START, TABLE_END = "<!-- results:start -->", "<!-- results:end -->"

# The targets of issue 9 (p95, ms), by kind of page.
TARGETS = {"list": 15, "search": 20, "detail": 10, "form": 10, "report": 50, "home": 30}
PROCESS_TARGET_MB = 100
CHURN_TARGET_S = 2.0
PG_RATIO_TARGET = 1.5
DEEP_PAGE = 199  # Flask-Admin counts pages from 0: the 200th page
DEEP_REPORT_PAGE = 20
FALLBACK_TERMS = {"2": "华信", "2-common": "电子", "4": "华信电子"}
ROLES = ("supervisor", "manager", "executive", "admin")
# An export is timed from its first request, up to 3 times within the budget.
EXPORT_RUNS = {"repeat": 3, "warmup": 0, "min_samples": 1}


# -- memory ---------------------------------------------------------------------------

def _status_kb(field):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb():
    kb = _status_kb("VmRSS")
    return round(kb / 1024, 1) if kb else None


class PeakMemory:
    """The peak RSS of a stretch of work: Linux resets the high-water mark on request
    (/proc/self/clear_refs, 5); elsewhere the process's peak so far (getrusage)."""

    def __init__(self):
        self.process_peak_kb = 0

    def reset(self):
        self.process_peak_kb = max(self.process_peak_kb, self._peak_kb())
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass

    @staticmethod
    def _peak_kb():
        return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak_mb(self):
        kb = self._peak_kb()
        self.process_peak_kb = max(self.process_peak_kb, kb)
        return round(kb / 1024, 1)

    def process_peak_mb(self):
        kb = max(self.process_peak_kb, self._peak_kb(),
                 resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return round(kb / 1024, 1)


# -- SQL accounting ---------------------------------------------------------------------

class SqlClock:
    """Counts the statements of ``database.execute_sql`` and the time spent inside it."""

    def __init__(self, database):
        self.database = database
        self.original = database.execute_sql
        self.count, self.seconds = 0, 0.0

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.count += 1
        database.execute_sql = timed

    def reset(self):
        self.count, self.seconds = 0, 0.0

    def close(self):
        self.database.execute_sql = self.original


def percentile(samples, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, -(-int(fraction * 100) * len(ordered) // 100) - 1)]


# -- the pages --------------------------------------------------------------------------

class Runner:
    """Measures pages of one app (one database) through its test client."""

    def __init__(self, app, repeat=30, warmup=2, budget=20.0, min_samples=5, log=None,
                 terms=None):
        from models import db
        self.app, self.repeat, self.warmup, self.terms = app, repeat, warmup, terms
        self.budget, self.min_samples = budget, min_samples
        self.log = log or (lambda message: None)
        self.clock = SqlClock(db.obj)
        self.memory = PeakMemory()
        self.pages = []
        self.clients = {}

    # -- who ------------------------------------------------------------------------
    def users(self):
        """supervisor, executive and admin of the demo; the 客户经理 with the most
        customers (the one whose own-scope pages are the heaviest)."""
        from peewee import fn

        from models import Customer, User
        named = {u.username: u for u in User.select().where(
            User.username.in_(["supervisor", "executive", "admin"]))}
        count = fn.COUNT(Customer.id)
        top = (User.managers().select(User, count.alias("n"))
               .join(Customer, on=(Customer.manager == User.id))
               .group_by(User.id).order_by(count.desc(), User.id).first())
        named["manager"] = top or User.managers().first()
        return named

    def client(self, role):
        if role not in self.clients:
            user = self.accounts[role]
            client = self.app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = user.fs_uniquifier
                session["_fresh"] = True
            self.clients[role] = client
        return self.clients[role]

    # -- one page ---------------------------------------------------------------------
    def fetch(self, client, url, keep=True):
        """(status, body) — the body read inside the timing, as a server writes it out;
        with ``keep`` False (an export) only its size is kept: b"" of that length would be
        a second copy, so ``body`` is then the number of bytes."""
        response = client.get(url, buffered=False)
        try:
            if keep:
                return response.status_code, b"".join(response.response)
            return response.status_code, sum(len(chunk) for chunk in response.response)
        finally:
            response.close()

    def measure(self, role, url, view, variant, category, repeat=None, warmup=None,
                min_samples=None):
        """``warmup`` requests, then ``repeat`` timed ones (fewer when the page is slow: at
        least ``min_samples`` within ``budget`` seconds); one entry of the results, and the
        first body. ``peak_rss_mb``: the process's peak RSS while the page was measured."""
        client = self.client(role)
        repeat = repeat or self.repeat
        warmup = self.warmup if warmup is None else warmup
        min_samples = self.min_samples if min_samples is None else min_samples
        entry = {"view": view, "role": role, "variant": variant, "category": category,
                 "url": url}
        self.memory.reset()
        samples, sql, queries, size, body, started = [], [], [], 0, b"", None
        for k in range(warmup + repeat):
            self.clock.reset()
            start = time.perf_counter()
            status, page = self.fetch(client, url, keep=category != "export")
            elapsed = time.perf_counter() - start
            if k == 0:
                entry["status"], size = status, page if isinstance(page, int) else len(page)
                body = page if category != "export" else b""
                if status != 200:
                    entry["skipped"] = f"HTTP {status}"
                    self.pages.append(entry)
                    return entry, body
            del page
            if k < warmup:
                continue
            started = started or start
            samples.append(elapsed * 1000)
            sql.append(self.clock.seconds * 1000)
            queries.append(self.clock.count)
            if time.perf_counter() - started > self.budget and len(samples) >= min_samples:
                break
        python = [total - inside for total, inside in zip(samples, sql)]
        entry.update(
            n=len(samples), p50_ms=round(statistics.median(samples), 2),
            p95_ms=round(percentile(samples, 0.95), 2), min_ms=round(min(samples), 2),
            queries=round(statistics.median(queries)), sql_ms=round(statistics.median(sql), 2),
            python_ms=round(statistics.median(python), 2), bytes=size,
            peak_rss_mb=self.memory.peak_mb())
        self.pages.append(entry)
        self.log(f"  {view:<22} {role:<10} {variant:<34} p95 {entry['p95_ms']:>9.2f} ms "
                 f"q {entry['queries']:>3}")
        return entry, body

    # -- discovery ----------------------------------------------------------------------
    def admin(self):
        return self.app.extensions["admin"][0]

    def roles_for(self, permission):
        """[(role, scope)] who open a page of ``permission``: the brief's rule — reports
        as the executive, 权限管理 and 数据字典 as the admin, a page the supervisor sees
        whole as him, and the 客户经理 on every page he sees (his own rows)."""
        from models.security import ALL
        holders = {role: self.accounts[role].scope(permission) for role in ROLES}
        if permission.startswith("reports.") and holders["executive"]:
            return [("executive", holders["executive"])]
        if holders["admin"] and not any(holders[r] for r in ("supervisor", "manager")):
            return [("admin", holders["admin"])]
        chosen = []
        if holders["supervisor"] == ALL:
            chosen.append(("supervisor", ALL))
        if holders["manager"]:
            chosen.append(("manager", holders["manager"]))
        if not chosen:
            chosen = [(role, scope) for role, scope in holders.items() if scope][:1]
        return chosen

    def list_views(self):
        from flask_admin.model import BaseModelView
        return [v for v in self.admin()._views if isinstance(v, BaseModelView)]

    def other_views(self):
        from flask_admin import AdminIndexView
        from flask_admin.model import BaseModelView
        return [v for v in self.admin()._views
                if not isinstance(v, BaseModelView | AdminIndexView)]

    def filter_value(self, view, flt):
        """A value a user would choose: the measured 客户经理 where he is an option, else
        the first option; the last 30 days for a day range; else the search term."""
        import datetime

        from flask_admin.contrib.peewee.filters import DateBetweenFilter
        options = flt.get_options(view)
        if options:
            values = [str(value) for value, _ in options]
            manager = str(self.accounts["manager"].id)
            return manager if manager in values else values[0]
        today = datetime.date.today()
        if isinstance(flt, DateBetweenFilter):
            return f"{today - datetime.timedelta(days=30)} to {today}"
        return self.terms["2"]

    def list_variants(self, view, full=True):
        """(variant, query string, category) of one list view."""
        base = view.url + "/"
        yield "first page", base, "list"
        if not full:
            return
        yield f"page {DEEP_PAGE + 1}", base + f"?page={DEEP_PAGE}", "list"
        if view.column_searchable_list:
            for key, label in (("2", "search 2字"), ("2-common", "search 2字 common"),
                               ("4", "search 4字")):
                term = self.terms[key]
                yield f"{label} {term}", base + "?" + urllib.parse.urlencode(
                    {"search": term}), "search"
        for arg, (_, flt) in (view._filter_args or {}).items():
            value = self.filter_value(view, flt)
            if not flt.validate(value):
                continue
            yield (f"filter {flt.name}", base + "?" + urllib.parse.urlencode(
                {f"flt0_{arg}": value}), "list")
        columns = [name for name, _ in view._list_columns]
        for name in view._sortable_columns:
            if name in columns:
                label = view.column_labels.get(name, name) if view.column_labels else name
                yield f"sort {label}", base + f"?sort={columns.index(name)}", "list"

    def row_links(self, view, body):
        """The GET links of the list's rows, one of each kind (the first row's): details,
        edit, the workflow steps, per-customer lists, the create form."""
        links, seen = [], set()
        for href in re.findall(r'href="(/admin/[^"]*)"', body.decode("utf-8", "replace")):
            href = html.unescape(href)
            parts = urllib.parse.urlsplit(href)
            params = urllib.parse.parse_qs(parts.query)
            own = parts.path.startswith(view.url + "/") and parts.path != view.url + "/"
            per_customer = "customer" in params and parts.path != view.url + "/"
            if not (own or per_customer) or "/export/" in parts.path:
                continue
            key = (parts.path, tuple(sorted(k for k in params if k != "url")))
            if key in seen:
                continue
            seen.add(key)
            if own:
                name = parts.path[len(view.url) + 1:].strip("/") or "list"
            else:
                name = parts.path.strip("/").split("/")[-1] + " of a customer"
            category = "list" if per_customer and not own else "detail"
            links.append((name, href, category))
        return links

    # -- the whole run --------------------------------------------------------------------
    def run(self, full=True, exports=True):
        """Every page. The requests run outside any application context of ours: one held
        open around them would be shared by every request (and its ``g``, where
        Flask-Login keeps the user of the first request)."""
        from models import db
        with self.app.app_context():
            db.connect(reuse_if_open=True)
            self.accounts = self.users()
            for user in self.accounts.values():
                user.scope("")  # his grants, loaded once
            marker = generate.read_marker(db.obj)
            if not self.terms and isinstance(marker, dict):
                self.terms = marker.get("search_terms")
            self.terms = self.terms or FALLBACK_TERMS
        db.close()
        try:
            self.run_pages(full, exports)
        finally:
            self.clock.close()
        return self.pages

    def run_pages(self, full, exports):
        from models import db
        for view in self.list_views():
            for role, _ in self.roles_for(view.permission):
                with self.app.test_request_context():
                    variants = list(self.list_variants(view, full))
                    db.close()
                body = b""
                for variant, url, category in variants:
                    _, page = self.measure(role, url, view.endpoint, variant, category)
                    if variant == "first page":
                        body = page
                if full:
                    for name, url, category in self.row_links(view, body):
                        self.measure(role, url, view.endpoint, name, category)
        for view in self.other_views():
            self.measure_other(view, full)
        if full:
            self.measure_largest()
        for role in ("supervisor", "manager"):
            self.measure(role, "/admin/", "home", "home page", "home")
        if exports and full:
            self.measure_exports()

    def measure_largest(self):
        """The pages of the customer with the most orders (thousands, where the first
        row's has a handful): his 客户 page and his 历史订单."""
        from models import CustomerSales, db
        with self.app.app_context():
            largest = (CustomerSales.select(CustomerSales.customer)
                       .where(CustomerSales.year == CustomerSales.ALL_YEARS)
                       .order_by(CustomerSales.orders.desc()).scalar())
            db.close()
        if largest is None:
            return
        self.measure("supervisor", f"/admin/customer/details/?id={largest}", "customer",
                     "details, most orders", "detail")
        self.measure("supervisor", f"/admin/order/?customer={largest}", "order",
                     "list of the customer with most orders", "list")

    def measure_other(self, view, full):
        """A report with each of its filters (and a deep page when it pages); any other
        page (权限分配) as it opens."""
        permission = getattr(view, "permission", None)
        if not permission:
            return
        filters = getattr(view, "filters", None)
        base = view.url + "/"
        for role, _ in self.roles_for(permission):
            if filters is None:
                self.measure(role, base, view.endpoint, "page", "form")
                continue
            for variant, query in list(self.report_variants(view, filters, full)):
                self.measure(role, base + ("?" + urllib.parse.urlencode(query) if query else ""),
                             view.endpoint, variant, "report")

    def report_variants(self, view, filters, full):
        import datetime

        from wtforms import SelectField, StringField
        yield "no filter", {}
        if not full:
            return
        with self.app.test_request_context():
            fields = list(filters()._fields.items())
            choices = {name: [value for value, _ in field.choices] for name, field in fields
                       if hasattr(field, "choices") and isinstance(field.choices, list)}
        today = datetime.date.today()
        days = {}
        for name, field in fields:
            kind = type(field).__name__
            if kind == "YearField":
                yield f"{name}={today.year - 1}", {name: str(today.year - 1)}
            elif kind == "DayField":
                days[name] = field
            elif isinstance(field, SelectField):
                for value in choices.get(name, ()):
                    if value != field.default:
                        yield f"{name}={value}", {name: value}
            elif isinstance(field, StringField):
                value = self.accounts["manager"].full_name if "manager" in name \
                    else self.terms["2"]
                yield f"{name}={value}", {name: value}
        if days:
            names = sorted(days)  # date_from, date_to: the last year
            yield "date range", {names[0]: str(today - datetime.timedelta(days=365)),
                                 names[-1]: str(today)}
        if getattr(view, "page_size", None):
            yield f"page {DEEP_REPORT_PAGE + 1}", {"page": str(DEEP_REPORT_PAGE)}

    def measure_exports(self):
        """The whole customer list (CSV, XLSX) as the supervisor, and every report's exports
        as the executive: time, size and the peak memory of each."""
        for view in self.list_views():
            if view.endpoint != "customer":
                continue
            for kind in getattr(view, "export_types", ["csv"]):
                self.measure("supervisor", f"{view.url}/export/{kind}/", view.endpoint,
                             f"export {kind} (whole list)", "export", **EXPORT_RUNS)
        for view in self.other_views():
            if getattr(view, "filters", None) is None:
                continue
            for role, _ in self.roles_for(view.permission)[:1]:
                for kind in ("csv", "xlsx"):
                    self.measure(role, f"{view.url}/?export={kind}", view.endpoint,
                                 f"export {kind}", "export", **EXPORT_RUNS)


# -- detect-churn, in its own process on a copy ------------------------------------------

CHURN_SCRIPT = """
import json, os, resource, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import generate
app = generate.make_app({url!r})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
before = rss()
runner = app.test_cli_runner()
start = time.perf_counter()
result = runner.invoke(args=["detect-churn"])
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": round(seconds, 3), "output": result.output.strip(),
                  "exit_code": result.exit_code, "rss_before_mb": round(before, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       / 1024, 1)}}))
"""


def detect_churn(kind, url, log):
    """``flask detect-churn`` (through the app's CLI) in a new process, on a copy of the
    database: the command's time, the process's peak RSS, the warnings it opened."""
    started = time.perf_counter()
    if kind == "sqlite":
        copy_path = os.path.join(os.path.dirname(generate.SQLITE_PATH), "churn-copy.db")
        source = sqlite3.connect(url.split("sqlite:///", 1)[1])
        target = sqlite3.connect(copy_path)
        source.backup(target)
        source.close()
        target.close()
        copy_url = "sqlite:///" + copy_path
    else:
        server, name = generate.pg_server(url)
        copy_name = name + "_churn"
        connection = generate.pg_admin(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{copy_name}" TEMPLATE "{name}"')
        finally:
            connection.close()
        copy_url = f"{server}/{copy_name}"
    copied = round(time.perf_counter() - started, 1)
    try:
        script = CHURN_SCRIPT.format(root=ROOT, here=HERE, url=copy_url)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=1800)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if lines else {"error": done.stderr[-2000:]}
    finally:
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(copy_path + suffix):
                    os.remove(copy_path + suffix)
        else:
            connection = generate.pg_admin(url)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{copy_name}" WITH (FORCE)')
            finally:
                connection.close()
    result["copy_seconds"] = copied
    log(f"  detect-churn: {result}")
    return result


# -- one database, in its own process ----------------------------------------------------

def measure_database(kind, repeat, quick, log):
    url = "sqlite:///" + generate.SQLITE_PATH if kind == "sqlite" else generate.PG_URL
    app = generate.make_app(url)
    runner = Runner(app, repeat=repeat, warmup=1 if quick else 2, log=log)
    started = time.perf_counter()
    pages = runner.run(full=True, exports=True)
    gc.collect()
    process = {"peak_rss_mb": runner.memory.process_peak_mb(), "rss_after_mb": rss_mb(),
               "seconds": round(time.perf_counter() - started, 1)}
    from models import db
    getattr(db.obj, "close_all", db.obj.close)()
    churn = detect_churn(kind, url, log)
    marker = generate.current_marker(kind, url)
    return {"url": generate.SQLITE_PATH if kind == "sqlite" else url, "build": marker,
            "server": server_version(kind, url), "pages": pages, "process": process,
            "detect_churn": churn, "measured_manager": runner.accounts["manager"].username,
            "search_terms": runner.terms}


def server_version(kind, url):
    if kind == "sqlite":
        return "SQLite " + sqlite3.sqlite_version
    connection = generate.pg_admin(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0]
    finally:
        connection.close()


# -- results: JSON and the README table ----------------------------------------------------

def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gb": memory, "python": platform.python_version(),
            "python_loop_ms": python_loop_ms()}


def python_loop_ms():
    """The host's speed at plain Python: the least of 7 runs of a fixed loop, in ms. The
    same kind of VM has run the pages 1.6 times slower from one session to the next;
    pages measured on two hosts compare only through this."""
    def loop():
        started = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i * i % 7
        return (time.perf_counter() - started) * 1000
    return round(min(loop() for _ in range(7)), 1)


def versions():
    names = ["flask", "flask-admin", "flask-security-too", "peewee", "wtf-peewee", "wtforms",
             "psycopg2-binary", "openpyxl", "tablib"]
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def key(entry):
    return (entry["view"], entry["role"], entry["variant"])


def target_of(entry):
    return TARGETS.get(entry["category"])


def misses(entry, other=None):
    """What ``entry`` misses: its p95 target, and (PostgreSQL) 1.5× SQLite's p95."""
    marks = []
    target = target_of(entry)
    if target and entry.get("p95_ms") is not None and entry["p95_ms"] > target:
        marks.append(f"> {target} ms")
    if other and other.get("p95_ms") and entry.get("p95_ms") and \
            entry["p95_ms"] > PG_RATIO_TARGET * other["p95_ms"]:
        marks.append(f"PG > {PG_RATIO_TARGET}× SQLite")
    return marks


def fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def table(results):
    """The markdown of the results: build, process, detect-churn, then every page."""
    dbs = results["databases"]
    sqlite_db, pg_db = dbs.get("sqlite"), dbs.get("pg")
    lines = [f"Measured {results['measured_at']} on {results['machine']['cpu']} "
             f"({results['machine']['cores']} cores, {results['machine']['memory_gb']} GB), "
             f"Python {results['machine']['python']} (a fixed Python loop: "
             f"{results['machine'].get('python_loop_ms', '–')} ms); "
             + ", ".join(f"{kind}: {d['server']}" for kind, d in dbs.items()) + ".", ""]
    lines += ["| | SQLite | PostgreSQL | target |", "|---|---|---|---|"]

    def both(getter, digits=1):
        return [fmt(getter(d), digits) if d else "–" for d in (sqlite_db, pg_db)]

    def build(d, name):
        return (d.get("build") or {}).get(name) if isinstance(d.get("build"), dict) else None
    rows = [
        ("build time (s)", both(lambda d: build(d, "build_seconds"), 0), ""),
        ("database size (MB)", both(lambda d: (build(d, "bytes") or 0) / 2**20, 0), ""),
        ("process peak RSS (MB)", both(lambda d: d["process"]["peak_rss_mb"]), ""),
        ("process RSS after the run (MB)", both(lambda d: d["process"]["rss_after_mb"]),
         f"≤ {PROCESS_TARGET_MB}"),
        ("detect-churn (s)", both(lambda d: d["detect_churn"].get("seconds"), 2),
         f"≤ {CHURN_TARGET_S:g}"),
        ("detect-churn peak RSS (MB)", both(lambda d: d["detect_churn"].get("peak_rss_mb")),
         ""),
    ]
    for label, cells, target in rows:
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {target} |")
    for kind, d in dbs.items():
        over = []
        if d["process"]["rss_after_mb"] and d["process"]["rss_after_mb"] > PROCESS_TARGET_MB:
            over.append(f"process RSS {d['process']['rss_after_mb']} MB > {PROCESS_TARGET_MB}")
        seconds = d["detect_churn"].get("seconds")
        if seconds is not None and seconds > CHURN_TARGET_S:
            over.append(f"detect-churn {seconds} s > {CHURN_TARGET_S:g}")
        if over:
            lines.append("")
            lines.append(f"**{kind} misses:** " + "; ".join(over) + ".")
        churn = d["detect_churn"].get("output")
        if churn:
            lines.append("")
            lines.append(f"{kind} detect-churn said: `{churn}`")
    for kind, d in dbs.items():
        timed = [e for e in d["pages"] if target_of(e) and e.get("p95_ms") is not None]
        met = [e for e in timed if not misses(e)]
        lines += ["", f"{kind}: {len(met)} of {len(timed)} pages meet their p95 target."]
    lines += ["", "Per page: p50 / p95 in ms over n requests after warm-up, statements per "
              "request (q), time inside `execute_sql` (SQL) and outside (Py) in ms at the "
              "median, response KB. ✗ marks a missed target.", ""]
    lines.append("| view | role | page | target | SQLite p50 / p95 | q | SQL / Py | KB | "
                 "PG p50 / p95 | q | SQL / Py | PG ÷ SQLite | misses |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    pg_pages = {key(e): e for e in (pg_db or {}).get("pages", [])}
    ordered = list((sqlite_db or pg_db or {}).get("pages", []))
    known = {key(e) for e in ordered}
    ordered += [e for e in (pg_db or {}).get("pages", []) if key(e) not in known]
    sqlite_pages = {key(e): e for e in (sqlite_db or {}).get("pages", [])}
    for entry in ordered:
        s, p = sqlite_pages.get(key(entry)), pg_pages.get(key(entry))
        target = target_of(entry)
        cells = []
        for e in (s, p):
            if e is None:
                cells += ["–", "–", "–"]
            elif e.get("skipped"):
                cells += [e["skipped"], "–", "–"]
            else:
                cells += [f"{e['p50_ms']:.1f} / {e['p95_ms']:.1f}" +
                          ("" if e["n"] >= 30 else f" (n={e['n']})"),
                          str(e["queries"]), f"{e['sql_ms']:.1f} / {e['python_ms']:.1f}"]
            if e is s:
                cells.append("–" if e is None or e.get("skipped") else f"{e['bytes'] / 1024:.0f}")
        ratio = "–"
        if s and p and s.get("p95_ms") and p.get("p95_ms"):
            ratio = f"{p['p95_ms'] / s['p95_ms']:.2f}"
        marks = (["SQLite " + m for m in misses(s)] if s else []) + \
            (["PG " + m if not m.startswith("PG") else m for m in misses(p, s)] if p else [])
        note = "✗ " + "; ".join(marks) if marks else ""
        if entry["category"] == "export":  # no latency target: its memory
            note = "peak RSS " + " / ".join(
                fmt(e.get("peak_rss_mb")) if e and not e.get("skipped") else "–"
                for e in (s, p)) + " MB"
        lines.append(" | ".join(["", entry["view"], entry["role"], entry["variant"],
                                 f"≤ {target}" if target else "", *cells, ratio, note, ""])
                     .strip())
    return "\n".join(lines)


def write_readme(text):
    with open(README, encoding="utf-8") as fh:
        content = fh.read()
    if TABLE_START in content and TABLE_END in content:
        head, rest = content.split(TABLE_START, 1)
        tail = rest.split(TABLE_END, 1)[1]
    else:
        head, tail = content.rstrip() + "\n\n## Results\n\n", "\n"
    with open(README, "w", encoding="utf-8") as fh:
        fh.write(f"{head}{TABLE_START}\n{text}\n{TABLE_END}{tail}")


# -- the command ------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "pg", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument("--quick", action="store_true",
                        help="5 requests per page, one warm-up (a look, not a result)")
    parser.add_argument("--measure", choices=["sqlite", "pg"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else args.repeat

    def log(message):
        print(message, file=sys.stderr, flush=True)

    if args.measure:  # the child: one database, its own process
        result = measure_database(args.measure, repeat, args.quick, log)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, ensure_ascii=False)
        return
    kinds = ["sqlite", "pg"] if args.db == "both" else [args.db]
    results = {"measured_at": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
               "versions": versions(), "repeat": repeat,
               "targets": {"p95_ms": TARGETS, "process_rss_mb": PROCESS_TARGET_MB,
                           "detect_churn_s": CHURN_TARGET_S, "pg_ratio": PG_RATIO_TARGET},
               "databases": {}}
    for kind in kinds:
        generate.build(kind, log=log)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
            path = out.name
        try:
            log(f"{kind}: measuring …")
            command = [sys.executable, os.path.abspath(__file__), "--measure", kind,
                       "--out", path, "--repeat", str(repeat)] + (["--quick"] if args.quick
                                                                  else [])
            subprocess.run(command, check=True)
            with open(path, encoding="utf-8") as fh:
                results["databases"][kind] = json.load(fh)
        finally:
            os.remove(path)
    if args.db != "both" and os.path.exists(RESULTS):
        # one database measured: keep the other's last numbers beside it
        with open(RESULTS, encoding="utf-8") as fh:
            previous = json.load(fh)
        for kind, data in previous.get("databases", {}).items():
            results["databases"].setdefault(kind, data)
        results["databases"] = {k: results["databases"][k] for k in ("sqlite", "pg")
                                if k in results["databases"]}
    with open(RESULTS, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    text = table(results)
    write_readme(text)
    print(text)


if __name__ == "__main__":
    main()
