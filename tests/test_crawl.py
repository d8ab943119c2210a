"""A crawler per role: it clicks what the pages render and fails on what a click breaks.

Starting from the menu of /admin/ (read from the rendered navbar), it follows every
link a page renders — tabs, row buttons and per-row links of the first rows of each
table, 取消, sort and page links — and submits every rendered form with the values the
page itself carries, as a user who only presses the buttons would. A click fails
when it ends in a server error, in a 4xx, in an error message (Flask-Admin renders a
flashed "error" or "danger" as ``alert-danger``) or on the login page.

Nothing here names a screen: a new menu entry, tab, row button or form is crawled
without editing this file. The crawl is bounded (depth, first rows, a request cap)
and runs on a fresh demo database per role; POSTs that change data run too, the
destructive ones (those asking for a confirmation) last.
"""
import collections
import itertools
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest

from models.base import local_today
from seed import demo

MAX_DEPTH = 3  # menu page = 0; a page reached by a click from it = 1 …
FIRST_ROWS = 3  # rows of each table whose links and buttons are clicked
MAX_REQUESTS = 1000  # per role; the demo crawl needs about half (a test fails beyond)
FILL = "爬虫测试"  # what a user types into an empty required text field
# Query parameters that only say where to return: not part of a page's identity.
RETURN_PARAMS = {"url", "next"}
ROLES = ["admin", "supervisor", "xiaoming", "wangcai", "executive"]


# -- a small DOM over html.parser ---------------------------------------------------------------
class Node:
    __slots__ = ("tag", "attrs", "children", "parent")

    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.children, self.parent = tag, attrs, [], parent

    @property
    def classes(self):
        return self.attrs.get("class", "").split()

    def iter(self, tag=None):
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def label(self):
        return " ".join((self.text().strip() or self.attrs.get("value")
                         or self.attrs.get("title") or "").split())


class TreeBuilder(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}
    # Elements a new sibling closes implicitly (HTML's optional end tags).
    IMPLIED_END = {"option", "li", "tr", "td", "th", "p"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        if tag in self.IMPLIED_END and self.stack[-1].tag == tag:
            self.stack.pop()
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(
            Node(tag, {k: v if v is not None else "" for k, v in attrs}, self.stack[-1]))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html):
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- what a page offers to click ----------------------------------------------------------------
def _query(url):
    return {(k, v) for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
            if k not in RETURN_PARAMS}


def page_key(url, here=None):
    """A page's identity: its path and sorted query, without the return URL.

    A variant of the page ``here`` (the same path: another sort, page, size or
    search of a list) is known by what it changes, so that sorting by a column is
    tried once per list, not once per list and customer.
    """
    query = _query(url) - (_query(here) if here else set())
    return urlsplit(url).path + ("?" + urlencode(sorted(query)) if query else "")


def local(base, href):
    """``href`` resolved against ``base`` as a path on this site, or None (elsewhere, a script)."""
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", "localhost"):
        return None
    return parts.path + ("?" + parts.query if parts.query else "")


def skipped_rows(root):
    """The rows after the first FIRST_ROWS of each list: not clicked.

    A list is a table with column headers (``thead``); a table without them shows
    one record's fields, which are all read.
    """
    skipped = set()
    for table in root.iter("table"):
        if not any(_own_table(head) is table for head in table.iter("thead")):
            continue
        rows = [tr for tr in table.iter("tr") if _own_table(tr) is table
                and any(isinstance(c, Node) and c.tag == "td" for c in tr.children)]
        skipped.update(id(tr) for tr in rows[FIRST_ROWS:])
    return skipped


def _own_table(node):
    return next((a for a in node.ancestors() if a.tag == "table"), None)


def clickable(node, skipped):
    """Not in the navbar (the menu is crawled from /admin/) and not in a skipped row."""
    return not any(a.tag == "nav" or id(a) in skipped for a in node.ancestors())


def links(root, base, skipped):
    for a in root.iter("a"):
        url = local(base, a.attrs.get("href"))
        if url and clickable(a, skipped) and not urlsplit(url).path.startswith("/locale"):
            yield url, a.label()


def asks_confirmation(*nodes):
    """A button that asks before it acts (or is coloured as danger) is destructive."""
    for node in nodes:
        if node is None:
            continue
        if "danger" in node.attrs.get("class", ""):
            return True
        if any("confirm" in k or "confirm" in v.lower() for k, v in node.attrs.items()):
            return True
    return False


def field_value(node, today, search=False):
    """What a user leaves in a field, or types into an empty required one (or a search box)."""
    kind = node.attrs.get("type", "text").lower()
    value = node.attrs.get("value", "")
    if search and not value and kind in ("text", "search"):
        return FILL
    if value or "required" not in node.attrs:
        return value
    role = node.attrs.get("data-role", "")
    if kind == "date" or role == "datepicker":
        return today.isoformat()
    if kind == "datetime-local":
        return today.isoformat() + "T09:00"
    if role == "datetimepicker":
        return today.isoformat() + " 09:00:00"
    if kind == "number":
        return node.attrs.get("min") or "1"
    if kind == "email":
        return "crawler@example.com"
    if kind == "tel":
        return "13800138000"
    if kind == "url":
        return "https://example.com/"
    if kind == "password":
        return "Crawler-Pass-2024"
    text = FILL + next(_counter)
    return text[:int(node.attrs.get("maxlength") or len(text))]


_counter = (str(i) for i in itertools.count(1))


def form_data(form, today, lookup):
    """The fields a browser would send for ``form``: the page's own values, required blanks
    filled (in a GET form, a search, every blank text box).

    ``lookup(url)`` answers a related-record picker (select2-ajax) with its choices; its
    first one is picked when the page left it empty, as a user searching would.
    """
    data = []
    radios = collections.OrderedDict()
    search = form.attrs.get("method", "GET").upper() == "GET"
    for node in form.iter():
        name = node.attrs.get("name")
        if not name or "disabled" in node.attrs:
            continue
        if node.tag == "input":
            kind = node.attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                continue
            if kind == "checkbox":
                if "checked" in node.attrs:
                    data.append((name, node.attrs.get("value", "on")))
            elif kind == "radio":
                radios.setdefault(name, [])
                radios[name].append(node)
            elif node.attrs.get("data-role") == "select2-ajax" and not node.attrs.get("value"):
                choices = lookup(node.attrs.get("data-url", ""))
                data.append((name, str(choices[0][0]) if choices else ""))
            else:
                data.append((name, field_value(node, today, search)))
        elif node.tag == "textarea":
            text = re.sub(r"^\r?\n", "", node.text())  # as browsers do
            if not text and "required" in node.attrs:
                text = FILL
            data.append((name, text))
        elif node.tag == "select":
            options = list(node.iter("option"))
            chosen = [o for o in options if "selected" in o.attrs]
            if not chosen and options and "multiple" not in node.attrs:
                filled = [o for o in options if o.attrs.get("value", o.text())]
                chosen = [filled[0] if filled and "required" in node.attrs else options[0]]
            data.extend((name, o.attrs.get("value", o.text())) for o in chosen)
    for name, group in radios.items():
        checked = [r for r in group if "checked" in r.attrs]
        if not checked and any("required" in r.attrs for r in group):
            checked = group[:1]  # a choice the page asks for: the first
        data.extend((name, r.attrs.get("value", "on")) for r in checked[:1])
    return data


def submit_button(form):
    """The button a user presses: the form's first submit button."""
    for node in form.iter():
        kind = node.attrs.get("type", "submit" if node.tag == "button" else "").lower()
        if node.tag in ("button", "input") and kind == "submit":
            return node
    return None


# A link to follow, and a POST a button makes (``data``: the form, or the bulk action).
Link = collections.namedtuple("Link", "url label")
Click = collections.namedtuple("Click", "url data label source depth destructive key")


def offers(root, base, depth, today):
    """What the page ``base`` lets a user click: (links, POST clicks).

    A GET form (a search, a filter, a report's period) is a link whose query its
    fields make, as a browser does. Flask-Admin's bulk actions (选中的 → …) are
    applied to the list's first row.
    """
    skipped = skipped_rows(root)
    found = [Link(url, label) for url, label in links(root, base, skipped)]
    clicks = []
    for form in root.iter("form"):
        action = local(base, form.attrs.get("action") or base)
        button = submit_button(form)
        if (action is None or urlsplit(action).path == "/logout" or button is None
                or not clickable(form, skipped)):
            continue  # the logout, elsewhere, or only submitted by a script (the action form)
        if any(i.attrs.get("type") == "file" for i in form.iter("input")):
            continue  # an upload needs a file, which the page does not carry
        if form.attrs.get("method", "GET").upper() == "GET":
            query = urlencode(form_data(form, today, lambda url: []))
            found.append(Link(action.split("?")[0] + "?" + query, button.label()))
            continue
        hidden = sorted((i.attrs.get("name"), i.attrs.get("value", ""))
                        for i in form.iter("input") if i.attrs.get("type") == "hidden"
                        and i.attrs.get("name") not in RETURN_PARAMS | {"csrf_token"})
        clicks.append(Click(action, form, button.label(), base, depth,
                            asks_confirmation(form, button),
                            (page_key(action), tuple(hidden), button.label())))
    action_form = next((f for f in root.iter("form") if f.attrs.get("id") == "action_form"),
                       None)
    first_row = next((i for i in root.iter("input") if "action-checkbox" in i.classes), None)
    if action_form is not None and first_row is not None:
        confirmations = next((n.text() for n in root.iter("div")
                              if n.attrs.get("id") == "actions-confirmation-data"), "")
        confirmations = json.loads(confirmations or "{}")
        for node in root.iter("a"):  # 选中的 → …: its action named for static/crm.js
            name = node.attrs.get("data-crm-action")
            if name:
                clicks.append(Click(
                    local(base, action_form.attrs.get("action") or base),
                    (action_form, name, first_row.attrs.get("value")),
                    node.label(), base, depth, name in confirmations,
                    ("action", page_key(base), name)))
    return found, clicks


def final_url(response):
    """Where the (followed) redirects ended."""
    query = response.request.query_string.decode()
    return response.request.path + ("?" + query if query else "")


def _field_label(node):
    group = next((a for a in node.ancestors() if "form-group" in a.classes), None)
    label = next(group.iter("label"), None) if group else None
    return label.label() if label else "?"


# How Flask-Admin's layout renders a flashed "error" (mapped to danger) or "danger".
ERROR_FLASH = ("alert-danger", "alert-error")


def error_messages(root):
    """The error messages of a page, each with the field errors shown with it."""
    messages = [" ".join(n.text().replace("×", "").split()) for n in root.iter("div")
                if any(c in n.classes for c in ERROR_FLASH)]
    fields = [f"{_field_label(n)}: {' '.join(n.text().split())}" for n in root.iter()
              if "invalid-feedback" in n.classes and n.text().strip()]
    return [m + (f" [{'; '.join(fields)}]" if fields else "") for m in messages]


def _multi(pairs):
    """Form pairs as the test client takes them (a name may repeat: multi-selects)."""
    data = collections.defaultdict(list)
    for name, value in pairs:
        data[name].append(value)
    return dict(data)


# -- the crawl -------------------------------------------------------------------------------------
class Crawler:
    """Breadth first: every link found is followed before the next POST is made, and a
    POST whose confirmation warns that it destroys something waits until the others ran."""

    def __init__(self, client, username):
        self.client, self.username = client, username
        self.today = local_today()  # the company's day: plan items start there
        self.requests = 0
        self.problems = []
        self.seen = set()  # page keys queued
        self.submitted = set()  # click keys queued
        self.pages = collections.deque()  # (url, label, source, depth, read)
        self.clicks = []  # POSTs waiting, in the order found
        self.state = 0  # bumped by every POST: a button found before is looked up again
        self.found_at = {}  # click key → state when its page was read
        self.pressed = collections.Counter()  # (action path, button label) → POSTs made
        self.via = {}  # page key → the page whose link led there first
        self.depth_of = {}  # page key → its depth when first read
        self.cache = {}  # (url, state) → what the page offered then (see now())
        self.queued = collections.Counter()  # (action path, button label) → POSTs queued

    def request(self, method, url, data=None):
        self.requests += 1
        if method == "GET":
            return self.client.get(url, follow_redirects=True)
        return self.client.post(url, data=data, follow_redirects=True)

    def problem(self, what, url, label, source):
        self.problems.append(f"{self.username}: {what} — {url} (“{label}” on {source})")

    def check(self, response, url, label, source):
        """Record what went wrong; the final URL and tree when the answer is a page."""
        if response.status_code >= 400:
            self.problem(f"HTTP {response.status_code}", url, label, source)
            return None, None
        if response.request.path == "/login":
            self.problem("ended on the login page", url, label, source)
            return None, None
        if response.mimetype != "text/html":
            return None, None  # an export or a download: answered, nothing to read
        final, root = final_url(response), parse(response.get_data(as_text=True))
        for message in error_messages(root):
            self.problem(f"error message “{message}” on {final}", url, label, source)
        return final, root

    def read(self, final, root, depth):
        """Queue what the page offers: its links (unless too deep) and its POST buttons."""
        self.depth_of.setdefault(page_key(final), depth)
        found, clicks = offers(root, final, depth, self.today)
        if depth < MAX_DEPTH:
            for url, label in found:
                # Another sort, page, size or search of the same list is checked, not read.
                variant = urlsplit(url).path == urlsplit(final).path
                key = page_key(url, final if variant else None)
                if key not in self.seen:
                    self.seen.add(key)
                    self.via.setdefault(key, final)
                    self.pages.append((url, label, final, depth + 1, not variant))
        for click in clicks:
            # A button is pressed in the first rows of a list, not in every row that a
            # deletion moves up into them.
            button = (urlsplit(click.url).path, click.label)
            if click.key not in self.submitted and self.queued[button] < FIRST_ROWS:
                self.queued[button] += 1
                self.submitted.add(click.key)
                self.found_at[click.key] = self.state
                self.clicks.append(click)
        return found, clicks

    def visit(self, url, label, source, depth, read=True):
        final, root = self.check(self.request("GET", url), url, label, source)
        if root is not None and read:
            self.read(final, root, depth)

    def lookup(self, url):
        """A related-record picker's choices, as it offers them before anything is typed."""
        url = local("/", url)
        if not url:
            return []
        response = self.request("GET", url + ("&" if "?" in url else "?") + "query=")
        return (response.get_json(silent=True) or []) if response.status_code == 200 else []

    def now(self, url):
        """What the page ``url`` offers now, or None when it is not that page any more.

        What it offers that was not there before (the rows a POST moved up into the
        first rows) is queued too.
        """
        if (url, self.state) not in self.cache:
            response = self.request("GET", url)
            offered = None
            if (response.status_code == 200 and response.mimetype == "text/html"
                    and page_key(final_url(response)) == page_key(url)):
                offered = self.read(final_url(response), parse(response.get_data(as_text=True)),
                                    self.depth_of.get(page_key(url), MAX_DEPTH))
            self.cache[url, self.state] = offered
        return self.cache[url, self.state]

    def current(self, click):
        """The button as its page renders it now, or None if a user cannot press it any more.

        A POST since the page was read may have changed the page, or the page that
        linked to it (an archived opportunity has no 制定计划 button to reach its plan).
        """
        if self.found_at[click.key] == self.state:
            return click
        button = (urlsplit(click.url).path, click.label)
        self.queued[button] -= 1  # if it is gone, a row that moved up takes its turn
        parent = self.via.get(page_key(click.source))
        offered = self.now(parent) if parent is not None else None
        if parent is None or offered is not None and page_key(click.source) in {
                page_key(link.url) for link in offered[0]}:
            offered = self.now(click.source)
            fresh = next((c for c in offered[1] if c.key == click.key), None) if offered else None
            if fresh is not None:
                self.queued[button] += 1
                return fresh
        return None

    def priority(self, click):
        """Which waiting POST runs next (the smallest).

        What cannot be undone waits until the rest ran; a button pressed less often
        goes first, so that of 开发成功 and 终止开发 each gets its row; the deeper page
        first, so that a plan item is deleted before its opportunity is archived.
        """
        return (click.destructive, self.pressed[urlsplit(click.url).path, click.label],
                -click.depth,
                self.found_at[click.key])

    def submit(self, click):
        click = self.current(click)
        if click is None:
            return
        self.pressed[urlsplit(click.url).path, click.label] += 1
        if click.key[0] == "action":
            form, name, row = click.data
            data = [(k, v) for k, v in form_data(form, self.today, self.lookup)
                    if k not in ("action", "rowid")] + [("action", name), ("rowid", row)]
        else:
            data = form_data(click.data, self.today, self.lookup)
            button = submit_button(click.data)
            if button.attrs.get("name"):
                data.append((button.attrs["name"], button.attrs.get("value", "")))
        self.state += 1
        response = self.request("POST", click.url, data=_multi(data))
        final, root = self.check(response, f"POST {click.url}", click.label, click.source)
        if root is not None:
            # The data changed: the page the POST led to is read again.
            self.seen.add(page_key(final))
            self.read(final, root, min(click.depth + 1, MAX_DEPTH))

    def run(self, start="/admin/"):
        """Crawl from the menu of ``start``; the menu's URLs."""
        final, root = self.check(self.request("GET", start), start, "首页", "login")
        assert root is not None, self.problems
        menu = [local(final, a.attrs.get("href")) for nav in root.iter("nav")
                for a in nav.iter("a")]
        menu = [url for url in dict.fromkeys(menu)
                if url and not urlsplit(url).path.startswith("/locale")]
        for url in menu:
            self.seen.add(page_key(url))
            self.pages.append((url, "menu", start, 0, True))
        while self.requests < MAX_REQUESTS:
            if self.pages:
                self.visit(*self.pages.popleft())
            elif self.clicks:
                click = min(self.clicks, key=self.priority)
                self.clicks.remove(click)
                self.submit(click)
            else:
                break
        return menu


@pytest.mark.parametrize("username", ROLES)
def test_every_rendered_link_and_button_works(app, client_for, username):
    with app.app_context():
        demo.load()
    crawler = Crawler(client_for(username), username)
    menu = crawler.run()
    assert len(menu) >= 3, menu  # the role's menu was read
    assert crawler.requests > 2 * len(menu)  # and its pages were clicked through
    assert not crawler.problems, "\n".join(crawler.problems)
    assert not crawler.pages and not crawler.clicks, \
        f"the crawl stopped after {MAX_REQUESTS} requests: raise MAX_REQUESTS or narrow it"


def test_the_crawler_reports_what_a_click_breaks():
    """The crawler itself: on a tiny site it finds each kind of failure, and only through
    what is rendered (a broken page nothing links to goes unnoticed)."""
    from flask import Flask, flash, redirect, render_template_string, request

    site = Flask(__name__)
    site.secret_key = "crawler"
    layout = ("<nav><a href='/menu/'>menu</a><a href='/broken-menu/'>menu 2</a></nav>"
              "{% for c, m in get_flashed_messages(with_categories=true) %}"
              "<div class='alert alert-{{ 'danger' if c == 'error' else c }}'>{{ m }}</div>"
              "{% endfor %}")

    @site.route("/")
    def home():
        return render_template_string(layout)

    @site.route("/menu/")
    def menu():
        rows = "".join(f"<tr><td><a href='/row/{i}/'>row {i}</a></td></tr>" for i in range(9))
        return render_template_string(
            layout + "<a href='/missing/'>gone</a><a href='/boom/'>boom</a>"
            "<table><thead><tr><th>n</th></tr></thead>" + rows + "</table>"
            "<form method='POST' action='/save/'><input name='name' required>"
            "<button>保存</button></form>"
            "<form method='POST' action='/refuse/'><input type='hidden' name='id' value='1'>"
            "<button>拒绝</button></form>"
            # a list's 选中的 → 处理 (Flask-Admin's action form, run by static/crm.js)
            "<input type='checkbox' class='action-checkbox' name='rowid' value='7'>"
            "<a href='#' data-crm-action='handle'>处理</a>"
            "<form id='action_form' method='POST' action='/action/'>"
            "<input type='hidden' name='action'></form>")

    @site.route("/row/<int:n>/")
    def row(n):
        if n >= FIRST_ROWS:
            raise AssertionError("a row after the first rows was clicked")
        return render_template_string(layout)

    @site.route("/boom/")
    def boom():
        raise RuntimeError("boom")

    @site.route("/broken-menu/")
    def broken_menu():
        return "", 500

    hidden = []

    @site.route("/hidden/")
    def unlinked():
        hidden.append(1)  # nothing renders a link here
        return "", 500

    saved = []

    @site.route("/save/", methods=["POST"])
    def save():
        saved.append(request.form["name"])
        return redirect("/menu/")

    acted = []

    @site.route("/action/", methods=["POST"])
    def bulk_action():
        acted.append((request.form["action"], request.form["rowid"]))
        return redirect("/menu/")

    @site.route("/refuse/", methods=["POST"])
    def refuse():
        flash("不行", "error")
        return redirect("/menu/")

    crawler = Crawler(site.test_client(), "tester")
    crawler.run(start="/")
    problems = "\n".join(crawler.problems)
    assert "HTTP 404 — /missing/" in problems
    assert "HTTP 500 — /boom/" in problems
    assert "error message “不行”" in problems and "“拒绝”" in problems
    assert saved and saved[0].startswith(FILL)  # the required field was filled in
    assert acted and acted[0] == ("handle", "7")  # the bulk action, on the first row
    assert "/save/" not in problems
    assert "HTTP 500 — /broken-menu/" in problems  # the menu of the start page is crawled
    assert not hidden
    assert len(crawler.problems) == 4, problems
