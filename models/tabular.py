"""Reading the tables users and the ERP hand over: CSV (as Excel saves it) or XLSX."""
import re

import tablib

from .base import N_, DomainError

MAX_BYTES = 5 * 1024 * 1024


class ImportRefused(DomainError):
    """An import with bad rows: ``errors`` lists (row number, message, params), one entry
    per fault (a row may have several; ``params["column"]``, when there, names the column
    as a msgid); nothing is saved."""

    def __init__(self, errors, message=N_("导入失败：%(count)d 行有误，未导入任何客户")):
        super().__init__(message, count=len({number for number, *_ in errors}))  # rows
        self.errors = errors


def cell_text(value):
    """A cell as stripped text, None when empty."""
    return str(value).strip() if value is not None and str(value).strip() else None


def read_table(content, required=()):
    """The rows of a CSV or XLSX file's bytes, as dicts keyed by its first row.

    CSV may be UTF-8 (with or without BOM) or GB18030/GBK, which is what Excel
    on a Chinese Windows saves. ``required`` headers must all be present.
    """
    if len(content) > MAX_BYTES:
        raise DomainError(N_("文件太大（最大 5 MB）"))
    try:
        if content[:2] == b"PK":  # XLSX is a zip archive
            dataset = tablib.Dataset().load(content, format="xlsx")
        else:
            dataset = tablib.Dataset().load(_decode(content), format="csv")
    except Exception:  # tablib and openpyxl raise many kinds on a malformed file
        raise DomainError(N_("无法读取文件：请上传 CSV 或 XLSX 格式")) from None
    if not dataset.headers or not set(required) <= set(dataset.headers):
        raise DomainError(N_("文件缺少表头：第一行须为列名（可下载模板）"))
    return dataset.dict


def _decode(content):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("neither UTF-8 nor GB18030")


# -- the columns of an import: one header per column, and the other names files use ------

# A column's canonical header (the Chinese label, as the ERP and the exports write it) →
# the other names a file may give it: English (the English UI's label among them), common
# variants. Matched ignoring case, spaces, "_", "-" and ".": "Order No." is "order_no".
HEADER_ALIASES = {
    N_("订单编号"): ("order no.", "order number", "order"),
    N_("客户编号"): ("customer no.", "customer number"),
    N_("客户名称"): ("customer name", "customer"),
    N_("日期"): ("date", "order date"),
    N_("送货地址"): ("delivery address", "address"),
    N_("状态"): ("status",),
    N_("商品名称"): ("name", "product name", "product"),
    N_("型号"): ("model",),
    N_("批次"): ("batch",),
    N_("数量"): ("quantity", "qty"),
    N_("单位"): ("unit",),
    N_("单价"): ("unit price", "price"),
    N_("仓库"): ("warehouse",),
    N_("货位"): ("location", "bin location", "bin"),
    N_("件数"): ("quantity", "qty", "pieces"),
    N_("备注"): ("note", "notes", "remark", "remarks"),
}
_IGNORED_IN_HEADERS = str.maketrans("", "", " \u3000_-.")


def _header_key(header):
    return str(header or "").casefold().translate(_IGNORED_IN_HEADERS)


class Imported(tuple):
    """What an import did: ``created``, ``updated`` and ``unchanged`` (orders, stock rows),
    and ``products`` (those an order import added). As a tuple it is (created, updated),
    what ``import_orders`` answered before it told the unchanged apart."""

    def __new__(cls, created, updated, unchanged, products=0):
        imported = super().__new__(cls, (created, updated))
        imported.created, imported.updated = created, updated
        imported.unchanged, imported.products = unchanged, products
        return imported


def canonical_rows(rows, columns, required=()):
    """``rows`` (dicts keyed by a file's headers) keyed by the headers of ``columns``, found
    as written or by one of their HEADER_ALIASES; other columns are dropped, and a column
    the file lacks is absent from every row. ``required`` names the columns a file must
    have; an entry that is a tuple wants one of its columns. Refused (ImportRefused, row 1:
    the header row) for every required column missing and every column given twice."""
    if not rows:
        return []  # a file of headers only: nothing to import
    names = {}
    for column in columns:
        for name in (column, *HEADER_ALIASES.get(column, ())):
            names.setdefault(_header_key(name), column)
    headers = list(dict.fromkeys(header for row in rows for header in row))
    found, errors = {}, []
    for header in headers:
        column = names.get(_header_key(header))
        if column in found:
            errors.append((1, N_("“%(label)s”列出现了两次"), {"label": N_(column)}))
        elif column:
            found[column] = header
    for want in required:
        alternatives = want if isinstance(want, tuple) else (want,)
        if not any(column in found for column in alternatives):
            labels = {"label": N_(alternatives[0])}
            if len(alternatives) == 1:
                errors.append((1, N_("缺少“%(label)s”列"), labels))
            else:
                errors.append((1, N_("缺少“%(label)s”或“%(other)s”列"),
                               {**labels, "other": N_(alternatives[1])}))
    if errors:
        raise ImportRefused(errors, N_("导入失败：文件的表头有误，未导入任何数据"))
    return [{column: row.get(header) for column, header in found.items()} for row in rows]


def row_faults(number, refusals):
    """The (row number, message, params) entries of an ImportRefused for every refusal a
    row's ``Refusals`` collected; a refusal's ``field`` is its column's header."""
    return [(number, error.message,
             {**error.params, **({"column": N_(error.field)} if error.field else {})})
            for error in refusals.errors]


_WHOLE_NUMBER = re.compile(r"[0-9]{1,30}(\.0*)?")  # ASCII digits; "12.0": an XLSX number cell


def whole_number(text, column, minimum=0, maximum=2 ** 31 - 1):
    """A cell's whole number (thousands separators allowed) from ``minimum`` to ``maximum``
    (what an IntegerField holds); refused at ``column`` (its header) otherwise."""
    if text is None:
        raise DomainError(N_("请填写%(label)s"), field=column, label=N_(column))
    digits = text.replace(",", "")
    value = int(digits.split(".")[0]) if _WHOLE_NUMBER.fullmatch(digits) else None
    if value is not None and value > maximum:
        raise DomainError(N_("%(label)s最大为 %(limit)d"), field=column, label=N_(column),
                          limit=maximum)
    if value is None or value < minimum:
        message = N_("%(label)s须为大于 0 的整数") if minimum == 1 else \
            N_("%(label)s须为不小于 0 的整数")
        raise DomainError(message, field=column, label=N_(column))
    return value
