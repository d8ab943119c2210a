"""No English in the Chinese UI, no Chinese in the English UI, on every main page.

Each role opens every screen it reaches (list, create, first rows' details and
edit) on the demo data, in both languages. The text a person sees — element
text, plus the attributes shown as text (title, placeholder, button values,
alt, aria-label) — is checked; data values (what users typed or imported) are
not UI texts and are taken out first. Scripts and styles are not text.
"""
import json
import re
from html.parser import HTMLParser

import pytest
from peewee import CharField, TextField

from app import LOCALES
from models import (
    ALL_MODELS,
    PERMISSIONS,
    AuditEntry,
    DictionaryEntry,
    PermissionChange,
    Role,
    StatusChange,
    User,
)
from seed import demo

# English words that are the same in the Chinese UI: file formats, a program's name, the
# letters of a 客户编号. "Toggle navigation" is Flask-Admin's label of the collapsed-menu
# button, which static/crm-locale.js translates (tests/browser/test_i18n.py checks it).
ALLOWED_ENGLISH = {"CSV", "XLSX", "Excel", "KH", "Toggle", "navigation"}
WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
ROW_LINK = re.compile(r'href="(/admin/[a-z_]+/(?:details|edit)/\?[^"]+)"')
SHOWN_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "data-original-title"}
# Codes and machinery, not texts a user typed: these columns are never "data" here.
# A status change's note is data (the feedback or handling a user typed, shown by the
# audit log); its table name is not.
NOT_DATA = {Role: None, User: {"password", "fs_uniquifier", "locale"},
            DictionaryEntry: {"category"}, StatusChange: {"entity"}, PermissionChange: None}
ROLES = ["admin", "supervisor", "xiaoming", "executive"]
# Hidden elements whose JSON Flask-Admin's scripts turn into visible texts (filters, actions).
JSON_DATA = {"filter-groups-data", "active-filters-data", "actions-confirmation-data",
             "message-data"}
MACHINERY = {"arg", "index", "type"}  # keys of a filter's JSON that are never shown


def json_texts(value, key=None, top=True):
    """The strings of Flask-Admin's filter/action JSON a user sees: the filter groups'
    names (top-level keys), each filter's operation and option labels, messages."""
    if isinstance(value, dict):
        return [t for k, v in value.items() if k not in MACHINERY
                for t in [k] * top + json_texts(v, k, False)]
    if isinstance(value, list):
        if key == "options":  # [[value, label], …]: the labels are shown
            return [str(option[1]) for option in value]
        return [t for item in value for t in json_texts(item, None, False)]
    return [value] if isinstance(value, str) else []


class _Text(HTMLParser):
    """The visible text of a page, one string per text node or shown attribute."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip, self._json = [], 0, False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        attrs = dict(attrs)
        self._json = attrs.get("id") in JSON_DATA
        for name in SHOWN_ATTRIBUTES & set(attrs):
            self.parts.append(attrs[name] or "")
        if tag == "input" and attrs.get("type") in ("submit", "button", "reset"):
            self.parts.append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if self._json:
            self.parts.extend(json_texts(json.loads(data)))
            self._json = False
        elif not self._skip:
            self.parts.append(data)


def shown_text(html):
    parser = _Text()
    parser.feed(html)
    return "\n".join(p for p in parser.parts if p.strip())


def data_values():
    """Every text users or imports put in the database, longest first."""
    values = set()
    for model in ALL_MODELS:
        skip = NOT_DATA.get(model, set())
        if model in NOT_DATA and skip is None:
            continue
        fields = [f for f in model._meta.sorted_fields
                  if isinstance(f, (CharField, TextField)) and f.name not in skip
                  and not f.name.endswith("status") and f.name != "gender"]
        for row in model.select(*fields).tuples() if fields else ():
            values.update(str(v) for v in row if v)
    # What the audit log shows of a change: the values before and after (a feedback a
    # later step replaced is in no row any more, only there)
    for changes, in AuditEntry.select(AuditEntry.changes).where(
            AuditEntry.changes.is_null(False)).tuples():
        for pair in json.loads(changes).values():
            values.update(str(v) for v in (pair if isinstance(pair, list) else [pair]) if v)
    # Each language's name in that language (the language menu), the permission codes
    # 权限分配 shows next to each permission.
    values.update(LOCALES.values())
    values.update(p.code for p in PERMISSIONS)
    return sorted(values, key=len, reverse=True)


def without(text, values):
    for value in values:
        if value in text:
            text = text.replace(value, " ")
    return text


def main_pages(app, client):
    """{url: html} of every screen this client reaches: list, create, first details/edit."""
    admin = app.extensions["admin"][0]
    pages = {}
    for view in admin._views:
        url = view.url.rstrip("/") + "/"
        response = client.get(url)
        if response.status_code != 200:
            continue
        html = response.get_data(as_text=True)
        pages[url] = html
        more = list(dict.fromkeys(m.replace("&amp;", "&") for m in ROW_LINK.findall(html)))
        kinds = {}
        for link in more:
            kind = link.split("/")[3]
            kinds.setdefault(kind, link)
        if f'href="{url}new/' in html:
            kinds["new"] = f"{url}new/"
        for link in kinds.values():
            response = client.get(link)
            if response.status_code == 200:
                pages[link] = response.get_data(as_text=True)
    return pages


def offenders(pages, pattern, values, allowed=()):
    found = {}
    for url, html in pages.items():
        words = {w for w in pattern.findall(without(shown_text(html), values))
                 if w not in allowed}
        if words:
            found[url] = sorted(words)
    return found


@pytest.fixture
def demo_data(app, users):
    with app.app_context():
        demo.load()
        return data_values()


@pytest.mark.parametrize("username", ROLES)
def test_the_chinese_ui_shows_no_english_words(app, client_for, demo_data, username):
    pages = main_pages(app, client_for(username))
    assert len(pages) >= 3
    found = offenders(pages, WORD, demo_data, ALLOWED_ENGLISH)
    assert not found, found


@pytest.mark.parametrize("username", ROLES)
def test_the_english_ui_shows_no_chinese(app, client_for, demo_data, username):
    client = client_for(username)
    client.get("/locale/en")
    pages = main_pages(app, client)
    assert len(pages) >= 3
    found = offenders(pages, CJK, demo_data)
    assert not found, found
