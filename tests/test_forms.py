"""Bad input never hurts: every create form answers garbage with the form again, writes nothing."""
import datetime
import re

import pytest

from models import (
    Activity,
    Contact,
    Customer,
    DictionaryEntry,
    Opportunity,
    PlanItem,
    Role,
    ServiceRequest,
    User,
)
from models.base import local_today
from tests.conftest import csrf_token

# (who may create, screen, model)
CREATE_FORMS = [
    ("xiaoming", "opportunity", Opportunity),
    ("xiaoming", "contact", Contact),
    ("xiaoming", "activity", Activity),
    ("xiaoming", "service_create", ServiceRequest),
    ("admin", "dictionary", DictionaryEntry),
    ("admin", "user", User),
    ("admin", "role", Role),
]
FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')
# Too long for any field; and values of the wrong type (short texts are fine for the
# all-text forms of the dictionary and roles, so those only get the long ones).
TOO_LONG = ["字" * 5000, "<script>alert(1)</script>" * 300]
WRONG_TYPE = ["-1", "abc", "2026-13-45"]
CASES = [(*form, garbage) for form in CREATE_FORMS for garbage in TOO_LONG] + \
    [(*form, garbage) for form in CREATE_FORMS if form[1] not in ("dictionary", "role")
     for garbage in WRONG_TYPE]


@pytest.mark.parametrize("username, screen, model, garbage", CASES)
def test_garbage_in_every_field_is_refused_and_writes_nothing(client_for, users, username,
                                                             screen, model, garbage):
    Customer.create(number="KH261123001", name="小明的客户", manager=users["xiaoming"])
    client = client_for(username)
    page = client.get(f"/admin/{screen}/new/").get_data(as_text=True)
    names = {n for n in FIELD.findall(page) if n not in ("csrf_token", "url")}
    assert names, f"no form on {screen}"
    before = model.select().count()
    data = dict.fromkeys(names, garbage)
    data["csrf_token"] = csrf_token(client, f"/admin/{screen}/new/")
    response = client.post(f"/admin/{screen}/new/", data=data)
    assert response.status_code == 200  # the form again, with its errors
    assert "is-invalid" in response.get_data(as_text=True) or \
        "alert-danger" in response.get_data(as_text=True)
    assert model.select().count() == before


# -- every error at once, required fields marked ------------------------------------------

def form_groups(page):
    """{field name: its rendered form group (label and input)}."""
    groups = re.findall(r'<div class="form-group[^"]*">\s*<label for="([^"]+)"(.*?)</div>', page,
                        re.S)
    return dict(groups)


def developed_customer(users):
    """A customer as 开发成功 makes him: a name and a manager, nothing else."""
    import datetime
    opportunity = Opportunity.open(by=users["supervisor"], customer_name="开发来的客户",
                                   probability=80, summary="采购", description="预算已批")
    opportunity.assign(users["xiaoming"], by=users["supervisor"])
    return opportunity.develop(by=users["xiaoming"], at=datetime.datetime(2026, 11, 23, 9))


def test_a_developed_customer_posted_empty_names_every_missing_field_at_once(app, client_for,
                                                                           users):
    customer = developed_customer(users)
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "customer")
    required = [name for name in view.form_required_columns if name != "manager"]  # not his
    client = client_for("xiaoming")
    url = f"/admin/customer/edit/?id={customer.id}"
    groups = form_groups(client.get(url).get_data(as_text=True))
    for name in required:
        assert re.search(r'<strong class="text-danger">&#42;</strong>', groups[name]), name
        assert re.search(r"<(?:input|select)[^>]*\srequired[\s>]", groups[name]), name
    data = dict.fromkeys(groups, "")
    data.update(name="开发来的客户", address="北京市海淀区", csrf_token=csrf_token(client, url))
    response = client.post(url, data=data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    groups = form_groups(page)
    missing = {name for name in required if "is-invalid" in groups[name]}
    assert missing == set(required) - {"name", "address"}  # all of them, in one answer
    for name in missing:
        assert "请填写" in groups[name], name
    assert 'value="北京市海淀区"' in groups["address"]  # what was typed is kept
    assert Customer.get_by_id(customer.id).address is None  # nothing written


# Where each form is seen: every create form, and the customer's edit form.
FORM_PAGES = [(user, f"/admin/{screen}/new/") for user, screen, _ in CREATE_FORMS] + [
    ("xiaoming", "/admin/customer/edit/?id={customer}")]


@pytest.mark.parametrize("username, url", FORM_PAGES)
def test_every_required_field_carries_the_required_mark(app, client_for, users, username, url):
    """The red * of Flask-Admin and the browser's ``required`` go together, on every field
    the form requires, the model's required fields (``form_required_columns``) included."""
    customer = developed_customer(users)
    endpoint = url.split("/")[2]
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == endpoint)
    page = client_for(username).get(url.format(customer=customer.id)).get_data(as_text=True)
    groups = form_groups(page)
    assert groups, url
    for name, group in groups.items():
        marked = '<strong class="text-danger">&#42;</strong>' in group
        required = re.search(r"<(?:input|select|textarea)[^>]*\srequired[\s>]", group)
        picker = re.search(r'<input[^>]*type="hidden"', group)  # no browser check there
        if not picker:
            assert marked == bool(required), (url, name)
        if name in view.form_required_columns:
            assert marked, (url, name)


def test_spaces_alone_do_not_fill_a_required_field(client_for, users):
    client = client_for("xiaoming")
    response = client.post("/admin/opportunity/new/", data={
        "customer_name": "   ", "probability": "50", "summary": "概要", "description": "描述",
        "csrf_token": csrf_token(client, "/admin/opportunity/new/")})
    assert response.status_code == 200
    assert "is-invalid" in form_groups(response.get_data(as_text=True))["customer_name"]
    assert not Opportunity.select().exists()


def test_the_view_shows_every_refusal_of_the_model_next_to_its_field(client_for, users,
                                                                     monkeypatch):
    """What only the model knows comes back all at once too: each refusal about a field
    next to it, the others as messages; what was typed stays, nothing is written."""
    from models.base import N_, DomainError, DomainErrors

    def refuse(contact):
        raise DomainErrors([DomainError(N_("请填写%(label)s"), field="title", label=N_("职位")),
                            DomainError(N_("性别须为男或女"), field="gender"),
                            DomainError(N_("客户编号分配繁忙，请重试"))])
    monkeypatch.setattr(Contact, "clean", refuse)
    customer = developed_customer(users)
    client = client_for("xiaoming")
    response = client.post("/admin/contact/new/", data={
        "customer": customer.id, "name": "李四", "gender": "F", "title": "采购",
        "office_phone": "010-1", "csrf_token": csrf_token(client, "/admin/contact/new/")})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    groups = form_groups(page)
    assert "is-invalid" in groups["title"] and "请填写职位" in groups["title"]
    assert "is-invalid" in groups["gender"] and "性别须为男或女" in groups["gender"]
    assert "is-invalid" not in groups["name"] and 'value="李四"' in groups["name"]
    assert "客户编号分配繁忙，请重试" in page
    assert not Contact.select().exists()


def test_a_step_form_shows_every_refusal_too(app):
    """``show_error`` (every step page, 服务创建) places each refusal of a DomainErrors."""
    from flask import get_flashed_messages
    from wtforms import Form, StringField

    from admin_views.base import show_error
    from models.base import N_, DomainError, DomainErrors

    class StepForm(Form):
        result = StringField()
        content = StringField()
    with app.test_request_context():
        form = StepForm()
        errors = DomainErrors([DomainError(N_("请填写%(label)s"), field="result", label=N_("概要")),
                               DomainError(N_("请选择客户"), field="content"),
                               DomainError(N_("请选择客户"), field="elsewhere")])
        assert show_error(form, errors) is True
        assert form.result.errors == ["请填写概要"] and form.content.errors == ["请选择客户"]
        assert get_flashed_messages() == ["请选择客户"]
        assert show_error(form, DomainError(N_("请选择客户"))) is False


def test_refusals_are_collected_and_read_as_the_first(database):
    from models.base import N_, DomainError, DomainErrors, Refusals
    refusals = Refusals()
    with refusals:
        raise DomainErrors([DomainError(N_("a"), field="one"), DomainError(N_("b"))])
    with refusals:
        pass
    refusals.add(N_("c %(n)d"), field="three", n=3)
    with pytest.raises(DomainErrors) as error:
        refusals.raise_any()
    assert [(e.field, str(e)) for e in error.value.errors] == [
        ("one", "a"), (None, "b"), ("three", "c 3")]
    assert (error.value.field, error.value.message) == ("one", "a")
    assert str(error.value) == "a；b；c 3"
    with pytest.raises(ZeroDivisionError), Refusals():
        1 / 0  # noqa: B018 — not a refusal: passes through
    Refusals().raise_any()  # nothing refused: nothing raised


def test_a_service_is_refused_with_every_wrong_field_at_once(users):
    from models.base import DomainErrors
    with pytest.raises(DomainErrors) as error:
        ServiceRequest.open(by=users["xiaoming"], service_type="算命", summary=" ",
                            customer=None, request="")
    assert [e.field for e in error.value.errors] == [
        "service_type", "summary", "customer", "request"]
    assert not ServiceRequest.select().exists()


# -- 保存成功 / 删除成功 -----------------------------------------------------------------

def flashed(client):
    return client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("english", [False, True])
def test_saving_answers_saved_and_deleting_deleted_on_every_screen(client_for, users, english):
    saved, deleted = ("Saved", "Deleted") if english else ("保存成功", "删除成功")
    customer = developed_customer(users)
    client = client_for("xiaoming")
    if english:
        client.get("/locale/en")
    token = csrf_token(client, "/admin/contact/new/")
    contact = {"customer": customer.id, "name": "李四", "gender": "F", "title": "采购",
               "office_phone": "010-1", "csrf_token": token}
    assert client.post("/admin/contact/new/", data=contact).status_code == 302
    answers = [flashed(client)]
    made = Contact.get(Contact.name == "李四")
    assert client.post(f"/admin/contact/edit/?id={made.id}",
                       data={**contact, "title": "经理"}).status_code == 302
    answers.append(flashed(client))
    assert client.post("/admin/contact/delete/",
                       data={"id": made.id, "csrf_token": token}).status_code == 302
    answers.append(flashed(client))
    for answer, expected in zip(answers, [saved, saved, deleted], strict=True):
        assert expected in answer
        for theirs in ("创建记录成功", "保存记录成功", "被成功删除", "successfully"):
            assert theirs not in answer


# -- input from requests: text, keys and amounts (models/base.py) -------------------------

CONTROLS = ["\x00", "a\x01b", "名\x1f称", "\x7f", "\x85"]


@pytest.mark.parametrize("bad", CONTROLS)
def test_a_text_holding_a_control_character_is_refused(bad):
    from models.base import DomainError, optional_text, required_text
    for check in (optional_text, required_text):
        for multiline in (False, True):
            with pytest.raises(DomainError) as refused:
                check(bad, 50, "name", "姓名", multiline=multiline)
            assert (refused.value.field, str(refused.value)) == ("name", "姓名含有不可见的控制字符")


def test_only_a_text_of_several_lines_keeps_line_breaks_and_tabs():
    from models.base import DomainError, optional_text, required_text
    assert required_text("第一行\r\n第二行\t完", 50, "detail", "详细信息",
                         multiline=True) == "第一行\r\n第二行\t完"
    for text in ("a\nb", "a\tb", "a\rb"):
        with pytest.raises(DomainError):
            optional_text(text, 50, "name", "姓名")
    # what is no control character stays: bidi marks, emoji, full-width text
    assert optional_text("\u202e客户😀１２", 50, "name", "姓名") == "\u202e客户😀１２"


def test_check_texts_lets_a_text_column_take_several_lines(users):
    from models.base import Refusals, check_texts
    activity = Activity(detail="见面\n签约", note="a\nb", place="上海", summary="拜访")
    refusals = Refusals()
    check_texts(activity, refusals, {"place": ("地点", 100)},
                {"detail": ("详细信息", 2000), "note": ("备注", 300)})
    assert [e.field for e in refusals.errors] == ["note"]
    assert activity.detail == "见面\n签约"


@pytest.mark.parametrize("key, expected", [
    ("7", 7), (" 12 ", 12), (7, 7), (str(2 ** 63 - 1), 2 ** 63 - 1),
    ("", None), (None, None), ("abc", None), ("-1", None), (-1, None), ("1.5", None),
    ("9" * 30, None), (str(2 ** 63), None), (2 ** 63, None), ("²", None), ("１２", None),
    ("٣", None), (True, None), ("7\x00", None)])
def test_a_record_key_is_a_whole_number_the_databases_store(key, expected):
    from models.base import record_key
    assert record_key(key) == expected


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity", "1e999", "1e20",
                                   "1234567890123", "0.001", "1.005", "abc", "1E-999999999"])
def test_an_amount_the_column_cannot_hold_exactly_is_refused(value):
    from models.base import DomainError, decimal_in_column
    with pytest.raises(DomainError) as refused:
        decimal_in_column(value, Customer.registered_capital, "注册资金（万元）")
    assert refused.value.field == "registered_capital"


def test_an_amount_within_the_column_is_kept_to_its_places():
    from decimal import Decimal

    from models.base import decimal_in_column
    column = Customer.registered_capital  # 14 digits, 2 of them decimals
    assert decimal_in_column("999999999999.99", column, "x") == Decimal("999999999999.99")
    assert decimal_in_column(Decimal("12.5"), column, "x") == Decimal("12.50")
    assert decimal_in_column("0E+1000", column, "x") == Decimal("0.00")
    assert decimal_in_column("  ", column, "x") is None and \
        decimal_in_column(None, column, "x") is None
    assert decimal_in_column("1" * 14, Customer.annual_revenue, "x") == Decimal("1" * 14)


def _with_customer(users):
    return Customer.create(number="KH261123001", name="小明的客户", manager=users["xiaoming"],
                           region="北京", level=1)


# (model, valid fields, the text field that gets a control character)
CLEANED = [
    (Opportunity, {"customer_name": "远景", "probability": 50, "summary": "采购",
                   "description": "预算"}, "summary"),
    (Contact, {"name": "李四", "title": "经理", "office_phone": "010-1"}, "name"),
    (Activity, {"place": "上海", "summary": "拜访", "date": datetime.date(2026, 11, 23)}, "place"),
    (DictionaryEntry, {"category": "地区", "item": "火星", "value": "火星"}, "item"),
    (Role, {"name": "审计员", "description": "只读"}, "description"),
    (User, {"username": "lisi", "full_name": "李四", "email": "a@b.cn"}, "full_name"),
]


@pytest.mark.parametrize("model, fields, text", CLEANED, ids=[m.__name__ for m, _, _ in CLEANED])
def test_every_model_taking_input_refuses_a_control_character(users, model, fields, text):
    """The model refuses what a view forgot: every ``clean()`` applies the text rule."""
    from models.base import DomainErrors
    customer = _with_customer(users)
    if "customer" in model._meta.fields:
        fields = {**fields, "customer": customer.id}
    model(**fields).clean()  # the valid record passes
    with pytest.raises(DomainErrors) as refused:
        model(**{**fields, text: "坏\x00字"}).clean()
    assert [e.field for e in refused.value.errors] == [text]


def test_the_workflow_texts_refuse_a_control_character_too(users):
    """Plan, service and churn texts are checked by their verbs, as a form's are."""
    from models import ChurnRecord
    from models.base import DomainError
    customer = _with_customer(users)
    opportunity = Opportunity.open(by=users["supervisor"], customer_name="远景", probability=5,
                                   summary="采购", description="预算")
    opportunity.assign(users["xiaoming"], by=users["supervisor"])
    today = local_today()
    item = opportunity.add_plan_item(today, "电话联系", today=today)
    service = ServiceRequest.open(by=users["xiaoming"], service_type="咨询", summary="询价",
                                  customer=customer, request="第一行\n第二行")
    service.assign(users["xiaoming"], by=users["supervisor"])
    record = ChurnRecord.create(customer=customer)
    for act in (lambda: opportunity.add_plan_item(today, "坏\x00", today=today),
                lambda: item.edit_content("坏\x01"),
                lambda: item.record_result("坏\x02"),
                lambda: service.handle("坏\x00", by=users["xiaoming"]),
                lambda: record.postpone("坏\x1f", by=users["xiaoming"]),
                lambda: record.confirm("坏\x7f", by=users["xiaoming"])):
        with pytest.raises(DomainError) as refused:
            act()
        assert refused.value.message == "%(label)s含有不可见的控制字符"
    assert (ServiceRequest.get_by_id(service.id).status, ChurnRecord.get_by_id(record.id).status,
            PlanItem.get_by_id(item.id).content) == (ServiceRequest.ASSIGNED,
                                                     ChurnRecord.WARNING, "电话联系")


@pytest.mark.parametrize("field, value", [("item", "火\x00星"), ("category", "地\x01区"),
                                          ("value", "\x7f")])
def test_a_control_character_in_a_form_is_answered_next_to_the_field(client_for, users,
                                                                    field, value):
    client = client_for("admin")
    before = DictionaryEntry.select().count()
    data = {"category": "地区", "item": "火星", "value": "火星", field: value,
            "csrf_token": csrf_token(client, "/admin/dictionary/new/")}
    response = client.post("/admin/dictionary/new/", data=data)
    assert response.status_code == 200
    group = form_groups(response.get_data(as_text=True))[field]
    assert "is-invalid" in group and "含有不可见的控制字符" in group
    assert DictionaryEntry.select().count() == before


def test_a_textarea_keeps_its_lines_and_refuses_other_control_characters(client_for, users):
    customer = _with_customer(users)
    client = client_for("xiaoming")
    token = csrf_token(client, "/admin/activity/new/")
    data = {"customer": customer.id, "date": "2026-11-23", "place": "上海", "summary": "拜访",
            "detail": "第一行\r\n第二行", "csrf_token": token}
    response = client.post("/admin/activity/new/", data={**data, "detail": "第一行\x00"})
    assert response.status_code == 200 and not Activity.select().exists()
    assert "含有不可见的控制字符" in form_groups(response.get_data(as_text=True))["detail"]
    assert client.post("/admin/activity/new/", data=data).status_code == 302
    assert Activity.get().detail == "第一行\r\n第二行"


@pytest.mark.parametrize("screen, model, data", [
    ("dictionary", DictionaryEntry, {"category": "地区", "item": "火星", "value": "火星"}),
    ("role", Role, {"name": "审计员", "description": "只读"})])
def test_every_save_runs_the_models_clean_even_where_the_view_does_not(client_for, users,
                                                                      monkeypatch, screen,
                                                                      model, data):
    """``CrmModelView`` calls ``clean()`` on every save: a screen cannot forget it."""
    from models.base import N_, DomainError

    def refuse(record):
        raise DomainError(N_("%(label)s含有不可见的控制字符"), field=next(iter(data)),
                          label=N_("类别"))
    monkeypatch.setattr(model, "clean", refuse)
    client = client_for("admin")
    before = model.select().count()
    response = client.post(f"/admin/{screen}/new/", data={
        **data, "csrf_token": csrf_token(client, f"/admin/{screen}/new/")})
    assert response.status_code == 200
    assert "含有不可见的控制字符" in form_groups(response.get_data(as_text=True))[next(iter(data))]
    assert model.select().count() == before
