"""客户导入: customers created from a CSV/XLSX table, all rows checked, all or nothing."""
from ..base import DIGITS, DomainError, decimal_in_column, now
from ..basedata import CUSTOMER_LEVEL, DictionaryEntry
from ..security import User
from ..tabular import ImportRefused, cell_text
from .customer import Customer

# The columns of an import file: header → field (the labels users know, as in exports).
IMPORT_COLUMNS = {
    "名称": "name", "地区": "region", "客户经理": "manager", "客户等级": "level",
    "客户满意度": "satisfaction", "客户信用度": "credit", "地址": "address",
    "邮政编码": "zip_code", "电话": "phone", "传真": "fax", "网址": "website",
    "营业执照注册号": "license_no", "法人": "legal_person",
    "注册资金（万元）": "registered_capital",
    "年营业额": "annual_revenue", "开户银行": "bank", "银行帐号": "bank_account",
    "地税登记号": "local_tax_no", "国税登记号": "national_tax_no",
}


def import_customers(rows, at=None):
    """Create customers from imported rows (dicts keyed by IMPORT_COLUMNS' headers).

    All or nothing: every row is checked like an edited customer; if any row is
    wrong, nothing is saved and every wrong row is reported. 客户经理 is given by
    用户名 or 姓名, 客户等级 by name or value, ratings as 1–5 or ☆…; each
    customer gets the next 客户编号 of the import day.
    """
    at = at or now()
    managers = {}
    for user in User.managers():
        managers[user.username] = managers[user.full_name] = user.id
    levels = {}
    for entry in DictionaryEntry.of(CUSTOMER_LEVEL):
        levels[entry.item] = levels[entry.value] = int(entry.value)
    errors, created = [], []
    with Customer._meta.database.atomic() as transaction:
        for number, row in enumerate(rows, start=2):  # row 1 holds the headers
            fields = {field: cell_text(row.get(header)) for header, field in IMPORT_COLUMNS.items()}
            try:
                customer = Customer(**{**fields, "manager": managers.get(fields["manager"]),
                                       "level": levels.get(fields["level"]),
                                       "satisfaction": _rating(fields["satisfaction"]),
                                       "credit": _rating(fields["credit"]),
                                       "registered_capital": _amount(
                                           fields["registered_capital"], "registered_capital"),
                                       "annual_revenue": _amount(fields["annual_revenue"],
                                                                 "annual_revenue")})
                customer.clean()
                created.append(Customer.create_numbered(
                    at, **{f: getattr(customer, f) for f in IMPORT_COLUMNS.values()}))
            except DomainError as exc:
                errors.append((number, exc.message, exc.params))
        if errors:
            transaction.rollback()
            raise ImportRefused(errors)
    return created


def _rating(value):
    if value and set(value) == {"☆"}:
        return len(value)
    return int(value) if value and DIGITS.fullmatch(value) and len(value) == 1 else None


def _amount(value, field):
    """An amount as Excel writes it (1,234.50), checked as an edit checks it."""
    if value is None:
        return None
    return decimal_in_column(value.replace(",", ""), Customer._meta.fields[field],
                             Customer.AMOUNTS[field])
