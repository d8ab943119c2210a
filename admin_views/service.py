"""服务管理 screens: one view per step of a service request's life."""
from flask_security import current_user
from wtforms import SelectField

from models import Customer, DictionaryEntry, ServiceRequest
from models.base import now
from models.basedata import SERVICE_TYPE

from .base import (CrmModelView, ReadOnlyView, ScopedAjaxLoader, _l, status_filter,
                   status_formatter)

LABELS = {
    "id": _l("编号"), "service_type": _l("服务类型"), "summary": _l("概要"),
    "customer": _l("客户"), "status": _l("状态"), "request": _l("服务请求"),
    "created_by": _l("创建人"), "created_at": _l("创建时间"), "assigned_to": _l("分配给"),
    "assigned_at": _l("分配时间"), "handling": _l("服务处理"), "handled_by": _l("处理人"),
    "handled_at": _l("处理时间"), "result": _l("处理结果"), "satisfaction": _l("满意度"),
}
LIST = ["id", "customer", "summary", "service_type", "created_by", "created_at", "status"]


class ServiceStepView(CrmModelView):
    """A list of the services in one status."""

    status = None
    column_list = LIST
    column_details_list = list(LABELS)
    column_labels = LABELS
    column_searchable_list = ["summary", "service_type", Customer.name]
    column_search_labels = [_l("概要"), _l("服务类型"), _l("客户名称")]
    column_filters = ["service_type", "created_at"]
    column_sortable_list = ["id", "summary", "service_type", "created_at", "status"]
    column_default_sort = ("created_at", True)
    column_formatters = {"status": status_formatter(ServiceRequest.STATUS)}

    def base_query(self):
        query = ServiceRequest.select()
        return query.where(ServiceRequest.status == self.status) if self.status else query


class ServiceCreateView(ServiceStepView):
    """服务创建: a 客户经理 records a request; he sees the ones he created that wait."""

    permission = create_permission = "service.create"
    status = ServiceRequest.NEW
    form_columns = ["service_type", "summary", "customer", "request"]
    form_overrides = {"service_type": SelectField}
    form_ajax_refs = {"customer": ScopedAjaxLoader("customer", Customer, "customers.customer",
                                                   fields=["number", "name"])}

    def base_query(self):
        return super().base_query().where(ServiceRequest.created_by == current_user.id)

    def _with_types(self, form):
        form.service_type.choices = [(t, t) for t in DictionaryEntry.items(SERVICE_TYPE)]
        return form

    def create_form(self, obj=None):
        return self._with_types(super().create_form(obj))

    def on_model_change(self, form, model, is_created):
        if is_created:
            model.created_by = current_user.id
            model.created_at = now()
            model.status = ServiceRequest.NEW


class ServiceAssignView(ServiceStepView):
    permission = delete_permission = "service.assign"
    can_create = can_edit = False
    status = ServiceRequest.NEW


class ServiceHandleView(ServiceStepView, ReadOnlyView):
    permission = "service.handle"
    status = ServiceRequest.ASSIGNED


class ServiceFeedbackView(ServiceStepView, ReadOnlyView):
    permission = "service.feedback"
    status = ServiceRequest.HANDLED


class ServiceArchiveView(ServiceStepView, ReadOnlyView):
    permission = export_permission = "service.archive"
    column_filters = ["service_type", "created_at",
                      status_filter(ServiceRequest.status, ServiceRequest.STATUS)]


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
