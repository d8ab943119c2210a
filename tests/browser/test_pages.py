"""Every page a role reaches from its menu, in Chromium, on the demo data, in both languages.

The walk starts from the rendered navbar and follows, one and two levels down, the
tabs of each page (创建, 导入, 制定计划, …) and on lists the first row showing each
row link (查看, 编辑, 制定计划, 确认流失, 联系人, …), so a new screen is covered
without editing this file. On every page it reaches it fails on:

- a console error, a page error, a same-site request that fails or answers ≥ 400;
- a dialog nobody asked for;
- a confirmation button (``[data-confirm]`` on a button or link, or on a form whose
  submit buttons are pressed) that asks nothing, asks without naming the record
  its row (or page) shows, or sends anything once the question is dismissed —
  every one in Chinese, the first of each label per page in English;
- English words in the Chinese UI, Chinese in the English UI. UI is what a user
  reads as the panel's own words: visible text outside table cells, the menus that
  open on a click, buttons, placeholders, tooltips, option labels and the questions.
  Data is taken out first: table cells, what inputs hold, and what the database
  holds (``stored_data``: a customer's name, a username, a product model, …).

A last test gives names made of HTML and script to a customer and an opportunity
and checks that the pages showing them stay pages and the questions quote them.
"""
import datetime
import re
from collections import defaultdict, deque
from urllib.parse import urlsplit

import pytest
from peewee import CharField, Model, TextField
from playwright.sync_api import Error as PlaywrightError

from models import (
    ALL_MODELS,
    ChurnRecord,
    Customer,
    DictionaryEntry,
    Opportunity,
    PlanItem,
    Role,
    User,
)
from seed import demo
from tests.browser.test_shell import log_in
from tests.conftest import DEMO_USERS


def one_account_per_role():
    """admin, supervisor, xiaoming, executive: 旺财 sees what 小明 sees."""
    first = {}
    for username, (_, role) in DEMO_USERS.items():
        first.setdefault(role, username)
    return list(first.values())


ACCOUNTS = one_account_per_role()

MENU = "#admin-navbar-collapse .navbar-nav.mr-auto a[href]"
TABS = ".nav-tabs > li > a.nav-link[href]"  # not the dropdown items: exports, page sizes
ROW_LINKS = "table.model-list tbody td.list-buttons-column a[href]"
DEPTH = 2  # menu page → its tabs and row links → theirs

# The only English words the Chinese UI may show, and the reverse. Keep this short.
ENGLISH_IN_CHINESE = {
    "CSV", "XLSX", "Excel",  # file formats, by the names users know them by
    "English",  # the language menu names each language in its own words
}
CHINESE_IN_ENGLISH = {
    "简体中文",  # the language menu, likewise
}
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")  # "i60" and "☆" are not words; "EA03" holds one
# Han ideographs as runs; CJK and full-width punctuation (、，（）：) one by one.
CHINESE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[\u3000-\u303f\uff00-\uffef]")
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")  # what finds the data a text quotes

# What a user reads as UI, and what is data, on the current page.
TEXTS_JS = """() => {
  const ui = [], data = [];
  // Menus, dropdowns and pickers open on a click: their entries are UI before that.
  const shown = el => el.checkVisibility() || !!el.closest('.dropdown-menu');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue.trim(), el = node.parentElement;
    if (!text || el.closest('script, style, noscript, template, textarea, select')) continue;
    // data: table cells, the values of a definition list, what a page marks .crm-data
    if (el.closest('td, dd, .crm-data') && !el.closest('button, .btn')) data.push(text);
    else if (shown(el)) ui.push(text);
  }
  for (const el of document.body.querySelectorAll('[placeholder], [title], [aria-label]')) {
    if (!shown(el)) continue;
    for (const name of ['placeholder', 'title', 'aria-label']) ui.push(el.getAttribute(name));
  }
  for (const el of document.body.querySelectorAll('input, textarea')) {
    if (['submit', 'button', 'reset'].includes(el.type)) ui.push(el.value);
    else if (el.type !== 'hidden') data.push(el.value);
  }
  for (const option of document.body.querySelectorAll('select option')) ui.push(option.text);
  return {ui: ui.filter(t => t && t.trim()), data: data.filter(t => t && t.trim())};
}"""

# Marks every button or link that asks first (data-crm-press="i") and describes it.
QUESTIONS_JS = """() => {
  // data-confirm is the panel's one mechanism; inline confirm() handlers are found too,
  // so that a question asked any other way is still checked.
  const asking = '[data-confirm], [onclick*="onfirm("], form[onsubmit*="onfirm("]';
  const targets = [];
  for (const el of document.querySelectorAll(asking)) {
    const buttons = el.tagName === 'FORM'
      ? [...el.elements].filter(b => b.type === 'submit') : [el];
    for (const b of buttons) if (!targets.includes(b)) targets.push(b);
  }
  // The record a button acts on is its table row, or else the page's table cells.
  const recordOf = el => {
    const scope = el.closest('tr') || document.body;
    const texts = [...scope.querySelectorAll('td')].map(td => td.innerText);
    for (const input of scope.querySelectorAll('input, textarea'))
      if (!['hidden', 'submit', 'button', 'reset'].includes(input.type)) texts.push(input.value);
    return texts.map(t => t.trim()).filter(Boolean);
  };
  return targets.map((el, i) => {
    el.setAttribute('data-crm-press', i);
    return {label: (el.innerText || el.value || el.title || el.tagName).trim(),
            record: recordOf(el), visible: el.checkVisibility()};
  });
}"""

# The links to follow: not those that ask first (they are pressed, not followed).
LINKS_JS = """selector => [...document.querySelectorAll(selector)]
  .filter(a => !a.matches('[data-confirm], [onclick]')).map(a => a.href)"""

# Everything read on a page, in one round trip.
PAGE_JS = f"""() => {{
  const links = {LINKS_JS};
  return {{...({TEXTS_JS})(), tabs: links({TABS!r}), rows: links({ROW_LINKS!r}),
           questions: ({QUESTIONS_JS})()}};
}}"""

QUOTED = re.compile(r"[“\"](.+)[”\"]")  # greedy: a name may hold quotes itself


def names_record(question, record):
    """Whether ``question`` quotes the record by what its row (or page) shows: a word of
    the quoted name, two characters or more and not a bare number ("#34"), in a cell."""
    quoted = QUOTED.search(question)
    shown = "\n".join(record)
    return bool(quoted) and any(len(word) > 1 and not word.lstrip("#").isdigit()
                                and word in shown for word in quoted.group(1).split())


class Walk:
    """One role's walk through the panel in one language, and what it found on the way."""

    def __init__(self, page, base, every_button=True):
        self.page, self.host = page, urlsplit(base).netloc
        self.every_button = every_button  # else the first of each label on a page
        self.at = "/login"  # the page being looked at, for the report
        self.problems = defaultdict(set)  # (kind, what) → pages
        self.ui, self.data = [], defaultdict(list)  # (page, text); page → texts
        self.visited, self.asked = [], []  # pages; (page, button, question)
        self.dialogs, self.sent, self.held = [], [], []
        self.holding = False
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.problem("page error", str(error)))
        page.on("requestfailed", self.on_request_failed)
        page.on("response", self.on_response)
        page.on("dialog", self.on_dialog)

    # -- events ---------------------------------------------------------------
    def problem(self, kind, what, at=None):
        self.problems[(kind, what)].add(at or self.at)

    def relative(self, url):
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def same_site(self, url):
        return urlsplit(url).netloc == self.host

    def on_console(self, message):
        if message.type == "error":
            source = message.location.get("url") or ""
            self.problem("console error", f"{message.text} ({self.relative(source)})")

    def on_request_failed(self, request):
        if request in self.held or not self.same_site(request.url):
            return
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:  # left for the next page (or a download) before it ended
            return
        self.problem("failed request", f"{request.method} {self.relative(request.url)}: "
                                       f"{failure}")

    def on_response(self, response):
        if response.status >= 400 and self.same_site(response.url):
            self.problem("failed request", f"{response.request.method} "
                                           f"{self.relative(response.url)}: {response.status}")

    def on_dialog(self, dialog):
        self.dialogs.append((dialog.type, dialog.message))
        if not self.holding:
            self.problem("dialog nobody asked for", f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def hold(self, route, request):
        """While a question is dismissed nothing may leave the page: record and stop it."""
        if self.holding and (request.method != "GET" or request.is_navigation_request()):
            self.sent.append(f"{request.method} {self.relative(request.url)}")
            self.held.append(request)
            route.abort()
        else:
            route.continue_()

    # -- the walk -------------------------------------------------------------
    def same_site_links(self, hrefs):
        return [h for h in dict.fromkeys(hrefs) if self.same_site(h)]

    def open(self, url):
        """Load ``url``; False if it is no page (a download) or did not load."""
        self.at = self.relative(url)
        try:
            self.page.goto(url)
        except PlaywrightError as exc:
            if "Download is starting" not in str(exc):
                self.problem("failed request", f"GET {self.at}: {str(exc).splitlines()[0]}")
            return False
        return True

    def run(self):
        queue = deque((url, 0) for url in self.same_site_links(
            self.page.evaluate(f"() => ({LINKS_JS})({MENU!r})")))
        assert queue, "the menu shows no page"
        seen = set()
        while queue:
            url, depth = queue.popleft()
            path = urlsplit(url).path
            if path in seen:
                continue
            seen.add(path)
            if not self.open(url):
                continue
            self.visited.append(self.at)
            found = self.page.evaluate(PAGE_JS)
            self.ui.extend((self.at, text) for text in found["ui"])
            self.data[self.at].extend(found["data"])
            if depth < DEPTH:
                following = self.same_site_links(found["tabs"]) + self.first_of_each(found["rows"])
                queue.extend((link, depth + 1) for link in following)
            self.press_questions(url, found["questions"])
        return self

    def first_of_each(self, row_links):
        """The first row's link to each row page (a later row's if the first has none)."""
        firsts = {}
        for href in self.same_site_links(row_links):
            firsts.setdefault(urlsplit(href).path, href)
        return list(firsts.values())

    # -- confirmations ----------------------------------------------------------
    def press_questions(self, url, targets):
        labels = set()
        for i, target in enumerate(targets):
            target["index"] = i
            target["again"] = target["label"] in labels and not self.every_button
            labels.add(target["label"])
        targets = [target for target in targets if not target["again"]]
        if not targets:
            return
        self.page.route("**/*", self.hold)
        try:
            for target in targets:
                if self.sent:  # the last press left the page: back to it
                    self.sent = []
                    self.page.goto(url)
                    self.page.evaluate(QUESTIONS_JS)
                self.press(target)
        finally:
            self.page.unroute("**/*", self.hold)
        if self.sent:
            self.sent = []
            self.page.goto(url)

    def press(self, target):
        button = f"{target['label']!r} on {self.at}"
        if not target["visible"]:
            self.problem("confirmation button hidden", button)
            return
        self.dialogs = []
        self.holding = True
        try:
            self.page.click(f"[data-crm-press='{target['index']}']", timeout=3000)
        except PlaywrightError as exc:
            self.problem("confirmation button cannot be pressed",
                         f"{button}: {str(exc).splitlines()[0]}")
        finally:
            self.holding = False
        questions = [m for kind, m in self.dialogs if kind == "confirm"]
        others = [f"{kind}: {m}" for kind, m in self.dialogs if kind != "confirm"]
        if others:
            self.problem("dialog nobody asked for", f"{button}: {others}")
        if not questions:
            self.problem("confirmation button asks nothing", button)
        for question in questions:
            self.asked.append((self.at, target["label"], question))
            self.ui.append((self.at, question))
            self.data[self.at].extend(target["record"])
            if not names_record(question, target["record"]):
                self.problem("confirmation names no record of the row/page",
                             f"{button}: {question!r}")
        if self.sent:
            self.problem("sent although the question was dismissed" if questions else
                         "sent without asking", f"{button}: {self.sent}")

    # -- language ---------------------------------------------------------------
    def foreign_texts(self, language, stored):
        """{(UI text, its foreign words): pages} for the UI texts in the wrong language.

        The data a text quotes is taken out first: what the database holds (``stored``,
        see ``stored_data``) and the data of the same page (a name in a table cell,
        then in the question about that row).
        """
        words, quoted, allowed = ((ENGLISH_WORD, ENGLISH_WORD, ENGLISH_IN_CHINESE)
                                  if language == "zh" else (CHINESE, HAN, CHINESE_IN_ENGLISH))
        found, pages = defaultdict(set), {}
        for at, text in self.ui:
            if not any(w not in allowed for w in words.findall(text)):
                continue
            if at not in pages:
                pages[at] = index(self.data[at], quoted)
            rest = unquoted(text, (stored, pages[at]), quoted)
            foreign = [w for w in words.findall(rest) if w not in allowed]
            if foreign:
                text = " ".join(text.split())
                found[(text[:77] + "…" if len(text) > 80 else text,
                       " ".join(dict.fromkeys(foreign)))].add(at)
        return found

    def report(self, language, stored):
        problems = dict(self.problems)
        kind = "English in the Chinese UI" if language == "zh" else "Chinese in the English UI"
        for (text, foreign), pages in self.foreign_texts(language, stored).items():
            problems[(kind, f"{text!r} ({foreign})")] = pages
        lines = []
        for (kind, what), pages in sorted(problems.items()):
            shown = sorted(pages)
            more = f" (+{len(shown) - 4} more)" if len(shown) > 4 else ""
            lines.append(f"[{kind}] {what}\n      at {', '.join(shown[:4])}{more}")
        return lines


def index(texts, pattern):
    """{word: the texts holding it}, to find the data a UI text may quote."""
    found = defaultdict(set)
    for text in texts:
        for word in pattern.findall(text):
            found[word].add(text)
    return found


def unquoted(text, indexes, pattern):
    """``text`` without the data it quotes ("" if it is a piece of data itself)."""
    candidates = set().union(*(ix.get(word, ()) for ix in indexes
                               for word in pattern.findall(text)))
    if any(text in candidate for candidate in candidates):
        return ""
    for candidate in sorted(candidates, key=len, reverse=True):
        text = text.replace(candidate, " ")
    return text


def stored_data():
    """What the database holds that pages show as data: {language: index of texts}.

    For the Chinese UI, the names of records (``str``: a customer, a user, a product,
    …), usernames and dictionary items: the English in them (product models, customer
    numbers, usernames) is data. Stored codes are not taken, so that a status shown
    untranslated ("assigned") is caught. For the English UI, those and every text a
    record stores (notes, measures, addresses, …). Role names and dictionary
    categories are the panel's own labels, in neither.
    """
    names = {username for (username,) in User.select(User.username).tuples()}
    names.update(item for (item,) in DictionaryEntry.select(DictionaryEntry.item).tuples())
    texts = set(names)
    for model in ALL_MODELS:
        if model in (Role, DictionaryEntry):
            continue
        if model.__str__ is not Model.__str__:
            names.update(str(row) for row in model.select())
        fields = [f for f in model._meta.sorted_fields if isinstance(f, (CharField, TextField))]
        if fields:
            texts.update(value for row in model.select(*fields).tuples() for value in row
                         if value)
    return {"zh": index(names, ENGLISH_WORD), "en": index(texts | names, HAN)}


@pytest.fixture
def demo_data(app):
    """The demo data, and what of it pages show (``stored_data``)."""
    with app.app_context():
        demo.load()
        return stored_data()


def walk_as(page, live_server, username, language):
    # Every button is pressed in Chinese; in English one of each kind, for its question.
    walk = Walk(page, live_server, every_button=language == "zh")
    log_in(page, username)
    page.wait_for_url("**/admin/")
    if language == "en":  # through the language menu, as a user switches
        page.click("#crm-locale")
        with page.expect_navigation():
            page.click("#crm-locale + .dropdown-menu >> text=English")
    return walk.run()


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("username", ACCOUNTS)
def test_every_page_loads_cleanly_asks_first_and_speaks_the_users_language(
        page, live_server, demo_data, username, language):
    walk = walk_as(page, live_server, username, language)
    problems = walk.report(language, demo_data[language])
    assert len(walk.visited) > 1, walk.visited
    assert not problems, (f"{username}: {len(walk.visited)} pages, {len(walk.asked)} questions\n"
                          + "\n".join(problems))


# -- a name that is HTML and script ---------------------------------------------------
CUSTOMER = "C0 tabindex=1 autofocus onfocus=alert(900) x"
OPPORTUNITY = 'x" onclick="alert(1)'
FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]"


def questions_in(scope):
    """The buttons in ``scope`` that ask first: a form's submit button, or one of their own."""
    return ", ".join(f"{scope} {button}" for button in
                     ("form[data-confirm] [type=submit]", "button[data-confirm]",
                      "a[data-confirm]"))


def menu_link(page, label):
    link = page.locator(MENU, has_text=label)
    return link.first.get_attribute("href")


def test_names_with_html_and_script_stay_text(page, live_server, users):
    now = datetime.datetime.now().replace(microsecond=0)
    manager, supervisor = users["xiaoming"], users["supervisor"]
    customer = Customer.create_numbered(now, name=CUSTOMER, manager=manager)
    ChurnRecord.create(customer=customer, status=ChurnRecord.WARNING)
    fields = {"source": "展会", "probability": 60, "summary": "采购", "contact": "刘经理",
              "contact_phone": "13800000000", "description": "年底前"}
    Opportunity.open(by=manager, at=now, customer_name=OPPORTUNITY, **fields)
    assigned = Opportunity.open(by=supervisor, at=now, customer_name=OPPORTUNITY, **fields)
    assigned.assign(manager, by=supervisor, at=now)
    Opportunity.get_by_id(assigned.id).add_plan_item(now.date(), OPPORTUNITY, today=now.date())

    dialogs = []

    def on_dialog(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()
    page.on("dialog", on_dialog)
    log_in(page, "xiaoming")
    page.wait_for_url("**/admin/")

    def load_and_focus(url):
        """Open the page and give every focusable element the focus, as Tab would."""
        dialogs.clear()
        page.goto(url)
        page.evaluate(f"() => document.querySelectorAll({FOCUSABLE!r})"
                      ".forEach(el => el.focus())")
        assert dialogs == [], f"{url}: {dialogs}"
        handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(el =>
            [...el.attributes].filter(a => /^on/i.test(a.name) && /alert/.test(a.value))
            .map(a => el.tagName + ' ' + a.name + '=' + a.value))""")
        assert handlers == [], f"{url}: a name became an attribute: {handlers}"

    def asks(buttons, name):
        """Pressing the first of ``buttons`` asks a question holding ``name`` verbatim."""
        dialogs.clear()
        here = page.url
        buttons.first.click()
        assert [kind for kind, _ in dialogs] == ["confirm"], dialogs
        assert name in dialogs[0][1], dialogs
        assert page.url == here  # dismissed: nothing was sent

    # 客户流失管理 → 确认流失: the page itself, then its question
    load_and_focus(menu_link(page, "客户流失管理"))
    assert CUSTOMER in page.inner_text("table.model-list")
    load_and_focus(page.locator("a.crm-row-action", has_text="确认流失").first
                   .get_attribute("href"))
    assert CUSTOMER in page.inner_text("body")
    page.fill("textarea", "经营不善")
    asks(page.locator(questions_in("body")), CUSTOMER)
    assert ChurnRecord.get().status == ChurnRecord.WARNING

    # 销售机会管理: 删除 asks, naming it; 编辑 holds the name as it is
    opportunities = menu_link(page, "销售机会管理")
    load_and_focus(opportunities)
    asks(page.locator(questions_in("table.model-list")), OPPORTUNITY)
    load_and_focus(page.locator("a.crm-row-action", has_text="编辑").first.get_attribute("href"))
    assert page.input_value("#customer_name") == OPPORTUNITY

    # 客户开发计划: 开发成功 and 终止开发 ask, naming it; 制定计划's 删除 names the item
    plans = menu_link(page, "客户开发计划")
    load_and_focus(plans)
    for label in ("开发成功", "终止开发"):
        asks(page.locator(questions_in("table.model-list")).filter(has_text=label),
             OPPORTUNITY)
    load_and_focus(page.locator("a.crm-row-action", has_text="制定计划").first
                   .get_attribute("href"))
    asks(page.locator(questions_in("#crm-plan-items")), OPPORTUNITY)
    assert Opportunity.get_by_id(assigned.id).status == Opportunity.ASSIGNED
    assert Opportunity.select().count() == 2 and PlanItem.select().count() == 1
