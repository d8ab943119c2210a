"""导入客户 (客户信息管理 → 导入): upload, preview, confirm, undo, and the template.

- **Upload and preview** (``page``): the file (CSV as Excel saves it, or XLSX) and a mode
  (仅新增 / 新增并更新 / 仅更新). Every row is checked (models/customers/imports.py) and
  shown as 新增 / 更新 / 跳过 / 错误, the counts on top, each fault naming its column;
  nothing is written. The checked rows are kept on the server (``PendingImports``,
  a file of 0600 under the instance folder named by a random token, for an hour); the
  page offers 确认导入 only when no row is faulty.
- **Confirm** (``confirm``): posts the token, never the rows. The import runs in one
  transaction, checking every row again; if the data changed meanwhile so that a row is
  faulty now, nothing is written and the preview is shown again with the faults.
- **Undo** (``undo``): the recent batches are listed on the page, with 撤销 (a POST that
  asks first, data-confirm) for whoever may undo them: the user who ran the batch, or an
  administrator (权限分配, ``models.imports.UNDO_ANY``), who opens the page for that even
  without the customers' permissions (he sees the batches, not the upload form).
- **Template** (``template``): XLSX or CSV with the export's headers and one example
  row; in the XLSX, 地区 / 客户等级 / 客户经理 (and the ratings) are dropdowns fed by
  a hidden sheet of the valid values.

A new customer may go to any 客户经理 (the import's permission is the 销售主管's); an
update hands a customer over only if the importer may on the edit screen (edit scope
*all*, CustomerView.edit_form's rule); a user reaching only his own customers updates
only those.
"""
import csv
import io
import os

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_admin.form import BaseForm
from flask_babel import gettext, pgettext
from flask_babel import lazy_gettext as _l
from flask_security import current_user
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from werkzeug.datastructures import CombinedMultiDict
from wtforms import FileField, RadioField, validators

from models import DictionaryEntry, DomainError, ImportBatch, User
from models.base import N_, Msgid, now, record_key, without_control_characters
from models.basedata import CUSTOMER_LEVEL, REGION
from models.customers import imports
from models.imports import UNDO_ANY, PendingImports
from models.security import ALL
from models.tabular import MAX_BYTES

from .base import current_scope, user_can
from .exports import KINDS, disposition
from .formats import shown_time, user_label

PERMISSION = "customers.customer.import"
TEMPLATE = "admin/customers/import.html"
SHOWN_ROWS = 1000  # rows a preview lists (the faulty first); the counts cover them all
ADMINISTRATOR_PAGES = ("import_view", "import_undo")
EXTENSIONS = (".csv", ".xlsx")
VALIDATED_ROWS = 10000  # rows of the XLSX template whose cells offer the dropdowns
TEXT_COLUMNS = ("number", "zip_code", "phone", "fax", "bank_account", "license_no",
                "local_tax_no", "national_tax_no")  # digits Excel must not turn into numbers
OUTCOME_TONES = {imports.NEW: "success", imports.CHANGED: "primary",
                 imports.SKIPPED: "secondary", imports.FAULTY: "danger"}
ORDER = {imports.FAULTY: 0, imports.CHANGED: 1, imports.NEW: 2, imports.SKIPPED: 3}


class ImportForm(BaseForm):
    file = FileField(_l("导入文件（CSV 或 XLSX）"), validators=[validators.InputRequired()])
    mode = RadioField(_l("导入方式"), default=imports.UPSERT,
                      choices=[(code, _l(label)) for code, label in imports.MODES.items()],
                      validators=[validators.InputRequired()])


def opens_to_administrator(name):
    """Whether the view method ``name`` opens to an administrator who lacks the
    customers' permissions (he may undo any batch)."""
    return name in ADMINISTRATOR_PAGES and user_can(UNDO_ANY)


def pending():
    folder = current_app.config.get("CRM_IMPORT_FOLDER") or \
        os.path.join(current_app.instance_path, "imports")
    return PendingImports(folder)


def _rules(view):
    """(may hand customers over, the owner a user reaching only his own customers is)."""
    owner = None if current_scope(view.permission) == ALL else current_user.id
    return current_scope(view.edit_permission) == ALL, owner


def _text(message, params):
    """A rule's message in the user's language: its labels translated, what it lists
    joined as the language joins a list."""
    def shown(value):
        if isinstance(value, Msgid):
            return gettext(value)
        if isinstance(value, imports.Listed):
            return pgettext("list separator", "、").join(str(item) for item in value)
        return value
    return gettext(message, **{key: shown(value) for key, value in params.items()})


def page(view):
    may_import = user_can(PERMISSION)
    if request.method == "POST" and not may_import:
        abort(403)
    form = ImportForm(CombinedMultiDict((request.files, request.form))
                      if request.method == "POST" else None)
    preview = None
    if request.method == "POST" and form.validate():
        upload = form.file.data
        file_name = without_control_characters(
            os.path.basename((upload.filename or "").replace("\\", "/"))).strip()[:255]
        try:
            if not file_name.lower().endswith(EXTENSIONS):
                raise DomainError(N_("请上传 CSV 或 XLSX 文件"))
            rows, unknown = imports.read_customers(upload.read(MAX_BYTES + 1))
            may_hand_over, owner = _rules(view)
            plan = imports.plan_import(rows, form.mode.data, now(), may_hand_over=may_hand_over,
                                       owner=owner)
        except DomainError as exc:
            form.file.errors = [_text(exc.message, exc.params)]
        else:
            plan.unknown = unknown
            token = pending().put(current_user.id, {
                "file_name": file_name, "mode": plan.mode, "rows": rows}) if plan.ok else None
            preview = preview_of(plan, file_name, token)
    return render(view, form, preview)


def render(view, form, preview=None):
    return view.render(TEMPLATE, form=form, preview=preview, batches=batches(),
                       may_import=user_can(PERMISSION),
                       columns=list(imports.IMPORT_COLUMNS), number_column=imports.NUMBER)


def preview_of(plan, file_name, token):
    """What the page shows of a plan: the counts, then the rows (the faulty first)."""
    counts = plan.counts
    ordered = sorted(plan.rows, key=lambda row: (ORDER[row.outcome], row.number))
    return {
        "file_name": file_name, "mode": gettext(imports.MODES[plan.mode]), "token": token,
        "counts": [(outcome, gettext(label), counts[outcome], OUTCOME_TONES[outcome])
                   for outcome, label in imports.OUTCOMES.items()],
        "faulty": counts[imports.FAULTY], "total": len(plan.rows),
        "unknown": plan.unknown, "rows": [_row(row) for row in ordered[:SHOWN_ROWS]],
    }


def _row(row):
    number, name = row.label
    return {
        "number": row.number, "outcome": row.outcome,
        "outcome_label": gettext(imports.OUTCOMES[row.outcome]),
        "tone": OUTCOME_TONES[row.outcome], "customer_number": number or "", "name": name or "",
        "faults": [(gettext(fault.column) if fault.column else "", _text(fault.message,
                                                                          fault.params))
                   for fault in row.faults],
        "changes": [(gettext(column), before, after) for column, before, after in row.shown],
        "reason": gettext(row.reason) if row.reason else "",
    }


def confirm(view):
    payload = pending().take(request.form.get("token"), current_user.id)
    if payload is None:
        flash(gettext("预览已失效（已导入或已超过一小时），请重新上传文件"), "error")
        return redirect(url_for(".import_view"))
    rows = [(number, cells) for number, cells in payload["rows"]]
    may_hand_over, owner = _rules(view)
    plan, batch = imports.run_import(rows, payload["mode"], file_name=payload["file_name"],
                                     by=current_user.id, at=now(),
                                     may_hand_over=may_hand_over, owner=owner)
    if batch is None:
        flash(gettext("数据在预览之后有了变化，再次检查发现错误：未导入任何客户"), "error")
        return render(view, ImportForm(), preview_of(plan, payload["file_name"], None))
    flash(gettext("导入完成：新增 %(created)d 个客户，更新 %(updated)d 个，跳过 %(skipped)d 个",
                  created=batch.created, updated=batch.updated, skipped=batch.skipped),
          "success")
    return redirect(url_for(".import_view"))


def undo(view):
    batch = ImportBatch.get_or_none(ImportBatch.id == record_key(request.form.get("id")),
                                    ImportBatch.entity == "customer") \
        if record_key(request.form.get("id")) is not None else None
    if batch is None:
        flash(gettext("导入批次不存在"), "error")
        return redirect(url_for(".import_view"))
    try:
        deleted, restored = imports.undo_import(batch, by=current_user.id, at=now(),
                                                administrator=user_can(UNDO_ANY))
    except DomainError as exc:
        flash(_text(exc.message, exc.params), "error")
    else:
        flash(gettext("已撤销导入批次 %(number)d：删除新增的客户 %(deleted)d 个，"
                      "恢复更新的客户 %(restored)d 个", number=batch.id, deleted=deleted,
                      restored=restored), "success")
    return redirect(url_for(".import_view"))


def batches():
    """The recent batches, each with whether this user may press 撤销."""
    administrator = user_can(UNDO_ANY)
    return [{"batch": batch, "mode": gettext(imports.MODES.get(batch.mode, batch.mode)),
             "status": gettext(ImportBatch.STATUS.get(batch.status, batch.status)),
             "user": user_label(batch.user) if batch.user_id else "",
             "undone_by": user_label(batch.undone_by) if batch.undone_by_id else "",
             "at": shown_time(batch.at), "undone_at": shown_time(batch.undone_at),
             "may_undo": batch.undoable_by(current_user.id, administrator)}
            for batch in ImportBatch.recent("customer")]


# -- the template ------------------------------------------------------------------------

def _labels(view):
    fields = ["number", *imports.IMPORT_COLUMNS.values()]
    return fields, [str(view.column_labels[field]) for field in fields]


def _choices():
    """The valid 地区, 客户等级 and 客户经理 (a 客户经理 by 姓名, by 用户名 when two share it)."""
    managers = list(User.managers())
    names = [user.full_name for user in managers]
    return {
        "region": DictionaryEntry.items(REGION),
        "level": [entry.item for entry in DictionaryEntry.of(CUSTOMER_LEVEL)],
        "manager": [user.full_name if names.count(user.full_name) == 1 else user.username
                    for user in managers],
        "satisfaction": ["☆" * n for n in range(1, 6)],
    }


def _example(choices):
    """One row as a user would fill it in (the first valid value of each list)."""
    first = {field: (values[0] if values else "") for field, values in choices.items()}
    return {
        "number": "", "name": gettext("示例：杭州湖畔科技有限公司"), "region": first["region"],
        "manager": first["manager"], "level": first["level"], "satisfaction": "☆☆☆☆",
        "credit": "☆☆☆☆☆", "address": gettext("杭州市西湖区文三路 100 号"),
        "zip_code": "310000", "phone": "0571-88886666", "fax": "0571-88886667",
        "website": "www.example.com", "license_no": "", "legal_person": gettext("张三"),
        "registered_capital": 500, "annual_revenue": 12000000,
        "bank": gettext("中国农业银行杭州分行"), "bank_account": "6228480012345678",
        "local_tax_no": "", "national_tax_no": "",
    }


def template(view, kind):
    if kind not in KINDS:
        abort(404)
    fields, labels = _labels(view)
    choices = _choices()
    example = _example(choices)
    name = gettext("客户导入模板")
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(labels)
        writer.writerow([example[field] for field in fields])
        body = "\ufeff" + out.getvalue()
    else:
        body = _workbook(fields, labels, example, choices)
    answer = Response(body, content_type=KINDS[kind])
    answer.headers["Content-Disposition"] = disposition(f"{name}.{kind}",
                                                        f"customer_import_template.{kind}")
    return answer


def _workbook(fields, labels, example, choices):
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("客户")
    sheet.append(labels)
    sheet.append([example[field] for field in fields])
    bold = Font(bold=True)
    for index, field in enumerate(fields, 1):
        letter = get_column_letter(index)
        sheet[f"{letter}1"].font = bold
        sheet.column_dimensions[letter].width = max(12, 2 * len(labels[index - 1]) + 4)
        if field in TEXT_COLUMNS:  # typed as text, as the export writes them
            sheet.column_dimensions[letter].number_format = "@"
            sheet[f"{letter}2"].number_format = "@"
    sheet.freeze_panes = "A2"
    lists = book.create_sheet(gettext("选项"))
    lists.sheet_state = "hidden"
    lists_of = {"region": "地区", "level": "客户等级", "manager": "客户经理",
                "satisfaction": "评分"}
    for column, (field, title) in enumerate(lists_of.items(), 1):
        letter = get_column_letter(column)
        lists[f"{letter}1"] = gettext(title)
        values = choices[field]
        for row, value in enumerate(values, 2):
            lists[f"{letter}{row}"] = value
        if not values:
            continue
        source = f"={quote_sheetname(lists.title)}!${letter}$2:${letter}${len(values) + 1}"
        targets = ["satisfaction", "credit"] if field == "satisfaction" else [field]
        for target in targets:
            validation = DataValidation(type="list", formula1=source, allow_blank=True,
                                        showErrorMessage=True)
            validation.errorTitle = gettext("无效的值")
            validation.error = gettext("请从下拉列表中选择")
            target_letter = get_column_letter(fields.index(target) + 1)
            validation.add(f"{target_letter}2:{target_letter}{VALIDATED_ROWS + 1}")
            sheet.add_data_validation(validation)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = ["ImportForm", "confirm", "opens_to_administrator", "page", "template", "undo"]
