"""How lists are filtered: by label for dictionary and user columns, by a range of days.

Every list filters a dictionary-backed or user column by choosing a label
(大客户, 北京, 小明) and a date column by picking a range of days; the options
are read on every request, since the dictionary and the users change at run
time while Flask-Admin reads a filter's options once, when the view is built.
A value that is not one of the current options (a stale link, a crafted URL)
is refused with Flask-Admin's "无效的筛选器值" message and the list is shown
unfiltered; it never reaches the database.
"""
import datetime

from flask_admin.babel import lazy_gettext as admin_gettext
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, DateBetweenFilter
from flask_babel import LazyString, get_locale, gettext
from flask_babel import lazy_gettext as _l
from peewee import DateTimeField

from models import Customer, DictionaryEntry, User, versions, work
from models.base import day_start

from .formats import user_label
from .kept import kept


class Options:
    """A filter's (value, label) pairs, read from ``read()`` whenever the users, roles or
    dictionary changed since they were last read (the REFERENCE data version), in the
    language of the page.

    Flask-Admin keeps what the filter's options were at start-up and calls a
    callable only then; an iterable object is iterated on every render.
    """

    def __init__(self, read):
        self.read = read

    def __bool__(self):
        return True  # Flask-Admin drops options that are falsy

    def __iter__(self):
        return iter(kept(versions.REFERENCE, str(get_locale()), self, self.read))


class DictionaryOptions(Options):
    """The entries of a dictionary category, labelled by their 条目.

    ``stored`` is the entry's attribute the column holds: ``item`` (地区, 服务类型
    store the text) or ``value`` (客户等级 stores 1–5).
    """

    def __init__(self, category, stored="item"):
        super().__init__(lambda: [(getattr(e, stored), e.item)
                                  for e in DictionaryEntry.of(category)])
        self.category = category


def manager_choices():
    """The 客户经理 by name: the active ones, and anyone still managing a customer
    (a disabled manager's customers must still be found, to hand them over)."""
    managing = Customer.select(Customer.manager).distinct()
    users = (User.select().where(User.id.in_(User.managers().select(User.id)) |
                                 User.id.in_(managing))
             .order_by(User.username))
    return [(u.id, user_label(u)) for u in users]


class ChoiceFilter(BasePeeweeFilter):
    """The column equals the chosen option; ``coerce`` turns the URL's text into the
    stored type. Only a current option passes, so nothing else reaches the query."""

    def __init__(self, column, name, options, coerce=str):
        super().__init__(column, name, options=options)
        self.coerce = coerce

    def validate(self, value):
        try:
            return value in {str(v) for v, _ in self.options} and self.clean(value) is not None
        except (TypeError, ValueError):
            return False

    def clean(self, value):
        return self.coerce(value)

    def apply(self, query, value):
        return query.where(self.column == value)

    def operation(self):
        return admin_gettext("equals")


class ManagerFilter(ChoiceFilter):
    """客户经理, chosen by name. ``column`` is the manager itself (``Customer.manager``)
    or leads to the customer (``Order.customer``): then the rows of that manager's
    customers, by a subquery, since Flask-Admin's Peewee filters cannot reach a
    second join.
    """

    def __init__(self, column, name):
        super().__init__(column, name, Options(manager_choices), coerce=int)

    def apply(self, query, value):
        if self.column.rel_model is User:
            return query.where(self.column == value)
        return query.where(self.column.in_(
            Customer.select(Customer.id).where(Customer.manager == value)))


class RuleFilter(BasePeeweeFilter):
    """Rows meeting a rule of ``models.work`` (计划到期, 无交往 …), offered as one option
    (是). The home page links its counts to a list with this filter applied."""

    def __init__(self, column, name, rule):
        super().__init__(column, name, options=[("1", _l("是"))])
        self.rule = rule

    def validate(self, value):
        return value == "1"

    def apply(self, query, value):
        return query.where(self.rule())

    def operation(self):
        return admin_gettext("equals")


def with_silent_days(msgid):
    """A text naming SILENT_DAYS ("%(days)s 天无交往"), translated when shown."""
    return LazyString(lambda: gettext(msgid, days=work.silent_days()))


class DayRange(DateBetweenFilter):
    """From one day to another, both included, chosen in Flask-Admin's range picker
    (which sends "YYYY-MM-DD to YYYY-MM-DD"). The days are the company's: on a stored
    time (UTC) the range runs from the first day's local midnight to the local
    midnight after the last day (``day_start``)."""

    def apply(self, query, value):
        start, end = value
        if not isinstance(self.column, DateTimeField):
            return query.where(self.column.between(start, end))
        query = query.where(self.column >= day_start(start))
        if end < datetime.date.max:  # 9999-12-31 has no next day
            query = query.where(self.column < day_start(end + datetime.timedelta(days=1)))
        return query


__all__ = ["ChoiceFilter", "DayRange", "DictionaryOptions", "ManagerFilter", "Options",
           "RuleFilter", "manager_choices", "with_silent_days"]
