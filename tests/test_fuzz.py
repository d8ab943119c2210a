"""Bad input never hurts: a fixed, seeded corpus of bad values thrown at every form,
every workflow step and every query string, on whichever database the suite runs.

Nothing here names a screen. The model screens are the admin's ``CrmModelView``s,
their create and edit forms are the ones each demo role is shown, the workflow steps
are the view methods carrying a ``step_permission`` (``@workflow_step``) reached from
the buttons and forms a list renders, the reports are the admin's ``ReportView``s with
their filter forms: a new screen, form, field, step or filter is fuzzed without
editing this file.

Each field is sent a few values of the corpus in turn (a seeded rotation: the same
values on every run), the rest of the form as the page filled it (required blanks
filled as a user would). A request fails the test when it is answered with a 5xx; when
it was refused (a 4xx, the form again, or a redirect without 保存成功) and still
changed a table the screens write; and the database must hold no invalid value
afterwards (a control character, a decimal that is not finite or beyond its column).
"""
import collections
import itertools
import random
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import pytest
from peewee import CharField, DecimalField, IntegerField, TextField

from admin_views.base import CrmModelView, ReadOnlyView
from admin_views.reports import ReportView
from models import ALL_MODELS, PermissionChange, StatusChange, UserRoles
from models.base import MAX_KEY, has_control_characters, local_today
from seed import demo
from tests.conftest import csrf_token
from tests.test_crawl import form_data, local, parse

SEED = 20261123
PER_FIELD = 3  # corpus values sent to each field of each form (rotating through the corpus)
PER_PARAM = 2  # values sent to each query-string parameter
ROWS = 2  # records whose edit form or step is fuzzed, per screen and role
ROLES = ["admin", "supervisor", "xiaoming", "executive"]  # 旺财 has 小明's role
FORM_ROLES = ["admin", "supervisor", "xiaoming"]  # 高管 only reads reports
STEP_ROLES = ["supervisor", "xiaoming"]  # who takes the demo's workflow steps

HUGE = "9" * 30
CORPUS = [
    # numbers a key, a page or an amount cannot be
    HUGE, str(MAX_KEY + 1), "-1", "-" + HUGE, "0", "1.5", "1,2", "0x10", "+5", " 7 ",
    "NaN", "sNaN", "Infinity", "-Infinity", "1e999", "1e20", "1234567890123",
    "12345678901234567.5", "0.001",
    # control characters in text
    "\x00", "a\x00b", "\x01", "名称\x1f", "\x7f", "\x85", "a\nb", "a\tb", "\r\n",
    # too long, unknown choices, empty, blanks
    "字" * 5000, "x" * 100_000, "不存在的选项", "999", "", " ", "\u3000", "\t",
    # unicode oddities
    "１２３", "²", "\u202e客户", "\ufeff", "😀" * 20, "e\u0301", "٣",
    # dates, markup and SQL-looking text
    "2026-13-45", "9999-12-31", "0001-01-01 to 9999-12-31", "<script>alert(1)</script>",
    "'; DROP TABLE customer; --", "%", "_", "\\", "=1+1",
]
# What a return URL may be sent: off-site, script, a newline, 200,000 characters.
RETURN_URLS = ["https://evil.example/", "javascript:alert(1)", "/admin/\nX-Evil: 1",
               "/admin/" + "a" * 200_000]


class Values:
    """The corpus in a seeded order, handed out in turn: each field gets the next few."""

    def __init__(self, salt):
        order = list(CORPUS)
        random.Random(f"{SEED}-{salt}").shuffle(order)
        self.cycle = itertools.cycle(order)
        self.return_urls = itertools.cycle(RETURN_URLS)

    def take(self, name, count):
        """The next ``count`` values for the field ``name`` (a return URL gets one more)."""
        values = [next(self.cycle) for _ in range(count)]
        return values + [next(self.return_urls)] if name in ("url", "next") else values


# -- what the app offers ----------------------------------------------------------------------
def admin_views(app):
    return app.extensions["admin"][0]._views


def model_views(app):
    return [v for v in admin_views(app) if isinstance(v, CrmModelView)]


def written_models(app):
    """The tables a form or a step may write: the model of every screen that is not
    read-only or has steps, and the records kept beside them (status history, role
    links, permission changes)."""
    return list(dict.fromkeys(
        [v.model for v in model_views(app) if not isinstance(v, ReadOnlyView) or step_paths(v)]
        + [StatusChange, UserRoles, PermissionChange]))


def step_paths(view):
    """The paths of a view's workflow steps (its methods carrying a ``step_permission``)."""
    methods = [getattr(type(view), name, None) for name in sorted(dir(type(view)))]
    return [view.url + m._urls[0][0] for m in methods if hasattr(m, "step_permission")]


def snapshot(models):
    """Row count and checksum of each table, as of now."""
    return {m._meta.table_name: hash(repr(m.select().order_by(m._meta.primary_key).tuples()[:]))
            for m in models}


def invalid_values():
    """Every stored value no input may leave behind."""
    found = []
    for model in ALL_MODELS:
        fields = [f for f in model._meta.sorted_fields
                  if isinstance(f, CharField | TextField | DecimalField | IntegerField)]
        for row in model.select(*fields).tuples():
            for field, value in zip(fields, row):
                if value is None:
                    continue
                if isinstance(field, CharField | TextField):  # a ListField holds a list
                    bad = any(has_control_characters(text, isinstance(field, TextField))
                              for text in (value if isinstance(value, list) else [value]))
                elif isinstance(field, DecimalField):
                    places = Decimal(1).scaleb(-field.decimal_places)
                    bad = not value.is_finite() or \
                        abs(value) >= 10 ** (field.max_digits - field.decimal_places) or \
                        value != value.quantize(places)
                else:
                    bad = not -MAX_KEY - 1 <= value <= MAX_KEY
                if bad:
                    found.append(f"{model._meta.table_name}.{field.name} = {value!r:.60}")
    return found


class Fuzzer:
    """Sends requests as one user and keeps what went wrong."""

    def __init__(self, app, client, username, salt):
        self.client, self.username = client, username
        self.values = Values(f"{username}-{salt}")
        self.models = written_models(app)
        self.problems = []
        self.requests = 0
        self.accepted = 0
        self.state = snapshot(self.models)

    def flashes(self):
        with self.client.session_transaction() as session:
            return session.pop("_flashes", [])

    def send(self, method, url, data=None, what=""):
        """One request; a 5xx is a problem, and so is a refused request that wrote
        (checked after each POST; GETs, which never write, by ``fuzz_query`` per group)."""
        self.requests += 1
        if method == "GET":
            response = self.client.get(url)
        else:
            response = self.client.post(url, data=data)
        flashed = self.flashes()
        label = f"{self.username}: {method} {url[:120]!r} {what[:160]}"
        if response.status_code >= 500:
            self.problems.append(f"HTTP {response.status_code} — {label}")
        if method == "GET":
            return response
        accepted = response.status_code in (301, 302, 303) and \
            any(category == "success" for category, _ in flashed)
        self.compare(label, accepted)
        return response

    def compare(self, label, accepted=False):
        after = snapshot(self.models)
        if after != self.state:
            if accepted:
                self.accepted += 1
            else:
                changed = sorted(t for t in after if after[t] != self.state[t])
                self.problems.append(f"refused but wrote {changed} — {label}")
        self.state = after

    def page(self, url):
        response = self.client.get(url)
        self.flashes()
        if response.status_code != 200 or response.mimetype != "text/html":
            return None
        return parse(response.get_data(as_text=True))

    def lookup(self, url):
        url = local("/", url)
        response = self.client.get(url + ("&" if "?" in url else "?") + "query=") if url else None
        return (response.get_json(silent=True) or []) if response is not None and \
            response.status_code == 200 else []

    def fuzz_form(self, action, form, skip=()):
        """Each field of ``form`` (posting to ``action``) gets PER_FIELD corpus values, the
        others what the page filled in; and once every field a bad value at once."""
        names = list(dict.fromkeys(
            n.attrs["name"] for n in form.iter() if n.attrs.get("name") and
            n.tag in ("input", "select", "textarea") and
            n.attrs.get("type") not in ("submit", "button", "file")))
        names = [n for n in names if n != "csrf_token" and n not in skip]
        token = csrf_token(self.client, "/admin/")
        today = local_today()
        for name in names:
            for value in self.values.take(name, PER_FIELD):
                data = collections.defaultdict(list)
                for key, kept in form_data(form, today, self.lookup):
                    if key != name:
                        data[key].append(kept)
                data[name] = [value]
                data["csrf_token"] = [token]
                self.send("POST", action, dict(data), f"{name}={value!r}")
        bad = {name: self.values.take(name, 1)[0] for name in names}
        self.send("POST", action, {**bad, "csrf_token": token}, f"every field bad: {bad!r}")

    def fuzz_query(self, path, params, fixed=None, count=PER_PARAM):
        """Each query parameter gets ``count`` corpus values (the others left out)."""
        for name in params:
            for value in self.values.take(name, count):
                self.send("GET", f"{path}?{urlencode({**(fixed or {}), name: value})}",
                          what=f"{name}={value!r}")
        self.compare(f"{self.username}: GET {path} {params}")


def forms_posting_to(root, base, path):
    """The POST forms of a page whose action is ``path``."""
    found = []
    for form in root.iter("form"):
        action = local(base, form.attrs.get("action") or base)
        if form.attrs.get("method", "GET").upper() == "POST" and action and \
                urlsplit(action).path == path:
            found.append((action, form))
    return found


def links_to(root, base, path):
    return list(dict.fromkeys(
        url for a in root.iter("a") if (url := local(base, a.attrs.get("href")))
        and urlsplit(url).path == path))


@pytest.fixture
def demo_data(app, users, monkeypatch):
    """The demo data, and server errors answered as 500 (not raised) so all are counted."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    with app.app_context():
        demo.load()
    assert not invalid_values()  # the demo itself is clean


def report(fuzzer, least=1):
    assert fuzzer.requests >= least, f"{fuzzer.username}: only {fuzzer.requests} requests"
    assert not fuzzer.problems, "\n".join(fuzzer.problems)
    assert not invalid_values(), invalid_values()


# -- every create and edit form ---------------------------------------------------------------
@pytest.mark.parametrize("username", FORM_ROLES)
def test_every_form_refuses_bad_values_and_writes_nothing_then(app, client_for, demo_data,
                                                              username):
    fuzzer = Fuzzer(app, client_for(username), username, "forms")
    forms = 0
    for view in model_views(app):
        index = f"{view.url}/"
        root = fuzzer.page(index)
        if root is None:
            continue
        targets = [f"{view.url}/new/"] + links_to(root, index, f"{view.url}/edit/")[:ROWS]
        for url in targets:
            page = fuzzer.page(url)
            for action, form in forms_posting_to(page, url, urlsplit(url).path) \
                    if page is not None else ():
                if "admin-form" in form.classes:
                    forms += 1
                    fuzzer.fuzz_form(action, form)
    assert forms, "no form was found"
    assert fuzzer.accepted, "no form saved: the values never got past a missing field"
    report(fuzzer)


# -- every workflow step ------------------------------------------------------------------------
@pytest.mark.parametrize("username", STEP_ROLES)
def test_every_workflow_step_refuses_bad_values_and_writes_nothing_then(app, client_for,
                                                                       demo_data, username):
    fuzzer = Fuzzer(app, client_for(username), username, "steps")
    templates = 0
    for view in model_views(app):
        index = f"{view.url}/"
        root = fuzzer.page(index)
        if root is None:
            continue
        for path in step_paths(view):
            found = forms_posting_to(root, index, path)[:ROWS]
            for link in links_to(root, index, path)[:ROWS]:
                page = fuzzer.page(link)
                found += forms_posting_to(page, link, path) if page is not None else []
            for action, form in found:
                templates += 1
                fuzzer.fuzz_form(action, form)
    assert templates >= 3, "the demo's steps were not found"
    assert fuzzer.accepted, "no step went through: the values never got past a missing field"
    report(fuzzer)


# -- every list, lookup, record path and report query string ------------------------------------
LIST_PARAMS = ["page", "page_size", "sort", "desc", "search"]
# Names no parameter of this site has, but url_for reads as its own arguments.
FOREIGN_PARAMS = ["endpoint", "_method", "_scheme", "_external", "_anchor"]


@pytest.mark.parametrize("username", ROLES)
def test_every_query_string_is_answered_without_error_or_write(app, client_for, demo_data,
                                                               username):
    fuzzer = Fuzzer(app, client_for(username), username, "queries")
    token = csrf_token(fuzzer.client, "/admin/")
    for view in model_views(app):
        index = f"{view.url}/"
        if fuzzer.page(index) is None:
            continue
        filters = [f"flt1_{key}" for key in (view._filter_args or {})]
        fuzzer.fuzz_query(index, LIST_PARAMS + filters)
        fuzzer.fuzz_query(index, FOREIGN_PARAMS, count=1)
        for path in [f"{view.url}/details/", f"{view.url}/edit/", *step_paths(view)]:
            fuzzer.fuzz_query(path, ["id", "ids", "url"], count=1)
        for name in view._form_ajax_refs or {}:
            fuzzer.fuzz_query(f"{view.url}/ajax/lookup/", ["query", "limit", "offset"],
                              {"name": name})
        for kind in view.export_types:
            fuzzer.fuzz_query(f"{view.url}/export/{kind}/", ["search"], count=1)
        for value in fuzzer.values.take("id", PER_PARAM):
            fuzzer.send("POST", f"{view.url}/delete/", {"id": value, "csrf_token": token},
                        f"delete id={value!r}")
        for action in view._actions_data:
            value = fuzzer.values.take("rowid", 1)[0]
            fuzzer.send("POST", f"{view.url}/action/",
                        {"action": action, "rowid": value, "csrf_token": token},
                        f"action {action} rowid={value!r}")
    for view in admin_views(app):
        if isinstance(view, ReportView) and fuzzer.page(f"{view.url}/") is not None:
            fuzzer.fuzz_query(f"{view.url}/", [*view.filters()._fields, "export"])
            fuzzer.fuzz_query(f"{view.url}/", FOREIGN_PARAMS, count=1)
    report(fuzzer)
