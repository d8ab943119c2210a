"""服务管理 screens: one view per step of a service request's life.

服务创建 (a 客户经理 records a request), 服务分配 (a 销售主管 assigns each new one in
its row, or deletes it), 服务处理 (the assignee answers), 服务反馈 (the 处理结果 and
满意度 archive it or send it back) and 服务归档 (every service the user may see,
with its whole history). The rules are the model's (``models/service.py``); these
views collect input, call its verbs and show what they answer.
"""
from flask import get_template_attribute
from flask_admin.form import BaseForm
from flask_babel import get_locale, gettext, lazy_pgettext
from flask_security import current_user
from markupsafe import Markup
from wtforms import RadioField, SelectField, TextAreaField, validators

from models import Customer, DictionaryEntry, DomainError, ServiceRequest, versions
from models.base import now
from models.basedata import SERVICE_TYPE
from models.service import STAR

from .base import (
    CrmModelView,
    RowButton,
    ScopedAjaxLoader,
    UserName,
    _l,
    current_page,
    record_key,
    show_error,
    status_filter,
    status_formatter,
    workflow_step,
)
from .filters import ChoiceFilter, DayRange, DictionaryOptions
from .formats import stars, user_label
from .kept import kept
from .profile import PresetCustomer

LABELS = {
    "id": _l("编号"), "service_type": _l("服务类型"), "summary": _l("概要"),
    "customer": _l("客户"), "status": _l("状态"), "request": _l("服务请求"),
    "created_by": _l("创建人"), "created_at": _l("创建时间"), "assigned_to": _l("分配给"),
    "assigned_at": _l("分配时间"), "handling": _l("服务处理"), "handled_by": _l("处理人"),
    "handled_at": _l("处理时间"), "result": _l("处理结果"), "satisfaction": _l("满意度"),
}
DETAILS = list(LABELS)
TEXT_LIMIT = ServiceRequest.TEXT_LIMIT


def multiline(view, context, model, name):
    """Long texts keep the lines the user typed."""
    return Markup('<div style="white-space: pre-wrap">{}</div>').format(getattr(model, name) or "")


FORMATTERS = {"status": status_formatter(ServiceRequest.STATUS), "satisfaction": stars}
DETAIL_FORMATTERS = {**FORMATTERS, "request": multiline, "handling": multiline,
                     "result": multiline}


FILTERS = [ChoiceFilter(ServiceRequest.service_type, _l("服务类型"),
                        DictionaryOptions(SERVICE_TYPE)),
           DayRange(ServiceRequest.created_at, _l("创建日期"))]


class ActiveCustomerLoader(ScopedAjaxLoader):
    """The customer picker of 服务创建: 正常 customers within the user's customer scope
    (a 客户经理: those he manages). A posted id outside it reads as no customer."""

    def query(self):
        return super().query().where(Customer.status == Customer.ACTIVE)


class HandleForm(BaseForm):
    handling = TextAreaField(_l("服务处理"), validators=[validators.InputRequired(),
                                                        validators.Length(max=TEXT_LIMIT)])


class FeedbackForm(BaseForm):
    result = TextAreaField(_l("处理结果"), validators=[validators.InputRequired(),
                                                      validators.Length(max=TEXT_LIMIT)])
    satisfaction = RadioField(_l("满意度"), coerce=int,
                              choices=[(n, STAR * n) for n in range(1, 6)],
                              validators=[validators.InputRequired()])


class AssignForm(BaseForm):
    # Any number passes the form; the model says whether it is an active 客户经理.
    manager = SelectField(_l("分配给"), coerce=record_key, validate_choice=False,
                          validators=[validators.InputRequired()])


STEP_TEMPLATE = "admin/service/step.html"
# 创建人, 分配给, 处理人: sorted by name
USER_SORTS = [(name, UserName(getattr(ServiceRequest, name)))
              for name in ("created_by", "assigned_to", "handled_by")]


class ServiceStepView(CrmModelView):
    """A list of services (in one status, or all), their details with the history, and
    the step pages, each reached by ?id= within the scope of the step's permission."""

    status = None
    column_list = ["id", "service_type", "summary", "customer", "created_by", "created_at"]
    column_details_list = DETAILS
    column_labels = LABELS
    column_searchable_list = [Customer.name, "summary", "service_type"]
    column_search_labels = [_l("客户"), _l("概要"), _l("服务类型")]
    column_filters = FILTERS
    column_sortable_list = ["id", "service_type", "summary", "created_at", *USER_SORTS]
    column_default_sort = ("created_at", True)
    column_formatters = FORMATTERS
    column_formatters_detail = DETAIL_FORMATTERS
    details_template = "admin/service/details.html"

    def base_query(self):
        return ServiceRequest.in_status(self.status)

    def get_list_row_actions(self):
        return [RowButton(_l("查看"), ".details_view")]

    def render(self, template, **kwargs):
        return super().render(template, ServiceRequest=ServiceRequest, **kwargs)


class ServiceCreateView(PresetCustomer, ServiceStepView):
    """服务创建: a 客户经理 records a request; his list is the ones he created that wait."""

    permission = create_permission = "service.create"
    status = ServiceRequest.NEW
    column_list = ["id", "service_type", "summary", "customer", "created_at"]
    form_columns = ["service_type", "summary", "customer", "request"]
    form_overrides = {"service_type": SelectField, "request": TextAreaField}
    form_args = {
        "service_type": {"validators": [validators.InputRequired()]},
        # the picker is not labelled by scaffold_form (Flask-Admin builds it apart)
        "customer": {"label": _l("客户"), "validators": [validators.InputRequired()]},
        "summary": {"validators": [validators.InputRequired(), validators.Length(max=200)]},
        "request": {"validators": [validators.InputRequired(),
                                   validators.Length(max=TEXT_LIMIT)]},
    }
    form_widget_args = {"request": {"rows": 6, "maxlength": TEXT_LIMIT},
                        "summary": {"maxlength": 200}}
    # minimum_input_length 0: a click lists his customers, no need to know a name first
    form_ajax_refs = {"customer": ActiveCustomerLoader(
        "customer", Customer, "customers.customer", fields=["number", "name"],
        placeholder=_l("输入客户编号或名称查找"), minimum_input_length=0)}

    def base_query(self):
        return super().base_query().where(ServiceRequest.created_by == current_user.id)

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.service_type.choices = [(t, t) for t in DictionaryEntry.items(SERVICE_TYPE)]
        return form

    def create_model(self, form):
        """The model's 服务创建: stamps, checks, records; a refusal is shown on its field."""
        try:
            return ServiceRequest.open(
                by=current_user.id, at=now(), service_type=form.service_type.data,
                summary=form.summary.data, customer=form.customer.data,
                request=form.request.data)
        except DomainError as exc:
            show_error(form, exc)
            return False


class ServiceAssignView(ServiceStepView):
    """服务分配: the 新创建 services, each assigned in its row to a 客户经理, or deleted."""

    permission = delete_permission = "service.assign"
    status = ServiceRequest.NEW
    column_list = ["id", "service_type", "summary", "customer", "created_by", "created_at",
                   "assign"]
    column_labels = {**LABELS, "assign": _l("分配给")}
    column_formatters = {**FORMATTERS,
                         "assign": lambda view, context, model, name: view.assign_cell(
                             model, context.get("return_url") or current_page())}

    def manager_choices(self):
        """The active 客户经理 as (id, label), read again only when the users or their
        roles changed (the REFERENCE data version)."""
        return kept(versions.REFERENCE, str(get_locale()), "service managers", lambda: [
            (m.id, user_label(m)) for m in ServiceRequest.assignable_managers()])

    def assign_cell(self, service, back):
        """The row's 分配 form; its options, the same in every row, written once."""
        options = kept(versions.REFERENCE, str(get_locale()), "service manager options",
                       lambda: Markup("").join(
                           Markup('<option value="{}">{}</option>').format(value, label)
                           for value, label in self.manager_choices()))
        cell = get_template_attribute("admin/service/macros.html", "assign_cell")
        return cell(service, options, back)

    def get_list_row_actions(self):
        return super().get_list_row_actions() + [
            RowButton(lazy_pgettext("button", "删除"), ".delete_view", post=True, tone="danger",
                      confirm=lambda row: gettext("确认删除“%(name)s”？", name=str(row))),
        ]

    def delete_record(self, model):
        model.delete_new()

    def assign_form(self, formdata):
        form = AssignForm(formdata)
        form.manager.choices = [("", gettext("请选择客户经理"))] + self.manager_choices()
        return form

    @workflow_step("/assign/", "service.assign", form="assign_form", expects="assign",
                   template=STEP_TEMPLATE)
    def assign_view(self, service, form):
        """服务分配: the in-row form posts here; a refused 客户经理 comes back next to the field."""
        service.assign(form.manager.data, by=current_user.id, at=now())
        return gettext("服务“%(name)s”已分配给 %(manager)s", name=service.summary,
                       manager=dict(self.manager_choices()).get(form.manager.data, ""))


class ServiceHandleView(ServiceStepView):
    """服务处理: the 已分配 services assigned to the user; 处理 records the answer."""

    permission = "service.handle"
    status = ServiceRequest.ASSIGNED
    column_list = ["id", "service_type", "summary", "customer", "created_by", "created_at",
                   "assigned_to", "assigned_at"]

    def owned_by(self, code):
        """"Own" here is the assignee alone: the creator follows it, he does not answer it."""
        return ServiceRequest.assigned_to_user

    def get_list_row_actions(self):
        return super().get_list_row_actions() + [RowButton(_l("处理"), ".handle_view",
                                                           tone="primary")]

    @workflow_step("/handle/", "service.handle", form=HandleForm, expects="handle",
                   template=STEP_TEMPLATE)
    def handle_view(self, service, form):
        service.handle(form.handling.data, by=current_user.id, at=now())
        return gettext("保存成功")


class ServiceFeedbackView(ServiceStepView):
    """服务反馈: the 已处理 services the user created or was assigned; 反馈 archives
    them (满意度 ≥ 3) or sends them back to their assignee."""

    permission = "service.feedback"
    status = ServiceRequest.HANDLED
    column_list = ["id", "service_type", "summary", "customer", "created_by", "assigned_to",
                   "handled_by", "handled_at"]

    def get_list_row_actions(self):
        return super().get_list_row_actions() + [RowButton(_l("反馈"), ".feedback_view",
                                                           tone="primary")]

    @workflow_step("/feedback/", "service.feedback", form=FeedbackForm, expects="feedback",
                   template=STEP_TEMPLATE)
    def feedback_view(self, service, form):
        service.record_feedback(form.result.data, form.satisfaction.data, by=current_user.id,
                                at=now())
        if service.status == ServiceRequest.ARCHIVED:
            return gettext("服务“%(name)s”已归档", name=service.summary)
        return gettext("满意度低于 3 星，服务“%(name)s”已退回 %(manager)s 重新处理",
                       name=service.summary, manager=service.assigned_to)


class ServiceArchiveView(ServiceStepView):
    """服务归档: every service the user may see, in any status, with its whole history."""

    permission = export_permission = "service.archive"
    column_list = ["id", "service_type", "summary", "customer", "created_by", "created_at",
                   "assigned_to", "status"]
    column_sortable_list = ["id", "service_type", "summary", "created_at", "status",
                            *USER_SORTS]
    column_filters = FILTERS + [status_filter(ServiceRequest.status, ServiceRequest.STATUS)]
    column_export_list = DETAILS
    column_formatters_export = FORMATTERS


def views():
    category = _l("服务管理")
    return [
        ServiceCreateView(ServiceRequest, name=_l("服务创建"), category=category,
                          endpoint="service_create"),
        ServiceAssignView(ServiceRequest, name=_l("服务分配"), category=category,
                          endpoint="service_assign"),
        ServiceHandleView(ServiceRequest, name=_l("服务处理"), category=category,
                          endpoint="service_handle"),
        ServiceFeedbackView(ServiceRequest, name=_l("服务反馈"), category=category,
                            endpoint="service_feedback"),
        ServiceArchiveView(ServiceRequest, name=_l("服务归档"), category=category,
                           endpoint="service_archive"),
    ]
