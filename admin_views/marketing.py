"""营销管理 screens: sales opportunities (create, edit, delete, 指派) and development plans.

The rules are the model's (``models/marketing.py``); these views collect input,
call the model's verbs and show what they answer.
"""

from flask import flash, redirect, request, url_for
from flask_admin.actions import action
from flask_admin.form import BaseForm
from flask_babel import gettext, lazy_pgettext, ngettext
from flask_security import current_user
from markupsafe import Markup
from wtforms import DateField, SelectField, StringField, validators

from models import DomainError, Opportunity, PlanItem, work
from models.base import N_, local_today, now

from .base import (
    CrmModelView,
    RowButton,
    UserName,
    _l,
    domain_message,
    record_key,
    status_filter,
    status_formatter,
    workflow_step,
)
from .filters import RuleFilter
from .formats import shown_time, user_label

LABELS = {
    "id": _l("编号"), "source": _l("机会来源"), "customer_name": _l("客户名称"),
    "probability": _l("成功机率（%）"), "summary": _l("概要"), "contact": _l("联系人"),
    "contact_phone": _l("联系人电话"), "description": _l("机会描述"),
    "created_by": _l("创建人"), "created_at": _l("创建时间"), "assigned_to": _l("指派给"),
    "assigned_at": _l("指派时间"), "status": _l("状态"), "customer": _l("客户"),
}
DETAILS = ["id", "status", "source", "customer_name", "probability", "summary", "contact",
           "contact_phone", "description", "created_by", "created_at", "assigned_to",
           "assigned_at", "customer"]
SEARCH = ["customer_name", "summary", "contact"]


def _customer_link(view, context, model, name):
    if model.customer_id is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(
        url_for("customer.details_view", id=model.customer_id), model.customer.number)


class OpportunityDetails:
    """Both screens show an opportunity with its plan and its status history."""

    details_template = "admin/marketing/details.html"
    column_details_list = DETAILS
    column_labels = LABELS
    column_searchable_list = SEARCH

    def render(self, template, **kwargs):
        return super().render(template, today=local_today(), PlanItem=PlanItem,
                              Opportunity=Opportunity, **kwargs)


class AssignForm(BaseForm):
    # Any number passes the form; the model says whether it is an active 客户经理.
    manager = SelectField(_l("指派给"), coerce=record_key, validate_choice=False,
                          validators=[validators.InputRequired()])


class OpportunityView(OpportunityDetails, CrmModelView):
    """销售机会管理: the unassigned opportunities, created, edited, deleted and assigned here."""

    permission = "marketing.opportunity"
    create_permission = "marketing.opportunity.create"
    edit_permission = "marketing.opportunity.edit"
    delete_permission = "marketing.opportunity.delete"
    export_permission = "marketing.opportunity"
    action_permissions = {"assign": "marketing.opportunity.assign"}

    column_list = ["id", "customer_name", "summary", "contact", "contact_phone", "created_at"]
    column_sortable_list = ["id", "customer_name", "summary", "contact", "created_at"]
    column_default_sort = ("created_at", True)
    column_formatters = {"status": status_formatter(Opportunity.STATUS),
                         "customer": _customer_link}
    column_export_list = ["id", "source", "customer_name", "probability", "summary", "contact",
                          "contact_phone", "description", "created_by", "created_at"]
    form_columns = ["source", "customer_name", "probability", "summary", "contact",
                    "contact_phone", "description"]
    form_args = {
        "probability": {"validators": [validators.InputRequired(),
                                       validators.NumberRange(min=0, max=100)]},
        "description": {"validators": [validators.InputRequired(),
                                       validators.Length(max=2000)]},
        "customer_name": {"validators": [validators.InputRequired()]},
        "summary": {"validators": [validators.InputRequired()]},
    }
    form_widget_args = {"description": {"rows": 6}}
    create_template = "admin/marketing/opportunity_create.html"

    def base_query(self):
        return Opportunity.unassigned()

    def render(self, template, **kwargs):
        """The create screen also shows what the system fills in (SPEC.md §1.1): 编号,
        创建人 and 创建时间, read-only and never posted — stamp_created sets them."""
        if template == self.create_template:
            kwargs["stamps"] = [("id", LABELS["id"], gettext("自动生成")),
                                ("created_by", LABELS["created_by"], str(current_user)),
                                ("created_at", LABELS["created_at"], shown_time(now()))]
        return super().render(template, **kwargs)

    def get_list_row_actions(self):
        return [
            RowButton(_l("指派"), ".assign_view",
                      show=lambda row: self.may("marketing.opportunity.assign", row)),
            RowButton(_l("编辑"), ".edit_view",
                      show=lambda row: self.may(self.edit_permission, row)),
            RowButton(lazy_pgettext("button", "删除"), ".delete_view", post=True,
                      tone="danger",
                      confirm=lambda row: gettext("确认删除“%(name)s”？",
                                                  name=row.customer_name),
                      show=lambda row: self.may(self.delete_permission, row)),
        ]

    # -- create, edit, delete: the model's rules ------------------------------
    def on_model_change(self, form, model, is_created):
        if is_created:
            model.stamp_created(by=current_user.id, at=now())

    def after_model_change(self, form, model, is_created):
        if is_created:
            model.record_created()

    def save_edits(self, model, fields):
        model.save_unassigned(fields)  # only while 未指派: an assignment meanwhile wins

    def delete_record(self, model):
        model.delete_unassigned()

    # -- 指派 ------------------------------------------------------------------
    @action("assign", _l("指派"))
    def action_assign(self, ids):
        return redirect(url_for(".assign_view", ids=",".join(ids), url=self.return_url()))

    def assign_form(self, formdata):
        form = AssignForm(formdata)
        form.manager.choices = [("", gettext("请选择客户经理"))] + [
            (m.id, user_label(m)) for m in Opportunity.assignable_managers()]
        return form

    @workflow_step("/assign/", "marketing.opportunity.assign", form="assign_form",
                   template="admin/marketing/assign.html", expects="assign", many=True)
    def assign_view(self, opportunities, form):
        """指派: one 客户经理 for one (its row button) or many (选中的 → 指派) opportunities.

        A refused row is named and the others still go through.
        """
        done = []
        for opportunity in opportunities:
            try:
                opportunity.assign(form.manager.data, by=current_user.id, at=now())
            except DomainError as exc:
                if exc.field:
                    raise  # the 客户经理 itself is refused: nothing was assigned
                flash(domain_message(exc), "error")
            else:
                done.append(opportunity)
        manager = dict(form.manager.choices).get(form.manager.data, "")
        return done and ngettext("%(num)d 条销售机会已指派给 %(manager)s",
                                 "%(num)d 条销售机会已指派给 %(manager)s",
                                 len(done), manager=manager)


class PlanItemForm(BaseForm):
    date = DateField(_l("日期"), validators=[validators.InputRequired()])
    content = StringField(_l("计划项"), validators=[validators.InputRequired(),
                                                   validators.Length(max=500)])


class PlanView(OpportunityDetails, CrmModelView):
    """客户开发计划: opportunities under development with their steps; final ones to 查看."""

    permission = export_permission = "marketing.plan"

    column_list = ["id", "customer_name", "summary", "contact", "assigned_to", "assigned_at",
                   "status"]
    column_sortable_list = ["id", "customer_name", "summary",
                            ("assigned_to", UserName(Opportunity.assigned_to)), "assigned_at",
                            "status"]
    column_default_sort = ("assigned_at", True)
    column_formatters = {"status": status_formatter(Opportunity.DEVELOPMENT_STATUS),
                         "customer": _customer_link}
    column_formatters_detail = {"status": status_formatter(Opportunity.STATUS),
                                "customer": _customer_link}
    column_filters = [status_filter(Opportunity.status, Opportunity.DEVELOPMENT_STATUS),
                      RuleFilter(Opportunity.id, _l("计划项到期"), work.plan_due),
                      RuleFilter(Opportunity.id, _l("尚无计划"), work.unplanned),
                      RuleFilter(Opportunity.id, _l("30 天无进展"), work.stalled)]
    column_export_list = ["id", "customer_name", "summary", "contact", "contact_phone",
                          "assigned_to", "assigned_at", "status"]
    column_formatters_export = {"status": status_formatter(Opportunity.DEVELOPMENT_STATUS)}

    def base_query(self):
        return Opportunity.in_development_or_archived()

    def owned_by(self, code):
        """Seeing a plan is for its creator and assignee; working on it for the assignee."""
        return Opportunity.owned_by if code == self.permission else Opportunity.developed_by

    def get_list_row_actions(self):
        def working(code):
            return lambda row: row.in_development and self.may(code, row)
        return [
            RowButton(_l("查看"), ".details_view"),
            RowButton(_l("制定计划"), ".plan_view",
                      show=working("marketing.plan.make")),
            RowButton(_l("执行计划"), ".execute_view",
                      show=working("marketing.plan.execute")),
            RowButton(lazy_pgettext("button", "开发成功"), ".develop_view", post=True,
                      tone="success",
                      confirm=lambda row: gettext("确认“%(name)s”开发成功？系统将创建客户。",
                                                  name=row.customer_name),
                      show=working("marketing.plan.close")),
            RowButton(_l("终止开发"), ".stop_view", post=True, tone="danger",
                      confirm=lambda row: gettext("确认终止开发“%(name)s”？",
                                                  name=row.customer_name),
                      show=working("marketing.plan.close")),
        ]

    # -- 制定计划 / 执行计划 ---------------------------------------------------
    def plan_form(self, formdata):
        """The 添加计划项 form; a POST editing or deleting an item carries none."""
        if formdata is not None and formdata.get("op") != "add":
            return None
        return PlanItemForm(formdata)

    @workflow_step("/plan/", "marketing.plan.make", form="plan_form", expects="plan",
                   template="admin/marketing/plan.html", stay=True)
    def plan_view(self, opportunity, form):
        """制定计划: add an item, edit an item's text, delete an item without a result."""
        op = request.form.get("op")
        if op == "add":
            opportunity.add_plan_item(form.date.data, form.content.data,
                                      today=local_today())
            return gettext("保存成功")
        item = self._item(opportunity)
        if op == "edit":
            item.edit_content(request.form.get("content"))
            return gettext("保存成功")
        if op == "delete":
            item.remove()
            return gettext("已删除计划项")
        return None

    @workflow_step("/execute/", "marketing.plan.execute", expects="plan",
                   template="admin/marketing/plan.html", stay=True)
    def execute_view(self, opportunity, form):
        """执行计划: the 执行效果 of one item."""
        self._item(opportunity).record_result(request.form.get("result"))
        return gettext("保存成功")

    @staticmethod
    def _item(opportunity):
        item = PlanItem.get_or_none(PlanItem.id == record_key(request.form.get("item")),
                                    PlanItem.opportunity == opportunity)
        if item is None:
            raise DomainError(N_("计划项不存在"))
        return item

    # -- 开发成功 / 终止开发 ---------------------------------------------------
    @workflow_step("/develop/", "marketing.plan.close", expects="develop", methods=("POST",))
    def develop_view(self, opportunity, form):
        customer = opportunity.develop(by=current_user.id, at=now())
        return Markup(gettext("“%(name)s”开发成功，已创建客户 %(number)s",
                              name=Markup.escape(opportunity.customer_name),
                              number=Markup('<a href="{}">{}</a>').format(
                                  url_for("customer.details_view", id=customer.id),
                                  customer.number)))

    @workflow_step("/stop/", "marketing.plan.close", expects="stop", methods=("POST",))
    def stop_view(self, opportunity, form):
        opportunity.stop(by=current_user.id, at=now())
        return gettext("已终止开发“%(name)s”", name=opportunity.customer_name)


def views():
    category = _l("营销管理")
    return [
        OpportunityView(Opportunity, name=_l("销售机会管理"), category=category,
                        endpoint="opportunity"),
        PlanView(Opportunity, name=_l("客户开发计划"), category=category, endpoint="plan"),
    ]
