"""How values are shown in the user's language: the system's own words, yes/no,
amounts, users in a choice, times.

Flask-Admin shows a boolean in a list as an icon titled with the field's name
and an English word ("active: true"), and as True/False on details pages and
in exports; a time as Python prints it (UTC, with microseconds if any).
``CrmModelView`` uses these tables instead of Flask-Admin's, so every time
column of every list, details page and export reads in TIMEZONE.
"""
import datetime
from decimal import Decimal, InvalidOperation

from flask_admin.model import typefmt
from flask_babel import get_locale, get_translations, gettext
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from models.base import Msgid, local


def shown(text):
    """A text the models marked for translation (a seeded role's name, a system
    category) in the user's language; anything else (data) as it is."""
    return gettext(text) if isinstance(text, Msgid) else text


def money(value):
    """An amount in 元: two decimals and thousands separators (7,500.00); blank if none."""
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(value):,.2f}"
    except (InvalidOperation, TypeError, ValueError):
        return str(value)


TIME_FORMAT = "%Y-%m-%d %H:%M"  # 2026-12-01 01:30, in any language


def shown_time(value, pattern=TIME_FORMAT):
    """A stored time (naive UTC, models/base.py) as the company's clock reads it: in
    TIMEZONE (``models.base.local``), to the minute, never with microseconds; blank if
    none. The one time formatter: lists, details, exports, history tables, steps, 上次登录
    and the lockout message. The pattern holds digits only, the same in every language,
    so ``strftime`` writes it (Babel's ``format_datetime`` took 20 times as long: a
    list of 20 rows spent 0.6 ms in it)."""
    if value is None or value == "":
        return ""
    return local(value).strftime(pattern)


def _time_cell(view, value, name):
    return shown_time(value)


def stars(view, context, model, name):
    """A rating 1–5 (满意度, 信用度) as ☆ to ☆☆☆☆☆."""
    value = getattr(model, name)
    return "☆" * value if value else ""


def user_label(user):
    """A user as offered in a choice: 姓名（用户名）, names being alike."""
    return gettext("%(name)s（%(username)s）", name=user.full_name, username=user.username)


def yes_no(value):
    return gettext("是") if value else gettext("否")


def _yes_no_cell(view, value, name):
    return yes_no(value)


def _yes_no_icon(view, value, name):
    """Flask-Admin's icon, titled with the column's label: 启用：是."""
    icon = "fa-check-circle" if value else "fa-minus-circle"
    title = gettext("%(label)s：%(value)s", label=view.get_column_name(name),
                    value=yes_no(value))
    return Markup('<span class="fa {}" title="{}"></span>').format(icon, title)


LIST = {**typefmt.BASE_FORMATTERS, bool: _yes_no_icon, datetime.datetime: _time_cell}
DETAIL = {**typefmt.DETAIL_FORMATTERS, bool: _yes_no_cell, datetime.datetime: _time_cell}
EXPORT = {**typefmt.EXPORT_FORMATTERS, bool: _yes_no_cell, datetime.datetime: _time_cell}


_WIDGET_TEXTS = {}  # language → the JSON of widget_texts()


def widget_texts():
    """The texts of Flask-Admin's date pickers (daterangepicker + moment) and pickers
    (select2) in the user's language, as the JSON that static/crm-locale.js reads before
    Flask-Admin's form.js builds them ({n} is a number); made once per language (on every
    page, its 25 translations cost 0.5 ms)."""
    language = str(get_locale())
    if language not in _WIDGET_TEXTS:
        t = get_translations()

        def plural(n):
            return {
                "inputTooShort": t.ungettext("请再输入 %(num)s 个字符",
                                             "请再输入 %(num)s 个字符", n),
                "inputTooLong": t.ungettext("请删除 %(num)s 个字符", "请删除 %(num)s 个字符", n),
                "selectionTooBig": t.ungettext("最多只能选择 %(num)s 项",
                                               "最多只能选择 %(num)s 项", n),
                "matches": t.ungettext("找到 %(num)s 个结果，可用上下方向键选择",
                                       "找到 %(num)s 个结果，可用上下方向键选择", n)}
        one, two = plural(1), plural(2)  # the forms for 1 and for 2, the number left as {n}
        counted = {k: [one[k] % {"num": "{n}"}, two[k] % {"num": "{n}"}] for k in one}
        _WIDGET_TEXTS[language] = htmlsafe_json_dumps({
            "moment": "en" if language == "en" else "zh-cn",
            "dateRange": {"applyLabel": gettext("确定"), "cancelLabel": gettext("取消"),
                          "fromLabel": gettext("开始"), "toLabel": gettext("结束"),
                          "weekLabel": gettext("周"), "customRangeLabel": gettext("自定义")},
            "select2": {
                **counted,
                "noMatches": gettext("未找到匹配项"), "searching": gettext("搜索中…"),
                "loadMore": gettext("正在加载更多结果…"), "ajaxError": gettext("加载失败"),
                "enterValues": gettext("请输入值，以逗号分隔")},
            "toggleNavigation": gettext("展开或收起菜单"),
        })
    return _WIDGET_TEXTS[language]
