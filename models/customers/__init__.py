"""Customers (客户管理): customers, contacts, interaction records, orders and churn.

One file per business word: ``customer`` (the customer and his number),
``contacts`` (联系人, 交往记录), ``orders`` (the ERP's orders and their import),
``churn`` (流失 detection and handling), ``imports`` (the customer import).
"""
from .churn import ChurnRecord, months_before
from .contacts import Activity, Contact
from .customer import Customer, customers_of
from .imports import IMPORT_COLUMNS, plan_import, read_customers, run_import, undo_import
from .orders import (
    ORDER_COLUMNS,
    CustomerSales,
    Order,
    OrderLine,
    import_orders,
    orders_by_year,
    rebuild_sales,
)

__all__ = ["IMPORT_COLUMNS", "ORDER_COLUMNS", "Activity", "ChurnRecord", "Contact", "Customer",
           "CustomerSales", "Order", "OrderLine", "customers_of", "import_orders",
           "months_before", "orders_by_year", "plan_import", "read_customers", "rebuild_sales",
           "run_import", "undo_import"]
