"""营销管理 screens: sales opportunities and development plans."""
from flask_security import current_user
from wtforms import validators

from models import Opportunity
from models.base import now

from .base import CrmModelView, _l, status_formatter

LABELS = {
    "id": _l("编号"), "source": _l("机会来源"), "customer_name": _l("客户名称"),
    "probability": _l("成功机率（%）"), "summary": _l("概要"), "contact": _l("联系人"),
    "contact_phone": _l("联系人电话"), "description": _l("机会描述"),
    "created_by": _l("创建人"), "created_at": _l("创建时间"), "assigned_to": _l("指派给"),
    "assigned_at": _l("指派时间"), "status": _l("状态"), "customer": _l("客户"),
}


class OpportunityView(CrmModelView):
    """销售机会管理: the unassigned opportunities."""

    permission = "marketing.opportunity"
    create_permission = "marketing.opportunity.create"
    edit_permission = "marketing.opportunity.edit"
    delete_permission = "marketing.opportunity.delete"
    export_permission = "marketing.opportunity"

    column_list = ["id", "customer_name", "summary", "contact", "contact_phone", "created_at"]
    column_details_list = ["id", "source", "customer_name", "probability", "summary", "contact",
                           "contact_phone", "description", "created_by", "created_at",
                           "status"]
    column_labels = LABELS
    column_searchable_list = ["customer_name", "summary", "contact"]
    column_default_sort = ("created_at", True)
    column_formatters = {"status": status_formatter(Opportunity.STATUS)}
    form_columns = ["source", "customer_name", "probability", "summary", "contact",
                    "contact_phone", "description"]
    form_args = {
        "probability": {"validators": [validators.InputRequired(),
                                       validators.NumberRange(min=0, max=100)]},
        "description": {"validators": [validators.InputRequired(),
                                       validators.Length(max=2000)]},
    }

    def base_query(self):
        return Opportunity.select().where(Opportunity.status == Opportunity.NEW)

    def on_model_change(self, form, model, is_created):
        if is_created:
            model.created_by = current_user.id
            model.created_at = now()
            model.status = Opportunity.NEW


class PlanView(CrmModelView):
    """客户开发计划: opportunities under development, and the archived ones."""

    permission = "marketing.plan"
    column_list = ["id", "customer_name", "summary", "contact", "contact_phone",
                   "assigned_to", "status"]
    column_details_list = OpportunityView.column_details_list[:-1] + [
        "assigned_to", "assigned_at", "status"]
    column_labels = LABELS
    column_searchable_list = ["customer_name", "summary", "contact"]
    column_default_sort = ("assigned_at", True)
    column_formatters = {"status": status_formatter(Opportunity.STATUS)}

    def base_query(self):
        return Opportunity.select().where(Opportunity.status != Opportunity.NEW)


def views():
    category = _l("营销管理")
    return [
        OpportunityView(Opportunity, name=_l("销售机会管理"), category=category,
                        endpoint="opportunity"),
        PlanView(Opportunity, name=_l("客户开发计划"), category=category, endpoint="plan"),
    ]
