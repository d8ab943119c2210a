"""服务管理 rules on the model, without HTTP: create, assign, handle, feed back, history."""
import datetime

import pytest

from models import Customer, DictionaryEntry, DomainError, ServiceRequest, StatusChange
from models.service import feedback_note, read_feedback
from tests.conftest import race

NOW = datetime.datetime(2026, 11, 23, 9, 30)
LATER = NOW + datetime.timedelta(hours=3)
FIELDS = {"service_type": "投诉", "summary": "电视机送货延迟",
          "request": "约定三天送达，实际延迟五天"}


@pytest.fixture
def customer(users):
    return Customer.create(number="KH261123001", name="北京星光电子", manager=users["xiaoming"])


def service(users, of, by="xiaoming", **fields):
    """A new service for customer ``of`` (``customer=`` in ``fields`` overrides it)."""
    return ServiceRequest.open(by=users[by], at=NOW, **{**FIELDS, "customer": of, **fields})


def assigned(users, customer, to="xiaoming"):
    s = service(users, customer)
    s.assign(users[to], by=users["supervisor"], at=NOW)
    return ServiceRequest.get_by_id(s.id)


def handled(users, customer, to="xiaoming", text="已上门更换"):
    s = assigned(users, customer, to)
    s.handle(text, by=users[to], at=LATER)
    return ServiceRequest.get_by_id(s.id)


def in_state(users, customer, state):
    """A service brought to ``state`` through the verbs."""
    if state == ServiceRequest.NEW:
        return service(users, customer)
    if state == ServiceRequest.ASSIGNED:
        return assigned(users, customer)
    s = handled(users, customer)
    if state == ServiceRequest.ARCHIVED:
        s.record_feedback("满意", 4, by=users["xiaoming"], at=LATER)
    return fresh(s)


def steps(s):
    return [(c.from_status, c.to_status, c.changed_by.username) for c in StatusChange.of(s)]


def fresh(s):
    return ServiceRequest.get_by_id(s.id)


# -- 服务创建 -----------------------------------------------------------------------

def test_a_new_service_is_stamped_and_recorded_and_nothing_else_can_be_forged(users, customer):
    s = fresh(service(users, customer, status=ServiceRequest.ARCHIVED,
                      created_by=users["wangcai"], assigned_to=users["wangcai"],
                      handling="伪造", satisfaction=5, created_at=datetime.datetime(2001, 1, 1)))
    assert (s.status, s.created_by_id, s.created_at) == (ServiceRequest.NEW,
                                                         users["xiaoming"].id, NOW)
    assert (s.assigned_to, s.handling, s.satisfaction) == (None, None, None)
    assert (s.service_type, s.summary, s.customer_id) == ("投诉", "电视机送货延迟", customer.id)
    assert steps(s) == [(None, "new", "xiaoming")]
    assert StatusChange.of(s).get().changed_at == NOW


def refused(field, attempt, *values):
    """``attempt(value)`` is refused for every value, naming ``field``."""
    for value in values:
        with pytest.raises(DomainError) as error:
            attempt(value)
        assert error.value.field == field, value


def test_the_service_type_is_an_item_of_the_dictionary(users, customer):
    refused("service_type", lambda value: service(users, customer, service_type=value),
            "其他", "", None, "投诉 ", 1)
    assert not ServiceRequest.select().exists() and not StatusChange.select().exists()


def test_a_type_removed_from_the_dictionary_is_no_longer_accepted(users, customer):
    DictionaryEntry.delete().where(DictionaryEntry.item == "投诉").execute()
    with pytest.raises(DomainError):
        service(users, customer, service_type="投诉")
    assert service(users, customer, service_type="咨询").service_type == "咨询"


@pytest.mark.parametrize("field", ["summary", "request"])
def test_summary_and_request_are_required(users, customer, field):
    refused(field, lambda value: service(users, customer, **{field: value}), "", "   ", None)
    assert not ServiceRequest.select().exists()


@pytest.mark.parametrize("field, limit", [("summary", 200), ("request", 2000)])
def test_summary_and_request_have_their_limits(users, customer, field, limit):
    assert service(users, customer, **{field: "字" * limit})
    with pytest.raises(DomainError) as error:
        service(users, customer, **{field: "字" * (limit + 1)})
    assert error.value.field == field
    assert ServiceRequest.select().count() == 1


def test_texts_are_stored_stripped(users, customer):
    s = service(users, customer, summary="  概要  ", request="\n请求\n")
    assert (fresh(s).summary, fresh(s).request) == ("概要", "请求")


def test_the_customer_is_required_and_must_exist(users, customer):
    refused("customer", lambda value: service(users, customer, customer=value),
            None, "", "abc", 99999, True, 1.0)
    assert not ServiceRequest.select().exists()


def test_only_a_customer_in_good_standing_gets_a_service(users, customer):
    def for_customer_in(status):
        Customer.update(status=status).where(Customer.id == customer.id).execute()
        service(users, customer)
    refused("customer", for_customer_in, Customer.LOST, Customer.DELETED)
    assert not ServiceRequest.select().exists()


def test_the_customer_may_be_given_by_id(users, customer):
    assert fresh(service(users, customer, customer=customer.id)).customer_id == customer.id


# -- 服务分配 -----------------------------------------------------------------------

def test_assigning_stamps_the_assignee_and_the_time(users, customer):
    s = service(users, customer)
    s.assign(users["wangcai"], by=users["supervisor"], at=LATER)
    s = fresh(s)
    assert (s.status, s.assigned_to_id, s.assigned_at) == (
        ServiceRequest.ASSIGNED, users["wangcai"].id, LATER)
    assert steps(s) == [(None, "new", "xiaoming"), ("new", "assigned", "supervisor")]


def test_only_an_active_account_manager_can_be_the_assignee(app, users, customer):
    from tests.conftest import make_user
    gone = make_user(app, "gone", "离职经理", ["manager"], active=False)
    s = service(users, customer)
    refused("manager", lambda who: s.assign(who, by=users["supervisor"], at=NOW),
            users["supervisor"], users["executive"], users["admin"], gone, gone.id,
            99999, "abc", None, True, float(users["xiaoming"].id))
    assert fresh(s).status == ServiceRequest.NEW and len(steps(s)) == 1
    s.assign(str(users["xiaoming"].id), by=users["supervisor"], at=NOW)  # as posted
    assert fresh(s).assigned_to_id == users["xiaoming"].id


def test_the_assignable_managers_are_the_active_account_managers(app, users):
    from tests.conftest import make_user
    make_user(app, "gone", "离职经理", ["manager"], active=False)
    assert [u.username for u in ServiceRequest.assignable_managers()] == ["wangcai", "xiaoming"]


def test_a_service_is_assigned_only_once(users, customer):
    s = service(users, customer)
    stale = fresh(s)
    s.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    with pytest.raises(DomainError) as error:
        stale.assign(users["wangcai"], by=users["supervisor"], at=LATER)
    assert error.value.field is None
    assert (fresh(s).assigned_to_id, fresh(s).assigned_at) == (users["xiaoming"].id, NOW)
    assert len(steps(s)) == 2


def test_two_supervisors_assigning_at_once_exactly_one_wins(users, customer):
    s = service(users, customer)
    managers = [users["xiaoming"], users["wangcai"]]
    outcomes = race(lambda i: ServiceRequest.get_by_id(s.id).assign(
        managers[i], by=users["supervisor"], at=NOW) or "assigned")
    assert sorted(map(type, outcomes), key=str) == sorted([str, DomainError], key=str)
    winner = managers[outcomes.index("assigned")]
    assert fresh(s).assigned_to_id == winner.id
    assert [c.to_status for c in StatusChange.of(s)] == ["new", "assigned"]


# -- 删除 -------------------------------------------------------------------------

def test_a_new_service_is_deleted_with_its_history_and_nothing_else(users, customer):
    keep = service(users, customer, summary="留下的")
    gone = service(users, customer, summary="删掉的")
    gone.delete_new()
    assert [s.summary for s in ServiceRequest.select()] == ["留下的"]
    assert StatusChange.select().count() == 1 and steps(keep)
    assert Customer.get_by_id(customer.id)


def test_an_assigned_service_cannot_be_deleted(users, customer):
    s = service(users, customer)
    stale = fresh(s)
    s.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    with pytest.raises(DomainError):
        stale.delete_new()
    assert fresh(s).status == ServiceRequest.ASSIGNED and len(steps(s)) == 2


# -- 服务处理 -----------------------------------------------------------------------

def test_handling_records_the_text_the_handler_and_the_time(users, customer):
    s = assigned(users, customer, to="wangcai")
    s.handle("  已上门更换  ", by=users["wangcai"], at=LATER)
    s = fresh(s)
    assert (s.status, s.handling, s.handled_by_id, s.handled_at) == (
        ServiceRequest.HANDLED, "已上门更换", users["wangcai"].id, LATER)
    assert s.assigned_to_id == users["wangcai"].id
    change = list(StatusChange.of(s))[-1]
    assert (change.from_status, change.to_status, change.note, change.changed_at) == (
        "assigned", "handled", "已上门更换", LATER)


def test_the_handling_text_is_required_and_limited(users, customer):
    s = assigned(users, customer)
    refused("handling", lambda text: s.handle(text, by=users["xiaoming"], at=LATER),
            "", "  ", None, "字" * 2001)
    assert fresh(s).status == ServiceRequest.ASSIGNED and fresh(s).handling is None
    s.handle("字" * 2000, by=users["xiaoming"], at=LATER)  # exactly the limit is fine


@pytest.mark.parametrize("state", ["new", "handled", "archived"])
def test_only_an_assigned_service_can_be_handled(users, customer, state):
    s = in_state(users, customer, state)
    before = (steps(s), fresh(s).handling)
    with pytest.raises(DomainError):
        fresh(s).handle("再处理", by=users["xiaoming"], at=LATER)
    assert fresh(s).status == state and (steps(s), fresh(s).handling) == before


def test_a_failing_step_leaves_nothing_behind(users, customer, monkeypatch):
    s = assigned(users, customer)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(StatusChange, "record", broken)
    with pytest.raises(RuntimeError):
        s.handle("已处理", by=users["xiaoming"], at=LATER)
    assert fresh(s).status == ServiceRequest.ASSIGNED and fresh(s).handling is None


# -- 服务反馈 -----------------------------------------------------------------------

def test_a_satisfied_feedback_archives_the_service(users, customer):
    for satisfaction in (3, 4, 5):
        s = handled(users, customer)
        s.record_feedback("  客户满意  ", satisfaction, by=users["xiaoming"], at=LATER)
        s = fresh(s)
        assert (s.status, s.result, s.satisfaction) == (ServiceRequest.ARCHIVED, "客户满意",
                                                        satisfaction)
        assert steps(s)[-1] == ("handled", "archived", "xiaoming")


@pytest.mark.parametrize("satisfaction", [1, 2])
def test_an_unsatisfied_feedback_sends_it_back_to_the_same_assignee(users, customer,
                                                                    satisfaction):
    s = handled(users, customer, to="wangcai")
    s.record_feedback("仍有问题", satisfaction, by=users["xiaoming"], at=LATER)
    s = fresh(s)
    assert (s.status, s.assigned_to_id, s.assigned_at) == (ServiceRequest.ASSIGNED,
                                                           users["wangcai"].id, NOW)
    assert (s.result, s.satisfaction) == ("仍有问题", satisfaction)  # why it came back
    assert steps(s)[-1] == ("handled", "assigned", "xiaoming")
    s.handle("第二次处理", by=users["wangcai"], at=LATER)  # and it can be handled again
    assert fresh(s).status == ServiceRequest.HANDLED


def test_the_satisfaction_is_an_integer_from_1_to_5(users, customer):
    s = handled(users, customer)
    refused("satisfaction",
            lambda value: s.record_feedback("结果", value, by=users["xiaoming"], at=LATER),
            0, 6, -1, "3", 3.0, 2.5, True, None)
    assert fresh(s).status == ServiceRequest.HANDLED and fresh(s).result is None


def test_the_result_is_required_and_limited(users, customer):
    s = handled(users, customer)
    refused("result", lambda value: s.record_feedback(value, 4, by=users["xiaoming"], at=LATER),
            "", "   ", None, "字" * 2001)
    assert fresh(s).status == ServiceRequest.HANDLED and fresh(s).result is None


@pytest.mark.parametrize("state", ["new", "assigned", "archived"])
def test_only_a_handled_service_gets_a_feedback(users, customer, state):
    s = in_state(users, customer, state)
    before = (steps(s), fresh(s).satisfaction)
    with pytest.raises(DomainError):
        fresh(s).record_feedback("又一次", 1, by=users["xiaoming"], at=LATER)
    assert fresh(s).status == state and (steps(s), fresh(s).satisfaction) == before


def test_two_feedbacks_at_once_exactly_one_counts(users, customer):
    s = handled(users, customer)
    outcomes = race(lambda i: ServiceRequest.get_by_id(s.id).record_feedback(
        "结果", [1, 5][i], by=users["xiaoming"], at=LATER) or "recorded")
    assert outcomes.count("recorded") == 1
    assert [c.from_status for c in StatusChange.of(s)].count("handled") == 1


# -- the history of every round -----------------------------------------------------

def test_the_history_keeps_every_handling_and_every_feedback(users, customer):
    s = handled(users, customer, to="wangcai", text="第一次：电话指导")
    s.record_feedback("问题没解决", 2, by=users["xiaoming"], at=LATER)
    s = fresh(s)
    assert (s.handling, s.result, s.satisfaction) == ("第一次：电话指导", "问题没解决", 2)
    s.handle("第二次：上门更换", by=users["wangcai"], at=LATER + datetime.timedelta(hours=1))
    s = fresh(s)
    # waiting for a new feedback: the row no longer shows the previous one
    assert (s.handling, s.result, s.satisfaction) == ("第二次：上门更换", None, None)
    s.record_feedback("已解决", 5, by=users["xiaoming"], at=LATER + datetime.timedelta(hours=2))
    history = [(h.to_status, h.kind, h.text, h.satisfaction) for h in fresh(s).history()]
    assert history == [
        ("new", None, None, None),
        ("assigned", None, None, None),
        ("handled", "handling", "第一次：电话指导", None),
        ("assigned", "feedback", "问题没解决", 2),
        ("handled", "handling", "第二次：上门更换", None),
        ("archived", "feedback", "已解决", 5),
    ]
    assert [h.changed_by.username for h in fresh(s).history()] == [
        "xiaoming", "supervisor", "wangcai", "xiaoming", "wangcai", "xiaoming"]


def test_a_feedback_note_reads_back_and_other_notes_stay_as_they_are():
    assert read_feedback(feedback_note("多行\n结果 带空格", 3)) == (3, "多行\n结果 带空格")
    assert read_feedback("随便写的 备注") == (None, "随便写的 备注")
    assert read_feedback("☆☆☆☆☆☆ 六颗星") == (None, "☆☆☆☆☆☆ 六颗星")


# -- who "own" is -------------------------------------------------------------------

def test_own_services_are_created_or_assigned_and_handling_is_the_assignees(users, customer):
    created = service(users, customer, by="xiaoming", summary="小明建的")
    to_him = service(users, customer, by="wangcai", summary="派给小明的")
    to_him.assign(users["xiaoming"], by=users["supervisor"], at=NOW)
    service(users, customer, by="wangcai", summary="旺财的")
    mine = ServiceRequest.select().where(ServiceRequest.owned_by(users["xiaoming"]))
    assert sorted(s.summary for s in mine) == sorted([created.summary, to_him.summary])
    handling = ServiceRequest.select().where(ServiceRequest.assigned_to_user(users["xiaoming"]))
    assert [s.summary for s in handling] == ["派给小明的"]
