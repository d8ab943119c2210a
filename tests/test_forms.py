"""Bad input never hurts: every create form answers garbage with the form again, writes nothing."""
import re

import pytest

from models import (
    Activity,
    Contact,
    Customer,
    DictionaryEntry,
    Opportunity,
    Role,
    ServiceRequest,
    User,
)
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
