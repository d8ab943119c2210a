"""基础数据 screens: the data dictionary, product and stock lookup."""
from flask import flash, redirect, request
from flask_admin import expose

from models import DictionaryEntry, DomainError, Product, Stock

from .base import CrmModelView, ReadOnlyView, _l, domain_message
from .formats import money, shown


class DictionaryView(CrmModelView):
    """数据字典管理: entries marked not editable can be neither edited nor deleted."""

    permission = create_permission = edit_permission = delete_permission = "basedata.dictionary"
    column_list = ["id", "category", "item", "value", "editable"]
    column_sortable_list = ["id", "category", "item", "value"]
    column_labels = {"id": _l("编号"), "category": _l("类别"), "item": _l("条目"),
                     "value": _l("值"), "editable": _l("是否可编辑")}
    column_searchable_list = ["category", "item", "value"]
    column_default_sort = [("category", False), ("value", False)]
    form_columns = ["category", "item", "value", "editable"]
    form_widget_args = {"category": {"list": "crm-categories", "autocomplete": "off"}}
    column_formatters = {"category": lambda v, c, m, n: shown(m.category_label())}

    def row_title(self, row):
        return row.item  # the category is a label of the UI, the item is the data
    create_template = "admin/basedata/dictionary_create.html"
    edit_template = "admin/basedata/dictionary_edit.html"
    details_template = "admin/basedata/dictionary_details.html"

    def row_editable(self, row):
        """A locked entry (the 企业客户等级 levels) offers neither 编辑 nor 删除."""
        return row.editable

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        """A locked entry's form is not even shown: a message, back to the list."""
        entry = self.get_one(request.args.get("id"))
        try:
            if entry is not None:
                entry.ensure_editable()
        except DomainError as exc:
            flash(domain_message(exc), "error")
            return redirect(self.return_url())
        return super().edit_view()

    @staticmethod
    def categories():
        """The existing 类别, suggested as the user types a new entry's category."""
        return DictionaryEntry.categories()

    def on_model_change(self, form, model, is_created):
        if not is_created:
            DictionaryEntry.get_by_id(model.id).ensure_editable()

    def on_model_delete(self, model):
        model.ensure_editable()


class ProductView(ReadOnlyView):
    """查询产品信息."""

    permission = "basedata.product"
    column_list = ["id", "name", "model", "batch", "unit", "price", "note"]
    column_sortable_list = ["id", "name", "model", "batch"]
    column_labels = {"id": _l("编号"), "name": _l("名称"), "model": _l("型号"),
                     "batch": _l("等级/批次"), "unit": _l("单位"), "price": _l("单价（元）"),
                     "note": _l("备注")}
    column_searchable_list = ["name", "model", "batch"]
    column_formatters = {"price": lambda view, context, model, name: money(model.price)}


class StockView(ReadOnlyView):
    """查询库存."""

    permission = "basedata.stock"
    column_list = ["id", "product", "warehouse", "location", "quantity", "note"]
    column_labels = {"id": _l("编号"), "product": _l("产品"), "warehouse": _l("仓库"),
                     "location": _l("货位"), "quantity": _l("件数"), "note": _l("备注")}
    column_searchable_list = [Product.name, Product.model, Product.batch, "warehouse"]
    column_search_labels = [_l("产品名称"), _l("型号"), _l("批次"), _l("仓库")]
    column_sortable_list = ["id", ("product", Product.name), "warehouse"]


def views():
    category = _l("基础数据")
    return [
        DictionaryView(DictionaryEntry, name=_l("数据字典管理"), category=category,
                       endpoint="dictionary"),
        ProductView(Product, name=_l("查询产品信息"), category=category, endpoint="product"),
        StockView(Stock, name=_l("查询库存"), category=category, endpoint="stock"),
    ]
