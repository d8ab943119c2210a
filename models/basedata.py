"""Reference data (基础数据): the data dictionary, products and stock.

Products and stock belong to the company's ERP: the CRM only reads them.
"""
from peewee import BooleanField, CharField, DecimalField, ForeignKeyField, IntegerField, TextField

from .base import N_, BaseModel, DomainError, Refusals, check_texts

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
