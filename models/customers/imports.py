"""客户导入: customers created and updated from a CSV/XLSX table, previewed before anything
is written, confirmed, and undone.

The steps, each its own function:

- ``customer_rows(table)``: a file's rows (``tabular.read_table``) keyed by our columns,
  its headers matched in Chinese or English, ignoring case and separators, with common
  aliases (客户名称 is 名称, "Customer no." is 客户编号 …); the cells as text, whether
  the file typed them (an XLSX number, amount or date) or not. The list's own export
  reads back as it was written (its 客户经理 by name, 客户等级 by name, ratings as ☆,
  a text Excel would run as a formula with the quote the export put before it).
- ``plan_import(rows, mode, …)``: every row checked, nothing written. Each row is
  新增 (NEW), 更新 (CHANGED: the fields it changes), 跳过 (SKIPPED: the same as
  stored, or left out by the mode) or 错误 (FAULTY), with *all* its faults, each
  naming its column. A row is matched by 客户编号, else by 名称 + 电话; a 客户编号
  that matches nothing, two rows of one customer, new rows alike in 名称 + 电话, an
  update that would make a customer alike another, several customers alike the row,
  and a 流失 or 删除 customer to update are faults, never a new customer. What the
  rows need from the database is read in a few queries, whatever their number.
- ``run_import(rows, mode, …)``: the plan made again inside one transaction (the data
  may have changed since the preview) and carried out only if no row is faulty: every
  record written through the model (``Customer.clean`` on each, ``create_numbered``,
  ``save_active`` for an update, which writes only the columns the file has), audited
  under the batch's number, with one IMPORT entry; an ``ImportBatch`` keeps what it did.
- ``undo_import(batch, …)``: all or nothing, while every record of the batch is as the
  batch left it (no audit entry after its own; a created customer nothing refers to yet):
  the created customers deleted, the updated ones given back the values they had.

Modes: 仅新增 (CREATE: a row matching a customer is skipped), 新增并更新 (UPSERT),
仅更新 (UPDATE: a row matching none is skipped). 客户经理 is given by 用户名 or 姓名,
客户等级 by name or value, 满意度/信用度 as 1–5 or ☆. A new customer may go to any
在职 客户经理; an update hands a customer over only if the importer may hand customers
over on the edit screen (``may_hand_over``, the view's rule).
"""
import datetime
import json
import re
import unicodedata
from decimal import Decimal

from peewee import IntegrityError, chunked

from .. import audit
from ..base import DIGITS, N_, DomainError, decimal_in_column, local, serialized
from ..basedata import CUSTOMER_LEVEL, REGION, DictionaryEntry
from ..imports import ImportBatch
from ..security import User
from ..tabular import HEADER_ALIASES, read_table
from .customer import Customer

CREATE, UPSERT, UPDATE = "create", "upsert", "update"
MODES = {CREATE: N_("仅新增"), UPSERT: N_("新增并更新"), UPDATE: N_("仅更新")}
NEW, CHANGED, SKIPPED, FAULTY = "new", "changed", "skipped", "faulty"
OUTCOMES = {NEW: N_("新增"), CHANGED: N_("更新"), SKIPPED: N_("跳过"), FAULTY: N_("错误")}

NUMBER = "客户编号"
# The columns of a customer a file may give: header (the export's Chinese label) → field,
# in the export's order. 客户编号 (NUMBER) is the system's: it finds a customer to update.
IMPORT_COLUMNS = {
    "名称": "name", "地区": "region", "客户经理": "manager", "客户等级": "level",
    "客户满意度": "satisfaction", "客户信用度": "credit", "地址": "address",
    "邮政编码": "zip_code", "电话": "phone", "传真": "fax", "网址": "website",
    "营业执照注册号": "license_no", "法人": "legal_person",
    "注册资金（万元）": "registered_capital",
    "年营业额": "annual_revenue", "开户银行": "bank", "银行帐号": "bank_account",
    "地税登记号": "local_tax_no", "国税登记号": "national_tax_no",
}
COLUMNS = {NUMBER: "number", **IMPORT_COLUMNS}
FIELD_COLUMNS = {field: column for column, field in COLUMNS.items()}
# The other names files give the columns: the English UI's labels (the English export's
# headers), and common variants. Matched as HEADER_ALIASES are (case, spaces, _ - . and
# full-width forms ignored); its own entries for these columns count too.
ALIASES = {
    "客户编号": ("编号", "客户代码", "customer no.", "customer number", "customer id",
             "customer code", "no.", "number"),
    "名称": ("客户名称", "客户", "公司名称", "企业名称", "单位名称", "name", "customer name",
           "customer", "company", "company name", "account name"),
    "地区": ("区域", "所在地区", "region", "area"),
    "客户经理": ("负责人", "销售", "account manager", "manager", "owner", "sales rep"),
    "客户等级": ("等级", "级别", "customer level", "level", "grade"),
    "客户满意度": ("满意度", "customer satisfaction", "satisfaction"),
    "客户信用度": ("信用度", "信用", "credit rating", "credit"),
    "地址": ("公司地址", "详细地址", "address"),
    "邮政编码": ("邮编", "postal code", "zip code", "zip", "postcode"),
    "电话": ("联系电话", "电话号码", "公司电话", "phone", "telephone", "tel", "phone number"),
    "传真": ("传真号码", "fax"),
    "网址": ("网站", "主页", "website", "web site", "url", "homepage"),
    "营业执照注册号": ("营业执照号", "营业执照", "统一社会信用代码", "business license no.",
                "license no.", "business license"),
    "法人": ("法定代表人", "法人代表", "legal representative", "legal person"),
    "注册资金（万元）": ("注册资金", "注册资本", "注册资本（万元）",
                  "registered capital (10,000 cny)", "registered capital"),
    "年营业额": ("营业额", "年销售额", "annual revenue", "revenue", "annual turnover"),
    "开户银行": ("开户行", "银行", "bank"),
    "银行帐号": ("银行账号", "帐号", "账号", "bank account", "bank account no.",
             "account no.", "account number"),
    "地税登记号": ("地税号", "local tax registration no.", "local tax no."),
    "国税登记号": ("国税号", "national tax registration no.", "national tax no."),
}
# Columns of the export that an import leaves alone (the list's own file has them).
IGNORED = {"状态": ("status",), "创建时间": ("created at", "created")}
AMOUNT_FIELDS = set(Customer.AMOUNTS)
RATING_FIELDS = set(Customer.RATINGS)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what an export quotes (admin_views/base.py)
STARS = re.compile(r"[☆★]{1,5}")
MAX_SHOWN_VALUE = 60  # characters of a value quoted in a message


# -- reading a file --------------------------------------------------------------------

class ImportFile(DomainError):
    """A file that cannot be imported at all (its headers); nothing is checked further."""


def header_key(header):
    """A header as compared: full-width forms folded (（）→ ()), case ignored, without
    spaces, "_", "-", "." and the "*" a template marks required columns with."""
    text = unicodedata.normalize("NFKC", str(header or "")).casefold()
    return re.sub(r"[\s_\-.*]", "", text)


def _names():
    names = {}
    for column in COLUMNS:
        for name in (column, *HEADER_ALIASES.get(column, ()), *ALIASES.get(column, ())):
            names.setdefault(header_key(name), column)
    for column, aliases in IGNORED.items():
        for name in (column, *aliases):
            names.setdefault(header_key(name), None)
    return names


HEADER_NAMES = _names()


def read_customers(content):
    """The rows of a CSV or XLSX file's bytes (``customer_rows``); DomainError when it is
    too big, unreadable, has no usable header or no customer."""
    rows, unknown = customer_rows(read_table(content))
    if not rows:
        raise ImportFile(N_("文件中没有客户：第一行为列名，从第二行起每行一个客户"))
    return rows, unknown


def customer_rows(table):
    """``table`` (dicts keyed by a file's headers, as ``read_table`` gives them) as
    (row number, {column: text}) for each row that is not blank, and the headers that
    were not ours (unknown ones; the export's 状态 and 创建时间 are left out silently).
    A column the file lacks is absent from every row. ImportFile when a column is given
    twice or the file has neither 客户编号 nor 名称."""
    if not table:
        return [], []
    headers = list(table[0])
    found, unknown, twice = {}, [], []
    for header in headers:
        key = header_key(header)
        if not key:
            continue
        column = HEADER_NAMES.get(key, "?")
        if column == "?":
            unknown.append(str(header))
        elif column in found:
            twice.append(column)
        elif column is not None:
            found[column] = header
    if twice:
        raise ImportFile(N_("“%(label)s”列出现了两次"), label=N_(twice[0]))
    if NUMBER not in found and "名称" not in found:
        raise ImportFile(N_("文件缺少“客户编号”或“名称”列：第一行须为列名（可下载模板）"))
    rows = []
    for number, row in enumerate(table, start=2):  # row 1 holds the headers
        cells = {column: cell_text(row.get(header)) for column, header in found.items()}
        if any(value is not None for value in cells.values()):
            rows.append((number, cells))
    return rows, unknown


def cell_text(value):
    """A cell as text, None when blank: a typed cell as a user would type it (3, not
    3.0; an amount as its digits; a date as 2026-12-01), a text stripped, without the
    quote an export put before a text Excel would run as a formula."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value).strip()
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_START):
        text = text[1:]
    return text or None


# -- what the rows need from the database, read at once --------------------------------

class Lookups:
    """The dictionary, the 客户经理 and the customers a file's rows name, each read in a
    few queries: never one per row."""

    def __init__(self, rows):
        self.regions = list(DictionaryEntry.items(REGION))
        self.region_set = set(self.regions)
        entries = list(DictionaryEntry.of(CUSTOMER_LEVEL))
        self.level_values = {entry.value for entry in entries}  # what clean() accepts
        self.levels, self.level_names = {}, {}
        for entry in entries:
            if DIGITS.fullmatch(entry.value):
                value = int(entry.value)
                self.level_names.setdefault(value, entry.item)
                for text in (entry.item, entry.value):
                    self.levels.setdefault(text.casefold(), value)
        self.managers = list(User.managers())
        self.manager_ids = {user.id for user in self.managers}
        self.by_username = {user.username.casefold(): user for user in self.managers}
        self.by_full_name = {}
        for user in self.managers:
            self.by_full_name.setdefault(user.full_name, []).append(user)
        # the customers of the rows' 客户编号, and every customer named as a row or as
        # one of those (an update of 电话 alone may make him alike another)
        numbers = {cells[NUMBER] for _, cells in rows if cells.get(NUMBER)}
        self.by_number, self.by_key, known = {}, {}, {}
        for chunk in chunked(sorted(numbers), 500):
            for customer in Customer.select().where(Customer.number.in_(chunk)):
                self.by_number[customer.number] = known[customer.id] = customer
        names = {cells["名称"] for _, cells in rows if cells.get("名称")} | {
            customer.name for customer in self.by_number.values()}
        for chunk in chunked(sorted(names), 500):
            for customer in Customer.select().where(Customer.name.in_(chunk)):
                known.setdefault(customer.id, customer)
        for customer in known.values():
            self.by_key.setdefault(_key(customer.name, customer.phone), {})[
                customer.id] = customer
        current = {customer.manager_id for customer in known.values()}
        self.users = {user.id: user for user in self.managers}
        missing = sorted(current - set(self.users))
        for chunk in chunked(missing, 500):
            self.users.update({user.id: user for user in User.select().where(User.id.in_(chunk))})

    def manager(self, text, current_id=None):
        """The user a 客户经理 cell names (his 用户名 or 姓名); the customer's own 客户经理
        when it names him (he may have left since: the list's export names him still)."""
        current = self.users.get(current_id)
        if current is not None and text in (current.username, current.full_name):
            return current
        user = self.by_username.get(text.casefold())
        if user is not None:
            return user
        found = self.by_full_name.get(text, [])
        if len(found) > 1:
            raise DomainError(N_("有 %(count)d 位客户经理名叫“%(value)s”，请填写用户名"),
                              field="manager", count=len(found), value=_shown(text))
        if not found:
            raise DomainError(N_("“%(value)s”不是在职的客户经理（填写用户名或姓名）"),
                              field="manager", value=_shown(text))
        return found[0]

    def level(self, text, current=None):
        if current is not None and text in (self.level_names.get(current), str(current)):
            return current
        value = self.levels.get(text.casefold())
        if value is None:
            raise DomainError(N_("客户等级“%(value)s”不存在（可选：%(choices)s）"), field="level",
                              value=_shown(text), choices=Listed(self.level_names.values()))
        return value

    def region(self, text, current=None):
        if text == current or text in self.region_set:
            return text
        raise DomainError(N_("地区“%(value)s”不存在（可选：%(choices)s）"), field="region",
                          value=_shown(text), choices=Listed(self.regions))


class Listed(tuple):
    """Values a message lists (rows, choices, customers): joined in the user's language
    where the message is shown ("、" in Chinese); as text, with "、"."""

    def __str__(self):
        return "、".join(str(value) for value in self)


def _key(name, phone):
    """What a customer is matched by when no 客户编号 is given: 名称 and 电话."""
    return ((name or "").strip(), (phone or "").strip())


def _shown(text):
    return text if len(text) <= MAX_SHOWN_VALUE else text[:MAX_SHOWN_VALUE] + "…"


def _rating(text, field):
    if STARS.fullmatch(text):
        return len(text)
    if DIGITS.fullmatch(text) and len(text) == 1 and text in "12345":
        return int(text)
    raise DomainError(N_("%(label)s须为 1 到 5 或 ☆ 到 ☆☆☆☆☆"), field=field,
                      label=Customer.RATINGS[field])


def _amount(text, field):
    """An amount as Excel writes it (1,234.50, ¥1,234.50), checked as an edit checks it."""
    cleaned = text.replace(",", "").replace("，", "").lstrip("¥￥").strip()
    return decimal_in_column(cleaned, Customer._meta.fields[field], Customer.AMOUNTS[field])


def _value(field, text, lookups, current=None):
    """The value a cell gives ``field`` (None when blank); DomainError when it names
    nothing (a 客户经理, 客户等级 or 地区 not known) or is no rating or amount.
    ``current`` is the customer's value, which a cell naming it keeps."""
    if text is None:
        return None
    if field == "manager":
        return lookups.manager(text, current)
    if field == "level":
        return lookups.level(text, current)
    if field == "region":
        return lookups.region(text, current)
    if field in RATING_FIELDS:
        return _rating(text, field)
    if field in AMOUNT_FIELDS:
        return _amount(text, field)
    return text


def _same(field, stored, value):
    if field == "manager":
        return stored == getattr(value, "id", value)
    if field in AMOUNT_FIELDS and stored is not None and value is not None:
        return Decimal(stored) == Decimal(value)
    return (stored if stored != "" else None) == (value if value != "" else None)


def check(customer, lookups):
    """The faults ``Customer.clean`` finds in ``customer``, with the dictionary and the
    客户经理 of ``lookups`` (read once for all the rows, not once a row)."""
    try:
        customer.clean(lookups)
    except DomainError as error:
        return list(getattr(error, "errors", [error]))
    return []


# -- the plan: every row checked, nothing written --------------------------------------

class Fault:
    """One fault of a row: its column (a header msgid, None for the row as a whole), the
    message (a msgid) and its placeholders."""

    def __init__(self, column, message, params=None):
        self.column, self.message, self.params = column, message, params or {}

    @classmethod
    def of(cls, error):
        return cls(FIELD_COLUMNS.get(error.field, error.field), error.message, error.params)

    def __repr__(self):
        text = self.message % self.params if self.params else self.message
        return f"Fault({self.column!r}, {text!r})"


class RowPlan:
    """What the import does with one row: ``outcome`` (NEW, CHANGED, SKIPPED, FAULTY),
    ``customer`` (the matched one), ``fields`` ({field: value} a new customer gets or an
    update writes), ``changes`` ({field: (before, after)} of an update, as stored),
    ``shown`` (those changes as (column, before, after) texts), ``reason`` (why a row is
    skipped: a msgid) and ``faults``."""

    def __init__(self, number, cells):
        self.number, self.cells = number, cells
        self.outcome, self.customer, self.reason = None, None, None
        self.fields, self.changes, self.faults, self.shown = {}, {}, [], []

    def fault(self, column, message, **params):
        self.faults.append(Fault(column, message, params))

    @property
    def key_column(self):
        return NUMBER if self.cells.get(NUMBER) else "名称"

    @property
    def label(self):
        """客户编号 and 名称 as the preview names the row."""
        number = self.customer.number if self.customer is not None else self.cells.get(NUMBER)
        name = self.cells.get("名称") or (self.customer.name if self.customer else None)
        return number, name


class Plan:
    def __init__(self, mode, rows, unknown=()):
        self.mode, self.rows, self.unknown = mode, rows, list(unknown)

    @property
    def counts(self):
        counts = dict.fromkeys(OUTCOMES, 0)
        for row in self.rows:
            counts[row.outcome] += 1
        return counts

    @property
    def faulty(self):
        return [row for row in self.rows if row.outcome == FAULTY]

    @property
    def ok(self):
        return not self.faulty


def plan_import(rows, mode, at, may_hand_over=False, owner=None):
    """The ``Plan`` of importing ``rows`` ((row number, {column: text}), ``customer_rows``)
    in ``mode`` at ``at`` (the day new customers are numbered by); nothing is written.
    ``owner``: when the importer reaches only his own customers, his id (others' are not
    updated)."""
    if mode not in MODES:
        raise DomainError(N_("请选择导入方式"), field="mode")
    lookups = Lookups(rows)
    plans = [RowPlan(number, cells) for number, cells in rows]
    for row in plans:
        _match(row, lookups)
    _same_customer_twice(plans)
    for row in plans:
        if row.faults:
            continue
        if row.customer is None:
            if mode == UPDATE:
                row.outcome, row.reason = SKIPPED, N_("没有匹配的客户（仅更新）")
            else:
                _new(row, lookups)
        elif mode == CREATE:
            row.outcome, row.reason = SKIPPED, N_("客户已存在（仅新增）")
        else:
            _update(row, lookups, may_hand_over, owner)
    _alike(plans, lookups)
    _numbers_left(plans, at)
    for row in plans:
        if row.faults:
            row.outcome = FAULTY
    plan = Plan(mode, plans)
    plan.lookups = lookups  # what run_import's writes check against, read once
    return plan


def _match(row, lookups):
    number, name, phone = (row.cells.get(c) for c in (NUMBER, "名称", "电话"))
    if number:
        row.customer = lookups.by_number.get(number)
        if row.customer is None:
            row.fault(NUMBER, N_("客户编号“%(value)s”不存在（新客户不填客户编号，由系统编号）"),
                      value=_shown(number))
        return
    if name and phone:
        found = list(lookups.by_key.get(_key(name, phone), {}).values())
        if len(found) > 1:
            row.fault("名称", N_("有 %(count)d 个客户的名称和电话与此行相同（%(numbers)s），"
                               "请填写客户编号"), count=len(found),
                      numbers=Listed(sorted(c.number for c in found)))
        elif found:
            row.customer = found[0]


def _same_customer_twice(plans):
    """Two rows of one customer (by 客户编号, or one by 编号 and one by 名称 + 电话)."""
    rows = {}
    for row in plans:
        if row.customer is not None:
            rows.setdefault(row.customer.id, []).append(row)
        elif row.cells.get(NUMBER):  # a number matching nothing, given twice
            rows.setdefault(row.cells[NUMBER], []).append(row)
    for same in rows.values():
        for row in same if len(same) > 1 else ():
            others = Listed(other.number for other in same if other is not row)
            row.fault(row.key_column, N_("与第 %(rows)s 行是同一客户"), rows=others)


def _new(row, lookups):
    customer = Customer()
    for column, text in row.cells.items():
        field = COLUMNS[column]
        if field == "number":
            continue
        try:
            value = _value(field, text, lookups)
        except DomainError as exc:
            row.faults.append(Fault.of(exc))
            value = None
        setattr(customer, field, value)
        row.fields[field] = value
    _checked(row, customer, lookups)
    if not row.faults:
        row.outcome = NEW


def _update(row, lookups, may_hand_over, owner):
    customer = row.customer
    if customer.status != Customer.ACTIVE:
        row.fault(row.key_column, N_("客户“%(name)s”已%(status)s，不能修改"), name=customer.name,
                  status=Customer.STATUS[customer.status])
        return
    if owner is not None and customer.manager_id != owner:
        row.fault(row.key_column, N_("客户“%(name)s”不归您管理，不能修改"), name=customer.name)
        return
    candidate = Customer(**customer.__data__)
    for column, text in row.cells.items():
        field = COLUMNS[column]
        if field == "number":
            continue
        stored = customer.__data__.get(field)
        try:
            value = _value(field, text, lookups, stored)
        except DomainError as exc:
            row.faults.append(Fault.of(exc))
            continue
        if not _same(field, stored, value):
            row.fields[field] = value
            setattr(candidate, field, value)
    if "manager" in row.fields and not may_hand_over:
        row.fault("客户经理", N_("您无权更换客户经理（现为%(name)s）"),
                  name=str(lookups.users.get(customer.manager_id, customer.manager_id)))
    if row.faults:
        return
    if not row.fields:
        row.outcome, row.reason = SKIPPED, N_("与系统中的相同")
        return
    _checked(row, candidate, lookups)
    if not row.faults:
        row.outcome = CHANGED
        row.fields = {field: getattr(candidate, field) for field in row.fields}  # as checked
        row.changes = {field: (customer.__data__.get(field), _stored(field, value))
                       for field, value in row.fields.items()}
        row.shown = [(FIELD_COLUMNS[field], shown(field, before, lookups),
                      shown(field, after, lookups))
                     for field, (before, after) in row.changes.items()]


def shown(field, value, lookups):
    """A stored value as the list shows it: a 客户经理 by name, 客户等级 by its name,
    ratings as ☆, amounts with two decimals; blank for none."""
    if value is None or value == "":
        return ""
    if field == "manager":
        return str(lookups.users.get(value, value))
    if field == "level":
        return lookups.level_names.get(value, str(value))
    if field in RATING_FIELDS:
        return "☆" * value
    if field in AMOUNT_FIELDS:
        return f"{Decimal(value):,.2f}"
    return str(value)


def _stored(field, value):
    return getattr(value, "id", value)


def _checked(row, customer, lookups):
    """The model's rules on the whole record; a column already faulted is not named twice."""
    faulted = {fault.column for fault in row.faults}
    for error in check(customer, lookups):
        fault = Fault.of(error)
        if fault.column not in faulted:
            row.faults.append(fault)


def _alike(plans, lookups):
    """New rows alike in 名称 + 电话, and updates making a customer alike another (in the
    file or in the database): no two customers may come out alike."""
    rows = {}
    for row in plans:
        if row.faults or row.outcome not in (NEW, CHANGED):
            continue
        name = row.fields.get("name", row.customer.name if row.customer else None)
        phone = row.fields.get("phone", row.customer.phone if row.customer else None)
        if not name or not phone:
            continue
        key = _key(name, phone)
        rows.setdefault(key, []).append(row)
        if row.outcome == CHANGED and {"name", "phone"} & set(row.fields):
            others = [c for c in lookups.by_key.get(key, {}).values() if c.id != row.customer.id]
            if others:
                row.fault("名称", N_("已有名称和电话相同的客户“%(number)s”"),
                          number=others[0].number)
    for same in rows.values():
        for row in same if len(same) > 1 else ():
            others = Listed(other.number for other in same if other is not row)
            row.fault("名称", N_("与第 %(rows)s 行的名称和电话相同"), rows=others)


def _numbers_left(plans, at):
    """客户编号 are KH + day + 3 digits: new rows beyond the day's last number are faults."""
    new = [row for row in plans if row.outcome == NEW and not row.faults]
    if not new:
        return
    try:
        first = int(Customer.next_number(local(at).date())[-3:])
    except DomainError:
        first = 1000
    for row in new[max(0, 1000 - first):]:
        row.fault(NUMBER, N_("今天的客户编号已用完（每天最多 999 个），此行请明天再导入"))


# -- writing --------------------------------------------------------------------------

def run_import(rows, mode, *, file_name, by, at, may_hand_over=False, owner=None):
    """Import ``rows`` in ``mode`` in one transaction: (plan, batch). The plan is made
    again; if a row is faulty (or the model refuses one while writing) nothing is
    written and batch is None, the plan naming every fault."""
    database = Customer._meta.database
    with database.atomic() as transaction:
        serialized(database, "customer import")  # two imports of one new row: one creates it
        plan = plan_import(rows, mode, at, may_hand_over=may_hand_over, owner=owner)
        if not plan.ok:
            return plan, None
        counts = plan.counts
        batch = ImportBatch.create(entity="customer", user=by, at=at, file_name=file_name[:255],
                                   mode=mode, created=counts[NEW], updated=counts[CHANGED],
                                   skipped=counts[SKIPPED])
        created, updated = [], {}
        with audit.batch(batch.id), audit.collected():
            for row in plan.rows:
                try:
                    if row.outcome == NEW:
                        created.append(_create(row, at, plan.lookups))
                    elif row.outcome == CHANGED:
                        _save(row, plan.lookups)
                        updated[row.customer.id] = {
                            field: [_json(before), _json(after)]
                            for field, (before, after) in row.changes.items()}
                except DomainError as exc:
                    row.faults += [Fault.of(error)
                                   for error in getattr(exc, "errors", None) or [exc]]
                    row.outcome = FAULTY
            if not plan.ok:
                transaction.rollback()
                return plan, None
            batch.changes = json.dumps({"created": created, "updated": updated})
            batch.save()
            audit.record(audit.IMPORT, entity="customer", label=file_name,
                         changes={"mode": [None, mode], "created": [None, counts[NEW]],
                                  "updated": [None, counts[CHANGED]],
                                  "unchanged": [None, counts[SKIPPED]]}, by=by, at=at)
    return plan, batch


def _create(row, at, lookups):
    customer = Customer(**row.fields)
    customer.clean(lookups)  # the model's rules, as every write of a customer
    fields = {field: getattr(customer, field) for field in IMPORT_COLUMNS.values()}
    return Customer.create_numbered(at, **fields).id


def _save(row, lookups):
    customer = row.customer
    for field, value in row.fields.items():
        setattr(customer, field, value)
    customer.save_active(list(row.fields), lookups)  # clean(), then these columns, while 正常


def _json(value):
    return str(value) if isinstance(value, Decimal) else value


# -- undo -----------------------------------------------------------------------------

MAX_NAMED = 3  # customers a refusal names


def undo_import(batch, *, by, at, administrator=False):
    """Undo ``batch`` (an ImportBatch of customers) for the user ``by`` (an administrator
    may undo anyone's): the customers it created deleted, those it updated given back
    their values; all or nothing, audited under the batch's number with an UNDO entry.

    Refused (DomainError) when the batch is not his or undone already, when a record
    has an audit entry after the batch's (edited, moved, deleted …; or it is not as the
    batch left it), or a created customer has anything referring to him (a contact, an
    order …)."""
    by_id = getattr(by, "id", by)
    if not batch.undoable_by(by_id, administrator):
        if batch.status != ImportBatch.DONE:
            raise DomainError(N_("导入批次 %(number)d 已撤销"), number=batch.id)
        if not (batch.created or batch.updated):
            raise DomainError(N_("导入批次 %(number)d 没有新增或更新任何客户，无需撤销"),
                              number=batch.id)
        raise DomainError(N_("只有导入人或管理员可以撤销导入批次 %(number)d"), number=batch.id)
    created, updated = batch.written
    database = Customer._meta.database
    with database.atomic():
        if not batch.update_if(ImportBatch.status == ImportBatch.DONE,
                               {ImportBatch.status: ImportBatch.UNDONE,
                                ImportBatch.undone_by: by_id, ImportBatch.undone_at: at}):
            raise DomainError(N_("导入批次 %(number)d 已撤销"), number=batch.id)
        customers = _customers(created + list(updated))
        _refuse_changed_since(batch, customers, created, updated)
        _refuse_referred(customers, created)
        with audit.batch(batch.id), audit.collected():
            for key, fields in updated.items():
                customer = customers[key]
                values = {field: _restored(field, before) for field, (before, _) in fields.items()}
                if not customer.update_if(Customer.status == Customer.ACTIVE, values):
                    raise _changed([customer])
            for key in created:
                try:
                    with database.atomic():
                        customers[key].delete_instance()
                except IntegrityError:  # referred to by a table the check above missed
                    raise DomainError(N_("不能撤销：新增的客户“%(name)s”已被其他记录引用"),
                                      name=customers[key].name) from None
            audit.record(audit.UNDO, entity="customer", label=batch.file_name, by=by_id, at=at,
                         changes={"created": [len(created), 0], "updated": [len(updated), 0]})
    batch.status, batch.undone_by, batch.undone_at = ImportBatch.UNDONE, by_id, at
    return len(created), len(updated)


def _customers(keys):
    found = {}
    for chunk in chunked(keys, 500):
        found.update({c.id: c for c in Customer.select().where(Customer.id.in_(chunk))})
    return found


def _changed(customers):
    named = Listed(f"{c.number} {c.name}" for c in customers[:MAX_NAMED])
    return DomainError(N_("不能撤销：%(count)d 个客户在导入后又有改动（%(names)s）"),
                       count=len(customers), names=named)


def _refuse_changed_since(batch, customers, created, updated):
    """Every record as the batch left it: none gone, no audit entry of one after the
    batch's own (other than the batch's), and each updated field still the batch's value
    (a write that was not audited would show there)."""
    gone = [key for key in created + list(updated) if key not in customers]
    later, ours = audit.AuditEntry.alias(), audit.AuditEntry.alias()
    touched = {key for key, in (
        later.select(later.entity_id).distinct()
        .join(ours, on=((later.entity == ours.entity) & (later.entity_id == ours.entity_id)
                        & (later.id > ours.id)))
        .where(ours.batch == batch.id, ours.entity == "customer",
               later.batch.is_null() | (later.batch != batch.id)).tuples())}
    for key, fields in updated.items():
        customer = customers.get(key)
        if customer is not None and any(
                not _same(field, customer.__data__.get(field), _restored(field, after))
                for field, (_, after) in fields.items()):
            touched.add(key)
    changed = [customers[key] for key in sorted(touched) if key in customers]
    if gone or changed:
        if gone and not changed:
            raise DomainError(N_("不能撤销：%(count)d 个客户已不存在"), count=len(gone))
        raise _changed(changed)


def _refuse_referred(customers, created):
    """A created customer that something refers to since (a contact, an order, a
    service …) is not deleted: the undo is refused, naming who and by what."""
    for field in Customer._meta.backrefs:
        for chunk in chunked(created, 500):
            referred = (field.model.select(field).where(field.in_(chunk)).distinct()
                        .limit(MAX_NAMED).tuples())
            keys = [getattr(key, "id", key) for key, in referred]
            if keys:
                names = Listed(f"{customers[k].number} {customers[k].name}" for k in keys
                                 if k in customers)
                raise DomainError(N_("不能撤销：新增的客户已有%(what)s等记录（%(names)s）"),
                                  what=REFERRING.get(field.model._meta.table_name,
                                                     field.model._meta.table_name),
                                  names=names)


# The records that may refer to a customer, by the name users know them by.
REFERRING = {"contact": N_("联系人"), "activity": N_("交往记录"), "order": N_("订单"),
             "churn_record": N_("流失记录"), "opportunity": N_("销售机会"),
             "service_request": N_("客户服务"), "customer_sales": N_("订单")}


def _restored(field, value):
    if value is not None and field in AMOUNT_FIELDS:
        return Decimal(value)
    return value


__all__ = ["COLUMNS", "CREATE", "IMPORT_COLUMNS", "MODES", "NUMBER", "OUTCOMES", "UPDATE",
           "UPSERT", "ImportFile", "Plan", "customer_rows", "plan_import", "read_customers",
           "run_import", "undo_import"]
