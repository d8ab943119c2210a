"""Reading the tables users and the ERP hand over: CSV (as Excel saves it) or XLSX."""
import tablib

from .base import N_, DomainError

MAX_BYTES = 5 * 1024 * 1024


class ImportRefused(DomainError):
    """An import with bad rows: ``errors`` lists (row number, message, params); nothing is saved."""

    def __init__(self, errors, message=N_("导入失败：%(count)d 行有误，未导入任何客户")):
        super().__init__(message, count=len(errors))
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
