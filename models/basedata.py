"""Reference data (基础数据): the data dictionary, products and stock.

Products and stock belong to the company's ERP: the CRM only reads them.
"""
from peewee import BooleanField, CharField, DecimalField, ForeignKeyField, IntegerField, TextField

from .base import (
    N_,
    BaseModel,
    DomainError,
    Refusals,
    check_texts,
    optional_text,
    required_text,
)
from .imports import erp_batch
from .tabular import (
    Imported,
    ImportRefused,
    canonical_rows,
    cell_text,
    row_faults,
    whole_number,
)

REGION = "地区"
CUSTOMER_LEVEL = "企业客户等级"
SERVICE_TYPE = "服务类型"
# The categories the code reads are the system's words, shown in the user's language.
CATEGORY_LABELS = {REGION: N_("地区"), CUSTOMER_LEVEL: N_("企业客户等级"),
                   SERVICE_TYPE: N_("服务类型")}


class DictionaryEntry(BaseModel):
    category = CharField(max_length=50, index=True)
    item = CharField(max_length=50, index=True)
    value = CharField(max_length=50, index=True)
    editable = BooleanField(default=True)

    class Meta:
        indexes = ((("category", "item"), True),)

    def __str__(self):
        return f"{self.category}: {self.item}"

    REQUIRED_TEXT = {"category": (N_("类别"), 50), "item": (N_("条目"), 50),
                     "value": (N_("值"), 50)}

    def clean(self):
        """类别, 条目 and 值 required, one line each, within their columns; all at once."""
        refusals = Refusals()
        check_texts(self, refusals, self.REQUIRED_TEXT)
        refusals.raise_any()

    def category_label(self):
        """The category as shown: a msgid for the system's categories, else as typed."""
        return CATEGORY_LABELS.get(self.category, self.category)

    @classmethod
    def of(cls, category):
        """The entries of one category, in value order then id."""
        return cls.select().where(cls.category == category).order_by(cls.value, cls.id)

    @classmethod
    def categories(cls):
        return [e.category for e in cls.select(cls.category).distinct().order_by(cls.category)]

    @classmethod
    def items(cls, category):
        """The item texts of a category, for choice lists."""
        return [e.item for e in cls.of(category)]

    def ensure_editable(self):
        """Entries marked not editable can be neither edited nor deleted."""
        if not self.editable:
            raise DomainError(N_("“%(item)s”是系统条目，不能修改或删除"), item=self.item)


class Product(BaseModel):
    name = CharField(max_length=100, index=True)
    model = CharField(max_length=100, index=True)
    batch = CharField(max_length=100, index=True)
    unit = CharField(max_length=20)
    price = DecimalField(max_digits=12, decimal_places=2)
    note = TextField(null=True)

    def __str__(self):
        return f"{self.name}-{self.model}-{self.batch}"


class Stock(BaseModel):
    product = ForeignKeyField(Product, backref="stocks", on_delete="RESTRICT")
    warehouse = CharField(max_length=50, index=True)
    location = CharField(max_length=50)
    quantity = IntegerField()
    note = TextField(null=True)


# -- the ERP's stock levels (flask import-stock) -----------------------------------------

# The columns of an ERP stock export (or their English names, models/tabular.py): one row
# per product and place. 备注 is optional: a file without it leaves the notes as they are.
STOCK_COLUMNS = ("商品名称", "型号", "批次", "仓库", "货位", "件数", "备注")
STOCK_REQUIRED = STOCK_COLUMNS[:-1]
NOTE_LIMIT = 2000


def import_stock(rows, source=None):
    """Set the stock of each (product, 仓库, 货位) a row names to its 件数 (a whole number,
    0 included), all or nothing; returns an ``Imported``: stock rows created, updated,
    unchanged.

    Every fault of every row is reported (ImportRefused: row, message, column), and then
    nothing is written. The product (商品名称, 型号, 批次) must be known: stock never adds
    products (an order import does). A place the file does not name keeps its stock, so
    the file may be the whole inventory or a part of it; importing it again changes
    nothing. Two rows for one place are refused, as the file would not say which holds.
    """
    rows = canonical_rows(rows, STOCK_COLUMNS, STOCK_REQUIRED)
    with_notes = bool(rows) and "备注" in rows[0]
    products = {}
    for key, name, model, batch in (Product.select(Product.id, Product.name, Product.model,
                                                   Product.batch).order_by(Product.id)
                                    .tuples()):
        products.setdefault((name, model, batch), key)
    levels, places, errors = {}, {}, []  # places: the row that first named each place
    for number, row in enumerate(rows, start=2):  # row 1 holds the headers
        cells = {column: cell_text(row.get(column)) for column in STOCK_COLUMNS}
        if not any(cells.values()):
            continue  # a blank row (Excel leaves some after the last)
        refusals, texts, quantity, note = Refusals(), {}, None, None
        for column, limit in (("商品名称", 100), ("型号", 100), ("批次", 100), ("仓库", 50),
                              ("货位", 50)):
            with refusals:
                texts[column] = required_text(cells[column], limit, column, N_(column))
        with refusals:
            quantity = whole_number(cells["件数"], "件数")
        with refusals:
            note = optional_text(cells["备注"], NOTE_LIMIT, "备注", N_("备注"), multiline=True)
        product = (texts.get("商品名称"), texts.get("型号"), texts.get("批次"))
        if None not in product and product not in products:
            refusals.add(N_("商品“%(product)s”不存在（按商品名称、型号、批次查找）"),
                         field="商品名称", product="-".join(product))
        place = (products.get(product), texts.get("仓库"), texts.get("货位"))
        if None not in place:
            if place in places:
                refusals.add(N_("与第 %(row)d 行是同一商品、仓库和货位"), field="货位",
                             row=places[place])
            places.setdefault(place, number)
        if refusals.errors:
            errors += row_faults(number, refusals)
        else:
            levels[place] = {"quantity": quantity, "note": note}
    if errors:
        raise ImportRefused(errors, N_("导入失败：%(count)d 行有误，未导入任何库存"))
    return _save_stock(levels, with_notes, source)


def _save_stock(levels, with_notes, source=None):
    """Write the checked levels in one transaction, one import batch. A place held by
    several stock rows (entered before the import kept one per place) keeps the first, the
    others go."""
    created = updated = 0
    with Stock._meta.database.atomic(), erp_batch("stock", source) as import_batch:
        held = {}
        for stock in (Stock.select()
                      .where(Stock.product.in_(list({p for p, _, _ in levels})))
                      .order_by(Stock.id)):
            held.setdefault((stock.product_id, stock.warehouse, stock.location), []).append(stock)
        for (product, warehouse, location), level in levels.items():
            stocks = held.get((product, warehouse, location))
            wanted = {"quantity": level["quantity"]}
            if with_notes:
                wanted["note"] = level["note"]
            if not stocks:
                Stock.create(product=product, warehouse=warehouse, location=location, **wanted)
                created += 1
                continue
            first, *others = stocks
            if not others and all(getattr(first, f) == v for f, v in wanted.items()):
                continue
            for field, value in wanted.items():
                setattr(first, field, value)
            first.save()
            for other in others:
                other.delete_instance()
            updated += 1
        done = Imported(created, updated, len(levels) - created - updated)
        import_batch.finish(done)
    return done
