"""客户管理 screens: customers, their contacts, interactions and orders, and churn;
and the module's commands (``flask detect-churn`` for cron; the ERP's, admin_views/erp.py).
"""

import click
from flask import current_app, g, request
from flask.cli import with_appcontext
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_babel import gettext, lazy_pgettext
from flask_security import current_user
from markupsafe import Markup
from wtforms import SelectField, TextAreaField, validators

from models import (
    Activity,
    ChurnRecord,
    Contact,
    Customer,
    DictionaryEntry,
    Order,
    User,
    db,
    schema,
    versions,
    work,
)
from models.base import local_today, now
from models.basedata import CUSTOMER_LEVEL, REGION
from models.security import ALL
from seed.cli import needs_schema

from . import erp, imports, profile
from .base import (
    CrmModelView,
    ReadOnlyView,
    RelatedSort,
    RowButton,
    ScopedAjaxLoader,
    UserName,
    _l,
    current_scope,
    record_key,
    status_filter,
    status_formatter,
    workflow_step,
)
from .filters import (
    ChoiceFilter,
    DayRange,
    DictionaryOptions,
    ManagerFilter,
    RuleFilter,
    with_silent_days,
)
from .formats import money, stars
from .kept import kept
from .profile import PresetCustomer

CUSTOMER_LABELS = {
    "number": _l("客户编号"), "name": _l("名称"), "region": _l("地区"),
    "manager": _l("客户经理"), "level": _l("客户等级"), "satisfaction": _l("客户满意度"),
    "credit": _l("客户信用度"), "address": _l("地址"), "zip_code": _l("邮政编码"),
    "phone": _l("电话"), "fax": _l("传真"), "website": _l("网址"),
    "license_no": _l("营业执照注册号"), "legal_person": _l("法人"),
    "registered_capital": _l("注册资金（万元）"), "annual_revenue": _l("年营业额"),
    "bank": _l("开户银行"), "bank_account": _l("银行帐号"), "local_tax_no": _l("地税登记号"),
    "national_tax_no": _l("国税登记号"), "status": _l("状态"), "created_at": _l("创建时间"),
    "customer": _l("客户"),
}


def level_label(view, context, model, name):
    """客户等级 by its dictionary name (普通客户 …), not its value (read again only when the
    dictionary changed)."""
    levels = kept(versions.REFERENCE, None, "customer levels",
                  lambda: {e.value: e.item for e in DictionaryEntry.of(CUSTOMER_LEVEL)})
    return levels.get(str(model.level), model.level or "")


def rating_choices():
    return [(n, "☆" * n) for n in range(1, 6)]


class CustomerView(CrmModelView):
    """客户信息管理: the 正常 customers, edited by their 客户经理, deleted logically."""

    permission = export_permission = "customers.customer"
    edit_permission = "customers.customer.edit"
    delete_permission = "customers.customer.delete"
    column_list = ["number", "name", "region", "manager", "level"]
    column_details_list = list(CUSTOMER_LABELS)[:-1]
    column_labels = CUSTOMER_LABELS
    column_searchable_list = ["number", "name", "region"]
    column_filters = [
        ChoiceFilter(Customer.region, _l("地区"), DictionaryOptions(REGION)),
        ChoiceFilter(Customer.level, _l("客户等级"), DictionaryOptions(CUSTOMER_LEVEL, "value"),
                     coerce=int),
        ManagerFilter(Customer.manager, _l("客户经理")),
        RuleFilter(Customer.id, with_silent_days("%(days)s 天无交往"), work.silent),
    ]
    column_sortable_list = ["number", "name", "region", ("manager", UserName(Customer.manager)),
                            "level"]
    column_default_sort = "number"
    column_formatters = {"satisfaction": stars, "credit": stars, "level": level_label,
                         "status": status_formatter(Customer.STATUS)}
    column_export_list = list(CUSTOMER_LABELS)[:-2]
    form_columns = ["name", "region", "manager", "level", "satisfaction", "credit", "address",
                    "zip_code", "phone", "fax", "website", "license_no", "legal_person",
                    "registered_capital", "annual_revenue", "bank", "bank_account",
                    "local_tax_no", "national_tax_no"]
    form_overrides = {"region": SelectField, "level": SelectField, "satisfaction": SelectField,
                      "credit": SelectField, "manager": SelectField}
    form_args = {name: {"coerce": int} for name in ("level", "satisfaction", "credit",
                                                    "manager")}
    # SPEC.md's * fields, which Customer.clean requires: marked, and all named at once
    form_required_columns = [*Customer.REQUIRED_TEXT, "region", "manager", "level",
                             *Customer.RATINGS]

    list_template = "admin/customers/customer_list.html"
    details_template = "admin/customers/customer_details.html"  # 客户 360° (profile.py)
    # 导入 (admin_views/imports.py): upload and preview, confirm, 撤销, the template
    page_permissions = dict.fromkeys(("import_view", "import_confirm", "import_undo",
                                      "import_template"), imports.PERMISSION)

    def base_query(self):
        return Customer.active()

    def render(self, template, **kwargs):
        if template == self.details_template:
            kwargs["parts"], kwargs["actions"] = profile.parts(kwargs["model"])
        return super().render(template, **kwargs)

    def _handle_view(self, name, **kwargs):
        """The import page and 撤销 open to an administrator too (he may undo any batch)."""
        if imports.opens_to_administrator(name):
            return None
        return super()._handle_view(name, **kwargs)

    @expose("/import/", methods=("GET", "POST"))
    def import_view(self):
        """导入: a CSV (UTF-8 or GBK, as Excel saves it) or XLSX file, previewed."""
        return imports.page(self)

    @expose("/import/confirm/", methods=("POST",))
    def import_confirm(self):
        """确认导入: the previewed rows (by their token), checked again and written."""
        return imports.confirm(self)

    @expose("/import/undo/", methods=("POST",))
    def import_undo(self):
        """撤销 an import batch."""
        return imports.undo(self)

    @expose("/import/template.<kind>")
    def import_template(self, kind):
        """The import template (XLSX with dropdowns, or CSV), with one example row."""
        return imports.template(self, kind)

    def get_list_row_actions(self):
        per_customer = [RowButton(label, f"{endpoint}.index_view", param="customer",
                                  show=lambda row, e=endpoint: self._reaches(e))
                        for endpoint, label in (("contact", _l("联系人")),
                                                ("activity", _l("交往记录")),
                                                ("order", _l("历史订单")))]
        return [
            RowButton(_l("查看"), ".details_view"),
            RowButton(_l("编辑"), ".edit_view", show=lambda r: self.may(self.edit_permission, r)),
            *per_customer,
            RowButton(lazy_pgettext("button", "删除"), ".delete_view", post=True,
                      tone="danger", show=lambda r: self.may(self.delete_permission, r),
                      confirm=lambda r: gettext("确认删除“%(name)s”？", name=r.name)),
        ]

    def _reaches(self, endpoint):
        """Whether the user may open the list ``endpoint`` (asked once a request, not
        for each row's button)."""
        reaches = g.setdefault("crm_reaches", {})
        if endpoint not in reaches:
            reaches[endpoint] = any(v.endpoint == endpoint and v.is_accessible()
                                    for v in self.admin._views)
        return reaches[endpoint]

    def edit_form(self, obj=None):
        """Choices from the dictionary; only a user editing all customers may hand one over."""
        form = super().edit_form(obj)
        form.region.choices = [(r, r) for r in DictionaryEntry.items(REGION)]
        form.level.choices = [(int(e.value), e.item) for e in DictionaryEntry.of(CUSTOMER_LEVEL)]
        form.satisfaction.choices = form.credit.choices = rating_choices()
        if current_scope(self.edit_permission) == ALL:
            form.manager.choices = [(u.id, str(u)) for u in User.managers()]
        else:
            del form.manager
        return form

    def save_edits(self, model, fields):
        model.save_active(fields)  # only while 正常: a customer lost meanwhile stays so

    def delete_record(self, model):
        model.remove(by=current_user.id, at=now())  # 删除 is a status


def by_customer(model):
    """The 客户 column, sorted by 客户编号 (through its index, not a sort of the table)."""
    return ("customer", RelatedSort(model.customer, column="number"))


def customer_picker(scope_code):
    """The 客户 field of a per-customer form: the customers ``scope_code`` reaches,
    found by 客户编号 or 名称, listed on a click."""
    return ScopedAjaxLoader("customer", Customer, scope_code, fields=["number", "name"],
                            placeholder=_l("输入客户编号或名称查找"), minimum_input_length=0)


class PerCustomerView(PresetCustomer, CrmModelView):
    """A screen of one customer's records, reached from the customer list (?customer=ID)."""

    page_by_keys = True  # a 客户经理's are those of his thousands of customers

    def is_visible(self):
        return False  # reached from a customer row, not from the menu

    def get_url(self, endpoint, **kwargs):
        """The 创建 of a customer's list leads to a form for that customer (?customer=)."""
        customer_id = record_key(request.args.get("customer"))
        if endpoint == ".create_view" and customer_id and "customer" not in kwargs:
            kwargs["customer"] = customer_id
        return super().get_url(endpoint, **kwargs)

    def base_query(self):
        query = self.model.select()
        customer_id = record_key(request.args.get("customer"))
        if customer_id:
            query = query.where(self.model.customer == customer_id)
        return query


class ContactView(PerCustomerView):
    permission = create_permission = edit_permission = delete_permission = "customers.contact"
    column_list = ["customer", "name", "gender", "title", "office_phone", "mobile", "note"]
    column_details_list = column_list  # not the row id
    column_sortable_list = [by_customer(Contact), "name"]
    column_labels = {"customer": _l("客户"), "name": _l("姓名"), "gender": _l("性别"),
                     "title": _l("职位"), "office_phone": _l("办公电话"), "mobile": _l("手机"),
                     "note": _l("备注")}
    column_formatters = {"gender": status_formatter(Contact.GENDER)}
    form_columns = ["customer", "name", "gender", "title", "office_phone", "mobile", "note"]
    form_overrides = {"gender": SelectField}  # 男/女, 男 by default (the model's)
    form_args = {"gender": {"choices": [(code, _l(label))
                                        for code, label in Contact.GENDER.items()]}}
    form_required_columns = ["customer", *Contact.REQUIRED_TEXT]
    form_ajax_refs = {"customer": customer_picker("customers.contact")}

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form.name.render_kw = {"readonly": True}  # 姓名 is read-only once saved
        return form

    def on_model_change(self, form, model, is_created):
        if not is_created:
            model.name = Contact.get_by_id(model.id).name  # a crafted POST cannot rename


class ActivityView(PerCustomerView):
    permission = create_permission = edit_permission = delete_permission = "customers.activity"
    column_list = ["customer", "date", "place", "summary", "detail", "note"]
    column_details_list = column_list  # not the row id
    column_sortable_list = [by_customer(Activity), "date", "summary"]
    column_labels = {"customer": _l("客户"), "date": _l("时间"), "place": _l("地点"),
                     "summary": _l("概要"), "detail": _l("详细信息"), "note": _l("备注")}
    column_default_sort = ("date", True)
    form_columns = ["customer", "date", "place", "summary", "detail", "note"]
    form_args = {"detail": {"validators": [validators.Length(
        max=Activity.OPTIONAL_TEXT["detail"][1])]}}
    form_required_columns = ["customer", "date", *Activity.REQUIRED_TEXT]
    form_ajax_refs = {"customer": customer_picker("customers.activity")}


def order_total(view, context, model, name):
    return money(model.total)


class OrderView(PerCustomerView, ReadOnlyView):
    """历史订单: read-only; orders come from the ERP."""

    permission = "customers.order"
    column_list = ["customer", "number", "date", "address", "status", "total"]
    column_sortable_list = [by_customer(Order), "number", "date",
                            "status"]
    column_details_list = ["customer", "number", "date", "address", "status", "lines", "total"]
    column_labels = {"customer": _l("客户"), "number": _l("订单编号"), "date": _l("日期"),
                     "address": _l("送货地址"), "status": _l("状态"), "total": _l("总金额"),
                     "lines": _l("订单明细")}
    column_default_sort = ("date", True)
    column_filters = [ManagerFilter(Order.manager, _l("客户经理")),
                      DayRange(Order.date, _l("日期")),
                      status_filter(Order.status, Order.STATUS)]
    column_formatters = {"status": status_formatter(Order.STATUS), "total": order_total}
    column_formatters_detail = {"status": status_formatter(Order.STATUS), "total": order_total,
                                "lines": lambda v, c, m, n: order_lines(m)}
    # 导出: whoever may open the list exports it, its rows in its scope (a 客户经理: his
    # customers' orders), one row per order line (订单明细 flattened; an order without
    # lines once), 总金额 / 单价 / 金额 as amounts.
    export_permission = "customers.order"
    column_export_list = ["customer", "number", "date", "address", "status", "total"]
    column_formatters_export = {"status": status_formatter(Order.STATUS)}  # 总金额: a number
    export_line_labels = (_l("商品"), _l("数量"), _l("单位"), _l("单价"), _l("金额"))

    def export_header(self):
        return super().export_header() + [str(label) for label in self.export_line_labels]

    def export_chunk(self, chunk, names):
        """A chunk of orders with their totals and their lines, one query each."""
        from models import OrderLine, Product
        Order.load_totals(chunk)
        lines = {}
        for line in (OrderLine.select(OrderLine, Product).join(Product)
                     .where(OrderLine.order.in_([order.id for order in chunk]))
                     .order_by(OrderLine.order, OrderLine.id)):
            lines.setdefault(line.order_id, []).append(line)
        blank = [None] * len(self.export_line_labels)
        for order, cells in zip(chunk, super().export_chunk(chunk, names), strict=True):
            for line in lines.get(order.id) or [None]:
                yield cells + (blank if line is None else [
                    str(line.product), line.quantity, line.unit, line.price, line.amount])

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        return count, Order.load_totals(rows) if kwargs.get("execute", True) else rows


def order_lines(order):
    rows = Markup("").join(
        Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>")
        .format(str(line.product), line.quantity, line.unit, money(line.price),
                money(line.amount))
        for line in order.line_items())
    head = Markup("<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>").format(
        gettext("商品"), gettext("数量"), gettext("单位"), gettext("单价"), gettext("金额"))
    return Markup('<table class="table table-sm">{}{}</table>').format(head, rows)


CHURN_TEXT = [validators.InputRequired(), validators.Length(max=ChurnRecord.TEXT_LIMIT)]
CHURN_STEP_TEMPLATE = "admin/customers/churn_step.html"


class PostponeForm(BaseForm):
    measure = TextAreaField(_l("追加暂缓措施"), validators=CHURN_TEXT)


class ConfirmForm(BaseForm):
    reason = TextAreaField(_l("流失原因"), validators=CHURN_TEXT)


class ChurnView(ReadOnlyView):
    """客户流失管理: warnings found by ``flask detect-churn``, postponed or confirmed here."""

    permission = export_permission = "customers.churn"
    column_list = ["id", "customer", "customer.manager", "last_order_date", "confirmed_at",
                   "status"]
    column_details_list = ["id", "customer", "customer.manager", "last_order_date", "status",
                           "measures", "created_at", "reason", "confirmed_at"]
    column_labels = {"id": _l("编号"), "customer": _l("客户"), "customer.manager": _l("客户经理"),
                     "last_order_date": _l("上次下单时间"), "confirmed_at": _l("确认流失时间"),
                     "status": _l("状态"), "measures": _l("暂缓措施"), "reason": _l("流失原因"),
                     "created_at": _l("预警时间")}
    column_searchable_list = [Customer.name]
    column_search_labels = [_l("客户")]
    column_sortable_list = ["id", ("customer.manager", UserName(ChurnRecord.manager)),
                            "last_order_date", "confirmed_at", "status"]
    column_default_sort = ("id", True)
    column_filters = [status_filter(ChurnRecord.status, ChurnRecord.STATUS),
                      ManagerFilter(ChurnRecord.manager, _l("客户经理"))]
    column_formatters = {"status": status_formatter(ChurnRecord.STATUS)}
    column_formatters_detail = {"status": status_formatter(ChurnRecord.STATUS),
                                "measures": lambda v, c, m, n: Markup("<br>").join(
                                    m.measure_list())}

    def get_list_row_actions(self):
        def open_and(code):
            return lambda row: row.status in ChurnRecord.OPEN and self.may(code, row)
        return [
            RowButton(_l("查看"), ".details_view"),
            RowButton(_l("暂缓流失"), ".postpone_view",
                      show=open_and("customers.churn.postpone")),
            RowButton(_l("确认流失"), ".confirm_view", tone="danger",
                      show=open_and("customers.churn.confirm")),
        ]

    @workflow_step("/postpone/", "customers.churn.postpone", form=PostponeForm,
                   expects="postpone", template=CHURN_STEP_TEMPLATE)
    def postpone_view(self, record, form):
        """暂缓流失: a measure appended to the earlier ones (shown above the input)."""
        record.postpone(form.measure.data, by=current_user.id, at=now())
        return gettext("已暂缓流失")

    @workflow_step("/confirm/", "customers.churn.confirm", form=ConfirmForm, expects="confirm",
                   template=CHURN_STEP_TEMPLATE)
    def confirm_view(self, record, form):
        """确认流失 (final, asked first): the customer becomes 流失."""
        record.confirm(form.reason.data, by=current_user.id, at=now())
        return gettext("已确认流失，客户状态已改为流失")

    def render(self, template, **kwargs):
        return super().render(template, status=status_formatter(ChurnRecord.STATUS), **kwargs)


@click.command("detect-churn")
@click.option("--months", type=int, default=None,
              help="Months without an order before a warning (default: CHURN_MONTHS, 6).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The day to detect as of (default: today in TIMEZONE).")
@with_appcontext
@needs_schema  # cron without the env file: a clear refusal, not an empty new database
def detect_churn(months, today):
    """Open a 预警 churn record for every customer silent too long (for cron, daily)."""
    months = months or current_app.config["CHURN_MONTHS"]
    day = today.date() if today else local_today()  # the company's day, not UTC's
    opened = ChurnRecord.detect(day, months=months)
    schema.optimize(db.obj)  # the daily job keeps the planner's statistics fresh
    click.echo(f"{opened} churn warning(s) opened (no order for more than {months} months)")


def commands():
    """The module's commands: for cron, and the ERP hand-over (admin_views/erp.py)."""
    return [detect_churn, *erp.commands()]


def views():
    category = _l("客户管理")
    return [
        CustomerView(Customer, name=_l("客户信息管理"), category=category, endpoint="customer"),
        ChurnView(ChurnRecord, name=_l("客户流失管理"), category=category, endpoint="churn"),
        ContactView(Contact, name=_l("联系人"), category=category, endpoint="contact"),
        ActivityView(Activity, name=_l("交往记录"), category=category, endpoint="activity"),
        OrderView(Order, name=_l("历史订单"), category=category, endpoint="order"),
    ]
