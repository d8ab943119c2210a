"""营销管理 screens: sales opportunities (create, edit, delete, 指派) and development plans.

The rules are the model's (``models/marketing.py``); these views collect input,
call the model's verbs and show what they answer.
"""
import datetime

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.form import BaseForm
from flask_babel import gettext, lazy_pgettext, ngettext
from flask_security import current_user
from markupsafe import Markup
from wtforms import DateField, HiddenField, SelectField, StringField, validators

from models import DomainError, Opportunity, PlanItem
from models.base import now

from .base import (
    CrmModelView,
    RowButton,
    _l,
    domain_message,
    show_error,
    status_filter,
    status_formatter,
)

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
        return super().render(template, today=datetime.date.today(), PlanItem=PlanItem,
                              Opportunity=Opportunity, **kwargs)


class AssignForm(BaseForm):
    ids = HiddenField()
    manager = SelectField(_l("指派给"), coerce=int, validate_choice=False,
                          validators=[validators.InputRequired()])


class OpportunityView(OpportunityDetails, CrmModelView):
    """销售机会管理: the unassigned opportunities, created, edited, deleted and assigned here."""

    permission = "marketing.opportunity"
    create_permission = "marketing.opportunity.create"
    edit_permission = "marketing.opportunity.edit"
    delete_permission = "marketing.opportunity.delete"
    export_permission = "marketing.opportunity"
    page_permissions = {"assign_view": "marketing.opportunity.assign"}
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

    def base_query(self):
        return Opportunity.unassigned()

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
        model.clean()

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
        return redirect(url_for(".assign_view", ids=",".join(ids), url=self._list_url()))

    def _list_url(self):
        return request.form.get("url") or request.args.get("url") or url_for(".index_view")

    @expose("/assign/", methods=("GET", "POST"))
    def assign_view(self):
        """Pick one 客户经理 for one or many selected opportunities."""
        form = AssignForm(request.form if request.method == "POST" else None,
                          ids=request.values.get("ids", ""))
        managers = list(Opportunity.assignable_managers())
        form.manager.choices = [(m.id, f"{m.full_name}（{m.username}）") for m in managers]
        opportunities = self.selected((form.ids.data or "").split(","),
                                      "marketing.opportunity.assign")
        back = self._list_url()
        if not opportunities:
            flash(gettext("请选择要指派的未指派销售机会"), "error")
            return redirect(back)
        if request.method == "POST" and form.validate():
            if self._assign(opportunities, form):
                return redirect(back)
        return self.render("admin/marketing/assign.html", form=form,
                           opportunities=opportunities, back=back)

    def _assign(self, opportunities, form):
        """Assign each; a refused row is named, the others still go through."""
        done = []
        for opportunity in opportunities:
            try:
                opportunity.assign(form.manager.data, by=current_user.id, at=now())
            except DomainError as exc:
                if exc.field == "manager":
                    form.manager.errors = [domain_message(exc)]
                    return False
                flash(domain_message(exc), "error")
            else:
                done.append(opportunity)
        if done:
            manager = next(label for value, label in form.manager.choices
                           if value == form.manager.data)
            flash(ngettext("%(num)d 条销售机会已指派给 %(manager)s",
                           "%(num)d 条销售机会已指派给 %(manager)s",
                           len(done), manager=manager), "success")
        return True


class PlanItemForm(BaseForm):
    date = DateField(_l("日期"), validators=[validators.InputRequired()])
    content = StringField(_l("计划项"), validators=[validators.InputRequired(),
                                                   validators.Length(max=500)])


class PlanView(OpportunityDetails, CrmModelView):
    """客户开发计划: opportunities under development with their steps; final ones to 查看."""

    permission = export_permission = "marketing.plan"
    page_permissions = {"plan_view": "marketing.plan.make",
                        "execute_view": "marketing.plan.execute",
                        "develop_view": "marketing.plan.close",
                        "stop_view": "marketing.plan.close"}

    column_list = ["id", "customer_name", "summary", "contact", "assigned_to", "assigned_at",
                   "status"]
    column_sortable_list = ["id", "customer_name", "summary", "assigned_at", "status"]
    column_default_sort = ("assigned_at", True)
    column_formatters = {"status": status_formatter(Opportunity.DEVELOPMENT_STATUS),
                         "customer": _customer_link}
    column_formatters_detail = {"status": status_formatter(Opportunity.STATUS),
                                "customer": _customer_link}
    column_filters = [status_filter(Opportunity.status, Opportunity.DEVELOPMENT_STATUS)]
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

    def _opportunity(self):
        """The opportunity of ?id= (or the posted id) within this user's scope for the page."""
        opportunity = self.get_one(request.values.get("id"))
        if opportunity is None:
            flash(gettext("记录不存在或您无权操作。"), "error")
        return opportunity

    def _back(self):
        return redirect(request.values.get("url") or url_for(".index_view"))

    # -- 制定计划 -------------------------------------------------------------
    @expose("/plan/", methods=("GET", "POST"))
    def plan_view(self):
        opportunity = self._opportunity()
        if opportunity is None:
            return self._back()
        form = PlanItemForm(request.form if request.form.get("op") == "add" else None)
        if request.method == "POST":
            done = self._plan_step(opportunity, form)
            if done:
                return redirect(url_for(".plan_view", id=opportunity.id))
        return self.render("admin/marketing/plan.html", opportunity=opportunity, form=form,
                           mode="plan")

    def _plan_step(self, opportunity, form):
        op = request.form.get("op")
        try:
            if op == "add":
                if not form.validate():
                    return False
                opportunity.add_plan_item(form.date.data, form.content.data,
                                          today=datetime.date.today())
                flash(gettext("保存成功"), "success")
            elif op in ("edit", "delete"):
                item = self._item(opportunity)
                if item is None:
                    return True
                if op == "edit":
                    item.edit_content(request.form.get("content"))
                    flash(gettext("保存成功"), "success")
                else:
                    item.remove()
                    flash(gettext("已删除计划项"), "success")
        except DomainError as exc:
            if op == "add":
                return not show_error(form, exc)  # next to the field: the form again
            flash(domain_message(exc), "error")
        return True

    @staticmethod
    def _item(opportunity):
        item = PlanItem.get_or_none(PlanItem.id == request.form.get("item", type=int),
                                    PlanItem.opportunity == opportunity)
        if item is None:
            flash(gettext("计划项不存在"), "error")
        return item

    # -- 执行计划 -------------------------------------------------------------
    @expose("/execute/", methods=("GET", "POST"))
    def execute_view(self):
        opportunity = self._opportunity()
        if opportunity is None:
            return self._back()
        if request.method == "POST":
            item = self._item(opportunity)
            if item is not None:
                try:
                    item.record_result(request.form.get("result"))
                except DomainError as exc:
                    flash(domain_message(exc), "error")
                else:
                    flash(gettext("保存成功"), "success")
            return redirect(url_for(".execute_view", id=opportunity.id))
        return self.render("admin/marketing/plan.html", opportunity=opportunity,
                           form=None, mode="execute")

    # -- 开发成功 / 终止开发 ---------------------------------------------------
    @expose("/develop/", methods=("POST",))
    def develop_view(self):
        opportunity = self._opportunity()
        if opportunity is not None:
            try:
                customer = opportunity.develop(by=current_user.id, at=now())
            except DomainError as exc:
                flash(domain_message(exc), "error")
            else:
                flash(Markup(gettext("“%(name)s”开发成功，已创建客户 %(number)s",
                                     name=Markup.escape(opportunity.customer_name),
                                     number=Markup('<a href="{}">{}</a>').format(
                                         url_for("customer.details_view", id=customer.id),
                                         customer.number))), "success")
        return self._back()

    @expose("/stop/", methods=("POST",))
    def stop_view(self):
        opportunity = self._opportunity()
        if opportunity is not None:
            try:
                opportunity.stop(by=current_user.id, at=now())
            except DomainError as exc:
                flash(domain_message(exc), "error")
            else:
                flash(gettext("已终止开发“%(name)s”", name=opportunity.customer_name),
                      "success")
        return self._back()


def views():
    category = _l("营销管理")
    return [
        OpportunityView(Opportunity, name=_l("销售机会管理"), category=category,
                        endpoint="opportunity"),
        PlanView(Opportunity, name=_l("客户开发计划"), category=category, endpoint="plan"),
    ]
