"""The data model of the CRM and its business rules, one module per business area."""
from .audit import AuditEntry
from .base import N_, BaseModel, DomainError, db, now, open_database
from .basedata import DictionaryEntry, Product, Stock
from .customers import Activity, ChurnRecord, Contact, Customer, CustomerSales, Order, OrderLine
from .customers.orders import SalesMonth
from .history import StatusChange
from .imports import ImportBatch
from .marketing import Opportunity, PlanItem
from .security import PERMISSIONS, PermissionChange, Role, User, UserRoles
from .service import ServiceRequest

# Every table, in dependency order.
ALL_MODELS = [
    User, Role, UserRoles, PermissionChange, StatusChange,
    DictionaryEntry, Product, Stock,
    Customer, CustomerSales, SalesMonth, Contact, Activity, Order, OrderLine, ChurnRecord,
    Opportunity, PlanItem, ServiceRequest, AuditEntry, ImportBatch,
]

__all__ = [
    "ALL_MODELS", "N_", "PERMISSIONS", "Activity",
    "AuditEntry", "BaseModel", "ChurnRecord", "Contact",
    "Customer", "CustomerSales", "DictionaryEntry", "DomainError", "ImportBatch", "Opportunity",
    "Order",
    "OrderLine",
    "PermissionChange", "PlanItem", "Product", "Role", "SalesMonth", "ServiceRequest",
    "StatusChange",
    "Stock", "User", "UserRoles", "db", "now", "open_database",
]
