"""联系人 and 交往记录: the people at a customer and what was said with them."""
from peewee import CharField, DateField, ForeignKeyField, TextField

from ..base import N_, BaseModel
from .customer import Customer, customers_of


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

    def __str__(self):
        return self.name

    @classmethod
    def owned_by(cls, user):
        return cls.customer.in_(customers_of(user))


class Activity(BaseModel):
    """A 交往记录: a meeting, call or visit with the customer."""

    customer = ForeignKeyField(Customer, backref="activities", on_delete="RESTRICT")
    date = DateField(index=True)
    place = CharField(max_length=100)
    summary = CharField(max_length=200, index=True)
    detail = TextField(null=True)
    note = CharField(max_length=300, null=True)

    @classmethod
    def owned_by(cls, user):
        return cls.customer.in_(customers_of(user))
