"""A benchmark of the customer import (导入客户): preview, confirm and undo of 10,000 rows.

A database of ``--customers`` customers (default 20,000) of ten 客户经理, and a file of
``--rows`` rows (default 10,000) shaped like an edited export of the list: 60 % of its
rows unchanged customers, 30 % customers with a changed 电话 or 地址, 9 % new ones
(within the 999 客户编号 of a day) and 1 % faulty (an unknown 地区 or 客户经理). It
measures, as CSV and as XLSX:

- the preview as the model makes it (``read_customers`` + ``plan_import``);
- the preview page as the 销售主管 gets it (upload through the page's form, the table
  rendered);
- the confirmation of the file without its faulty rows (every row checked again and
  written through the model, audited), and its undo.

It prints the numbers and writes them to ``bench/results-import.json`` (the latest run
on each database); it asserts nothing about speed.

    .venv/bin/python bench/imports.py [--rows N] [--customers N] [--repeat R]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_import \
        .venv/bin/python bench/imports.py

``BENCH_DATABASE_URL`` must name a scratch database: every table is dropped first.
Without it the run uses a fresh SQLite file in a temporary directory.
"""
import argparse
import csv
import datetime
import io
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import openpyxl  # noqa: E402
from peewee import PostgresqlDatabase, chunked  # noqa: E402

from app import create_app  # noqa: E402
from models import ALL_MODELS, Customer, ImportBatch, Role, User, UserRoles, db, schema  # noqa: E402
from models.base import now  # noqa: E402
from models.customers import imports  # noqa: E402
from seed import reference  # noqa: E402

SEED = 20261202
HEADERS = [imports.NUMBER, *imports.IMPORT_COLUMNS]
REGIONS = ["北京", "华北", "中南", "东北", "西部"]
LEVELS = ["普通客户", "重点开发客户", "大客户", "合作伙伴", "战略合作伙伴"]
RESULTS = os.path.join(HERE, "results-import.json")


def build_app(url):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench",
                      "SECURITY_PASSWORD_SALT": "bench", "SECURITY_PASSWORD_HASH": "plaintext",
                      "TESTING": True, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        tables = [m._meta.table_name for m in ALL_MODELS] + ["schema_migration"]
        cascade = " CASCADE" if isinstance(db.obj, PostgresqlDatabase) else ""
        with db.atomic():
            for table in tables:
                db.obj.execute_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')
        schema.upgrade(db.obj)
        reference.load()
    return app


def people():
    """The 销售主管 and ten 客户经理."""
    roles = {role.code: role.id for role in Role.select()}
    accounts = [("supervisor", "王主管", "supervisor")] + [
        (f"manager{n}", f"经理{n}", "manager") for n in range(10)]
    with db.atomic():
        User.insert_many([{"username": u, "full_name": f, "password": "x", "active": True,
                           "fs_uniquifier": uuid.uuid4().hex} for u, f, _ in accounts]).execute()
        users = {u.username: u for u in User.select()}
        UserRoles.insert_many([{"user": users[u].id, "role": roles[r]}
                               for u, _, r in accounts]).execute()
    return users


def customers(count, users, rng):
    """``count`` complete customers, numbered 500 a day over past days (bulk inserts)."""
    managers = [u for name, u in users.items() if name.startswith("manager")]
    day = datetime.date(2020, 1, 1)
    rows = []
    for n in range(count):
        if n % 500 == 0 and n:
            day += datetime.timedelta(days=1)
        rows.append({
            "number": f"{Customer.number_prefix(day)}{n % 500 + 1:03d}",
            "name": f"客户{n:06d}有限公司", "region": rng.choice(REGIONS),
            "manager": rng.choice(managers).id, "level": rng.randint(1, 5),
            "satisfaction": rng.randint(1, 5), "credit": rng.randint(1, 5),
            "address": f"某市某路 {n} 号", "zip_code": "100000", "phone": f"010-{n:08d}",
            "fax": f"010-9{n:07d}", "website": f"www.c{n}.cn", "legal_person": "张三",
            "registered_capital": f"{rng.randint(1, 99999)}.50", "bank": "农业银行",
            "bank_account": f"6228{n:012d}", "created_at": datetime.datetime(2020, 1, 1),
        })
    with db.atomic():
        for chunk in chunked(rows, 500):
            Customer.insert_many(chunk).execute()


def file_rows(count, rng):
    """The rows of the file: [header…] lists, as an edited export would hold them."""
    stored = list(Customer.select().order_by(Customer.id).limit(int(count * 0.9)))
    managers = {u.id: u.full_name for u in User.select()}
    rows, faulty = [], []
    for n, customer in enumerate(stored):
        cells = [customer.number, customer.name, customer.region, managers[customer.manager_id],
                 LEVELS[customer.level - 1], "☆" * customer.satisfaction,
                 "☆" * customer.credit, customer.address, customer.zip_code, customer.phone,
                 customer.fax, customer.website, "", customer.legal_person,
                 f"{customer.registered_capital:.2f}", "", customer.bank,
                 customer.bank_account, "", ""]
        if n % 3 == 0:  # 30 % changed
            cells[HEADERS.index("电话" if n % 2 else "地址")] += "-改"
        rows.append(cells)
    for n in range(count - len(rows)):
        cells = ["", f"新客户{n:05d}", rng.choice(REGIONS), f"经理{n % 10}", rng.choice(LEVELS),
                 "☆☆☆", "4", "新地址", "200000", f"021-{n:08d}", "021-1", f"www.n{n}.cn", "",
                 "李四",
                 "100", "5,000,000.00", "建设银行", f"6227{n:012d}", "", ""]
        if n % 10 == 9:  # 1 % of the file faulty
            cells[HEADERS.index("地区")] = "火星"
            cells[HEADERS.index("客户经理")] = "nobody"
            faulty.append(len(rows))
        rows.append(cells)
    return rows, faulty


def as_csv(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(rows):
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("客户信息")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def timed(work, repeat):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "runs": [round(t, 3) for t in times]}, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmpdir:
        url = os.environ.get("BENCH_DATABASE_URL") or \
            "sqlite:///" + os.path.join(tmpdir, "bench.db")
        app = build_app(url)
        app.config["CRM_IMPORT_FOLDER"] = os.path.join(tmpdir, "pending")
        results = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   "database": "postgresql" if url.startswith("postgres") else "sqlite",
                   "python": platform.python_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count(), "rows": args.rows, "customers": args.customers}
        with app.app_context():
            users = people()
            customers(args.customers, users, rng)
            schema.optimize(db.obj)
            rows, faulty = file_rows(args.rows, rng)
            files = {"csv": as_csv(rows), "xlsx": as_xlsx(rows)}
            supervisor = users["supervisor"]
            for kind, content in files.items():
                results[f"{kind}_bytes"] = len(content)

                def preview(content=content):
                    read, _ = imports.read_customers(content)
                    return imports.plan_import(read, imports.UPSERT, now())
                timing, plan = timed(preview, args.repeat)
                results[f"preview_{kind}"] = {**timing, "counts": plan.counts}
                print(f"preview {kind:4} {args.rows} rows: {timing['median_s']:.2f} s "
                      f"(median of {args.repeat}) {plan.counts}")
        db.close()
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = supervisor.fs_uniquifier
            session["_fresh"] = True
        for kind, content in files.items():
            def page(content=content, kind=kind):
                answer = client.post("/admin/customer/import/", content_type="multipart/form-data",
                                     data={"mode": "upsert",
                                           "file": (io.BytesIO(content), f"customers.{kind}")})
                assert answer.status_code == 200, answer.status_code
                return answer.get_data(as_text=True)
            timing, text = timed(page, args.repeat)
            shown = dict(re.findall(r'data-outcome="(\w+)" data-count="(\d+)"', text))
            results[f"preview_page_{kind}"] = {**timing, "counts": shown}
            print(f"preview page {kind:4}: {timing['median_s']:.2f} s {shown}")
        # the confirmation of the file without its faulty rows, and its undo
        good = [row for n, row in enumerate(rows) if n not in set(faulty)]
        text = client.post("/admin/customer/import/", content_type="multipart/form-data", data={
            "mode": "upsert", "file": (io.BytesIO(as_csv(good)), "good.csv")}).get_data(
            as_text=True)
        token = re.search(r'name="token" value="([^"]+)"', text).group(1)
        started = time.perf_counter()
        answer = client.post("/admin/customer/import/confirm/", data={"token": token})
        results["confirm_s"] = round(time.perf_counter() - started, 3)
        assert answer.status_code == 302, answer.status_code
        with app.app_context():
            batch = ImportBatch.select().order_by(ImportBatch.id.desc()).get()
            results["confirmed"] = {"created": batch.created, "updated": batch.updated,
                                    "skipped": batch.skipped}
        db.close()
        print(f"confirm {len(good)} rows: {results['confirm_s']:.2f} s {results['confirmed']}")
        started = time.perf_counter()
        answer = client.post("/admin/customer/import/undo/", data={"id": batch.id})
        results["undo_s"] = round(time.perf_counter() - started, 3)
        with app.app_context():
            results["undone"] = ImportBatch.get_by_id(batch.id).status == ImportBatch.UNDONE
        db.close()
        print(f"undo: {results['undo_s']:.2f} s (undone: {results['undone']})")
    try:  # one entry per database: the latest run of each
        with open(RESULTS, encoding="utf-8") as file:
            stored = json.load(file)
    except (OSError, ValueError):
        stored = {}
    stored[results["database"]] = results
    with open(RESULTS, "w", encoding="utf-8") as file:
        json.dump(stored, file, ensure_ascii=False, indent=2)
    print(f"written to {os.path.relpath(RESULTS, ROOT)}")


if __name__ == "__main__":
    main()
