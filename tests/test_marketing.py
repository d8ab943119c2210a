"""营销管理 rules on the models, without HTTP: opportunities, assignment, plans, development."""
import datetime

import pytest

from models import Contact, Customer, DomainError, Opportunity, PlanItem, StatusChange
from tests.conftest import race

NOW = datetime.datetime(2026, 11, 23, 9, 30)
TODAY = NOW.date()
FIELDS = {"source": "展会", "customer_name": "北京星光电子", "probability": 60,
          "summary": "采购 200 台电视机", "contact": "刘经理", "contact_phone": "13800000000",
          "description": "客户计划年底前更换会议室设备"}


def opportunity(users, by="xiaoming", **fields):
    return Opportunity.open(by=users[by], at=NOW, **{**FIELDS, **fields})


def assigned(users, to="xiaoming", **fields):
    o = opportunity(users, by="supervisor", **fields)
    o.assign(users[to], by=users["supervisor"], at=NOW)
    return Opportunity.get_by_id(o.id)


def history(o):
    return [(c.from_status, c.to_status, c.changed_by.username) for c in StatusChange.of(o)]


# -- creating -------------------------------------------------------------------

def test_a_new_opportunity_is_unassigned_stamped_and_recorded(users):
    o = opportunity(users, status=Opportunity.DEVELOPED, assigned_to=users["wangcai"],
                    created_by=users["wangcai"])
    o = Opportunity.get_by_id(o.id)
    assert o.status == Opportunity.NEW
    assert o.created_by_id == users["xiaoming"].id and o.created_at == NOW
    assert o.assigned_to is None and o.assigned_at is None
    assert history(o) == [(None, "new", "xiaoming")]


@pytest.mark.parametrize("probability", [-1, 101, "abc", None, 50.5, True])
def test_the_probability_is_an_integer_from_0_to_100(users, probability):
    with pytest.raises(DomainError) as error:
        opportunity(users, probability=probability)
    assert error.value.field == "probability"
    assert not Opportunity.select().exists()


@pytest.mark.parametrize("probability", [0, 100])
def test_the_probability_bounds_are_accepted(users, probability):
    assert opportunity(users, probability=probability).probability == probability


@pytest.mark.parametrize("field", ["customer_name", "summary", "description"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_required_fields_are_required(users, field, value):
    with pytest.raises(DomainError) as error:
        opportunity(users, **{field: value})
    assert error.value.field == field
    assert not Opportunity.select().exists()


@pytest.mark.parametrize("field, limit", [("source", 50), ("customer_name", 100),
                                          ("summary", 200), ("contact", 50),
                                          ("contact_phone", 50), ("description", 2000)])
def test_texts_over_their_limit_are_refused(users, field, limit):
    assert opportunity(users, **{field: "字" * limit})  # exactly the limit is fine
    with pytest.raises(DomainError) as error:
        opportunity(users, **{field: "字" * (limit + 1)})
    assert error.value.field == field


def test_every_wrong_field_is_refused_at_once(users):
    from models.base import DomainErrors
    with pytest.raises(DomainErrors) as error:
        opportunity(users, customer_name=" ", summary=None, description="字" * 2001,
                    source="字" * 51, probability=101)
    assert [e.field for e in error.value.errors] == [
        "source", "customer_name", "summary", "description", "probability"]
    assert not Opportunity.select().exists()


def test_optional_texts_left_blank_are_stored_as_null(users):
    o = opportunity(users, source="  ", contact="", contact_phone=None)
    assert (o.source, o.contact, o.contact_phone) == (None, None, None)


# -- editing and deleting -------------------------------------------------------

def test_only_an_unassigned_opportunity_can_be_edited(users):
    o = opportunity(users)
    o.summary = "改为 300 台"
    o.save_unassigned(["summary"])
    assert Opportunity.get_by_id(o.id).summary == "改为 300 台"
    stale = Opportunity.get_by_id(o.id)  # read before the assignment below
    o.assign(users["wangcai"], by=users["supervisor"], at=NOW)
    stale.summary = "被改了"
    with pytest.raises(DomainError):
        stale.save_unassigned(["summary", "status", "assigned_to"])
    saved = Opportunity.get_by_id(o.id)
    assert (saved.summary, saved.status, saved.assigned_to_id) == (
        "改为 300 台", Opportunity.ASSIGNED, users["wangcai"].id)


def test_an_edit_is_checked_like_a_new_opportunity(users):
    o = opportunity(users)
    o.probability = 101
    with pytest.raises(DomainError) as error:
        o.save_unassigned(["probability"])
    assert error.value.field == "probability"
    assert Opportunity.get_by_id(o.id).probability == 60


def test_an_unassigned_opportunity_is_deleted_and_nothing_else(users):
    keep = opportunity(users, customer_name="留下的")
    customer = Customer.create_numbered(NOW, name="已有客户", manager=users["xiaoming"])
    gone = opportunity(users, customer_name="删掉的")
    gone.delete_unassigned()
    assert [o.customer_name for o in Opportunity.select()] == ["留下的"]
    assert Customer.get_by_id(customer.id) and history(keep)


def test_an_assigned_opportunity_cannot_be_deleted(users):
    o = assigned(users)
    stale = Opportunity.get_by_id(o.id)
    with pytest.raises(DomainError):
        stale.delete_unassigned()
    assert Opportunity.get_by_id(o.id).status == Opportunity.ASSIGNED


# -- 指派 -------------------------------------------------------------------------

def test_assigning_stamps_the_time_and_the_assignee(users):
    o = opportunity(users)
    later = NOW + datetime.timedelta(hours=2)
    o.assign(users["wangcai"], by=users["supervisor"], at=later)
    o = Opportunity.get_by_id(o.id)
    assert (o.status, o.assigned_to_id, o.assigned_at) == (
        Opportunity.ASSIGNED, users["wangcai"].id, later)
    assert history(o) == [(None, "new", "xiaoming"), ("new", "assigned", "supervisor")]


@pytest.mark.parametrize("who", ["supervisor", "executive", "admin", "gone", 99999, "abc"])
def test_only_an_active_account_manager_can_be_the_assignee(app, users, who):
    from tests.conftest import make_user
    make_user(app, "gone", "离职经理", ["manager"], active=False)
    from models import User
    assignee = User.get(User.username == who) if who in ("supervisor", "executive", "admin",
                                                         "gone") else who
    o = opportunity(users)
    with pytest.raises(DomainError) as error:
        o.assign(assignee, by=users["supervisor"], at=NOW)
    assert error.value.field == "manager"
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW


def test_the_assignable_managers_are_the_active_account_managers(app, users):
    from tests.conftest import make_user
    make_user(app, "gone", "离职经理", ["manager"], active=False)
    assert [u.username for u in Opportunity.assignable_managers()] == ["wangcai", "xiaoming"]


def test_an_opportunity_is_assigned_only_once(users):
    o = opportunity(users)
    o.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    with pytest.raises(DomainError):
        Opportunity.get_by_id(o.id).assign(users["wangcai"], by=users["supervisor"], at=NOW)
    assert Opportunity.get_by_id(o.id).assigned_to_id == users["xiaoming"].id
    assert len(history(o)) == 2


def test_two_supervisors_assigning_at_once_exactly_one_wins(users):
    o = opportunity(users)
    managers = [users["xiaoming"], users["wangcai"]]
    outcomes = race(lambda i: Opportunity.get_by_id(o.id).assign(
        managers[i], by=users["supervisor"], at=NOW) or "assigned")
    assert sorted(map(type, outcomes), key=str) == sorted([str, DomainError], key=str)
    winner = managers[outcomes.index("assigned")]
    assert Opportunity.get_by_id(o.id).assigned_to_id == winner.id
    assert [c.to_status for c in StatusChange.of(o)] == ["new", "assigned"]


# -- 制定计划 / 执行计划 -------------------------------------------------------------

def test_plan_items_need_a_date_from_today_and_a_text(users):
    o = assigned(users)
    item = o.add_plan_item(TODAY, "  电话回访  ", today=TODAY)
    assert (item.date, item.content, item.result) == (TODAY, "电话回访", None)
    for date, content, field in [(TODAY - datetime.timedelta(days=1), "上门", "date"),
                                 (None, "上门", "date"), (TODAY, "", "content"),
                                 (TODAY, "字" * 501, "content")]:
        with pytest.raises(DomainError) as error:
            o.add_plan_item(date, content, today=TODAY)
        assert error.value.field == field
    assert PlanItem.select().count() == 1


@pytest.mark.parametrize("status", [Opportunity.NEW, Opportunity.DEVELOPED, Opportunity.FAILED])
def test_only_an_opportunity_in_development_can_be_planned(users, status):
    o = assigned(users)
    item = o.add_plan_item(TODAY, "拜访", today=TODAY)
    Opportunity.update(status=status).where(Opportunity.id == o.id).execute()
    for attempt in (lambda: o.add_plan_item(TODAY, "再拜访", today=TODAY),
                    lambda: item.edit_content("改"), lambda: item.record_result("成"),
                    lambda: PlanItem.get_by_id(item.id).remove()):
        with pytest.raises(DomainError):
            attempt()
    assert [(i.content, i.result) for i in PlanItem.select()] == [("拜访", None)]


def test_an_items_text_changes_but_never_its_date(users):
    o = assigned(users)
    item = o.add_plan_item(TODAY + datetime.timedelta(days=3), "拜访", today=TODAY)
    item.date = TODAY + datetime.timedelta(days=9)  # ignored: only the text is saved
    item.edit_content("带样机拜访")
    saved = PlanItem.get_by_id(item.id)
    assert (saved.content, saved.date) == ("带样机拜访", TODAY + datetime.timedelta(days=3))
    with pytest.raises(DomainError):
        saved.edit_content(" ")


def test_only_an_item_without_a_result_can_be_deleted(users):
    o = assigned(users)
    done = o.add_plan_item(TODAY, "拜访", today=TODAY)
    todo = o.add_plan_item(TODAY, "报价", today=TODAY)
    done.record_result("客户有意向")
    with pytest.raises(DomainError):
        PlanItem.get_by_id(done.id).remove()
    PlanItem.get_by_id(todo.id).remove()
    assert [i.content for i in PlanItem.select()] == ["拜访"]


def test_each_result_is_saved_on_its_own_and_is_required(users):
    o = assigned(users)
    first = o.add_plan_item(TODAY, "拜访", today=TODAY)
    second = o.add_plan_item(TODAY, "报价", today=TODAY)
    first.record_result("客户有意向")
    with pytest.raises(DomainError):
        second.record_result("   ")
    assert [(i.content, i.result) for i in PlanItem.of(o)] == [("拜访", "客户有意向"),
                                                              ("报价", None)]


# -- 开发成功 / 终止开发 ----------------------------------------------------------

def test_developing_creates_the_customer_and_his_contact_in_one_go(users):
    o = assigned(users, to="wangcai")
    customer = o.develop(by=users["wangcai"], at=NOW)
    o = Opportunity.get_by_id(o.id)
    assert o.status == Opportunity.DEVELOPED and o.customer_id == customer.id
    customer = Customer.get_by_id(customer.id)
    assert (customer.name, customer.manager_id, customer.status, customer.number) == (
        "北京星光电子", users["wangcai"].id, Customer.ACTIVE, "KH261123001")
    assert [(c.name, c.office_phone) for c in customer.contacts] == [("刘经理", "13800000000")]
    assert history(o)[-1] == ("assigned", "developed", "wangcai")


def test_without_a_contact_person_no_contact_is_created(users):
    customer = assigned(users, contact=None).develop(by=users["xiaoming"], at=NOW)
    assert customer.contacts.count() == 0


def test_developing_twice_or_after_stopping_is_refused_and_makes_no_second_customer(users):
    o = assigned(users)
    o.develop(by=users["xiaoming"], at=NOW)
    with pytest.raises(DomainError):
        Opportunity.get_by_id(o.id).develop(by=users["xiaoming"], at=NOW)
    stopped = assigned(users, customer_name="另一家")
    stopped.stop(by=users["xiaoming"], at=NOW)
    with pytest.raises(DomainError):
        Opportunity.get_by_id(stopped.id).develop(by=users["xiaoming"], at=NOW)
    with pytest.raises(DomainError):
        Opportunity.get_by_id(stopped.id).stop(by=users["xiaoming"], at=NOW)
    assert Customer.select().count() == 1
    assert Opportunity.get_by_id(stopped.id).status == Opportunity.FAILED


def test_an_unassigned_opportunity_can_be_neither_developed_nor_stopped(users):
    o = opportunity(users)
    for step in (o.develop, o.stop):
        with pytest.raises(DomainError):
            step(by=users["supervisor"], at=NOW)
    assert Opportunity.get_by_id(o.id).status == Opportunity.NEW


def test_developing_is_all_or_nothing(users, monkeypatch):
    o = assigned(users)

    def broken(**fields):
        raise RuntimeError("disk full")
    monkeypatch.setattr(Contact, "create", broken)
    with pytest.raises(RuntimeError):
        o.develop(by=users["xiaoming"], at=NOW)
    assert Opportunity.get_by_id(o.id).status == Opportunity.ASSIGNED
    assert Customer.select().count() == 0
    assert history(o)[-1][1] == "assigned"


def test_customer_numbers_follow_the_day_and_its_sequence(users):
    def develop(name, at):
        return assigned(users, customer_name=name).develop(by=users["xiaoming"], at=at).number
    assert develop("甲", NOW) == "KH261123001"
    assert develop("乙", NOW) == "KH261123002"
    assert develop("丙", NOW + datetime.timedelta(days=1)) == "KH261124001"
    assert develop("丁", NOW) == "KH261123003"


def test_two_developments_in_the_same_second_get_two_numbers(users):
    ops = [assigned(users, customer_name=f"同时{i}") for i in range(2)]
    outcomes = race(lambda i: Opportunity.get_by_id(ops[i].id).develop(
        by=users["xiaoming"], at=NOW).number)
    assert sorted(outcomes) == ["KH261123001", "KH261123002"]
    assert Customer.select().count() == 2


def test_the_daily_sequence_has_three_digits(users):
    Customer.create(number="KH261123999", name="满", manager=users["xiaoming"], created_at=NOW)
    with pytest.raises(DomainError):
        Customer.next_number(TODAY)
