"""联系人 and 交往记录: the people at a customer and what was said with them."""
import datetime

from peewee import CharField, DateField, ForeignKeyField, TextField

from ..base import N_, BaseModel, Refusals, check_texts, record_key
from ..security import User
from .customer import Customer


class Contact(BaseModel):
    MALE, FEMALE = "M", "F"
    GENDER = {MALE: N_("男"), FEMALE: N_("女")}

    customer = ForeignKeyField(Customer, backref="contacts", on_delete="RESTRICT")
    name = CharField(max_length=50, index=True)
    gender = CharField(max_length=1, default=MALE)
    title = CharField(max_length=50)
    office_phone = CharField(max_length=50)
    mobile = CharField(max_length=50, null=True)
    note = CharField(max_length=300, null=True)
    # the customer's 客户经理, kept by database triggers (migration 0023), never written here
    manager = ForeignKeyField(User, backref="+", null=True, index=False, on_delete="RESTRICT")
    database_kept = ("manager",)

    class Meta:
        indexes = ((("manager", "name"), False),)  # a 客户经理's contacts by 姓名 (0023)

    # field → (label, max length) of SPEC.md §2.1; 姓名*, 职位*, 办公电话* are required
    REQUIRED_TEXT = {"name": (N_("姓名"), 50), "title": (N_("职位"), 50),
                     "office_phone": (N_("办公电话"), 50)}
    OPTIONAL_TEXT = {"mobile": (N_("手机"), 50), "note": (N_("备注"), 300)}

    def __str__(self):
        return self.name

    def clean(self):
        """客户, the * texts and 性别 男/女; texts stripped, blank optional ones NULL.
        Every wrong field is reported at once."""
        refusals = Refusals()
        if record_key(self.__data__.get("customer")) is None:
            refusals.add(N_("请选择客户"), field="customer")
        check_texts(self, refusals, self.REQUIRED_TEXT, self.OPTIONAL_TEXT)
        if self.gender not in self.GENDER:
            refusals.add(N_("性别须为男或女"), field="gender")
        refusals.raise_any()

    # "own" is the 客户经理 of the record this key leads to (a list joining that record
    # may ask it there: admin_views.base.RelatedSort)
    owner_key = "customer"

    @classmethod
    def owned_by(cls, user):
        return cls.manager == user  # his customer's, kept by triggers (migration 0023)


class Activity(BaseModel):
    """A 交往记录: a meeting, call or visit with the customer."""

    customer = ForeignKeyField(Customer, backref="activities", on_delete="RESTRICT")
    date = DateField(index=True)
    place = CharField(max_length=100)
    summary = CharField(max_length=200, index=True)
    detail = TextField(null=True)
    note = CharField(max_length=300, null=True)
    # the customer's 客户经理, kept by database triggers (migration 0023), never written here
    manager = ForeignKeyField(User, backref="+", null=True, index=False, on_delete="RESTRICT")
    database_kept = ("manager",)

    class Meta:
        # a customer's records by date (0011); a 客户经理's by date or 概要 (0023)
        indexes = ((("customer", "date"), False), (("manager", "date"), False),
                   (("manager", "summary"), False))

    REQUIRED_TEXT = {"place": (N_("地点"), 100), "summary": (N_("概要"), 200)}
    # 详细信息 is a text column; the limit keeps one record readable (and the page small)
    OPTIONAL_TEXT = {"detail": (N_("详细信息"), 2000), "note": (N_("备注"), 300)}

    def __str__(self):
        return f"{self.date} {self.summary}"  # how a confirmation names it

    def clean(self):
        """客户, 时间 (a date), 地点 and 概要 required; lengths of the columns. All at once."""
        refusals = Refusals()
        if record_key(self.__data__.get("customer")) is None:
            refusals.add(N_("请选择客户"), field="customer")
        if not isinstance(self.date, datetime.date):
            refusals.add(N_("请填写%(label)s"), field="date", label=N_("时间"))
        check_texts(self, refusals, self.REQUIRED_TEXT, self.OPTIONAL_TEXT)
        refusals.raise_any()

    # "own" is the 客户经理 of the record this key leads to (a list joining that record
    # may ask it there: admin_views.base.RelatedSort)
    owner_key = "customer"

    @classmethod
    def owned_by(cls, user):
        return cls.manager == user  # his customer's, kept by triggers (migration 0023)
