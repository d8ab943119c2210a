"""Every page a role can reach, on the demo data, answers without a server error."""
import re

import pytest

from seed import demo
from tests.conftest import DEMO_USERS

# Every page a row leads to (details, edit, and each workflow step).
ROW_LINKS = re.compile(r'href="(/admin/[a-z_]+/(?:details|edit|plan|execute|assign|handle|'
                       r'feedback|postpone|confirm)/\?[^"]+)"')


def reachable_screens(app):
    admin = app.extensions["admin"][0]
    return [view.url for view in admin._views if view.url != "/admin"]


# One account per role: 旺财 sees what 小明 sees.
@pytest.mark.parametrize("username", [u for u in DEMO_USERS if u != "wangcai"])
def test_no_page_of_the_demo_ends_in_a_server_error(app, client_for, username):
    with app.app_context():
        demo.load()
    client = client_for(username)
    visited = {}
    for screen in reachable_screens(app):
        index = client.get(f"{screen}/")
        visited[f"{screen}/"] = index.status_code
        if index.status_code != 200:
            continue
        page = index.get_data(as_text=True)
        extra = [f"{screen}/?search=北京&sort=2&desc=1", f"{screen}/export/csv/"]
        rows = list(dict.fromkeys(m.replace("&amp;", "&") for m in ROW_LINKS.findall(page)))
        for url in extra + rows[:3]:
            visited[url] = client.get(url).status_code
    errors = {url: code for url, code in visited.items() if code >= 500}
    assert not errors
    assert sum(code == 200 for code in visited.values()) >= 5  # the role did see pages


@pytest.mark.parametrize("username", ["admin", "supervisor", "xiaoming"])  # 高管: reports only
def test_every_list_labels_its_row_buttons(app, client_for, username):
    """One row-button style: labelled buttons, never Flask-Admin's bare icons."""
    with app.app_context():
        demo.load()
    client = client_for(username)
    lists = 0
    for screen in reachable_screens(app):
        page = client.get(f"{screen}/").get_data(as_text=True)
        cells = re.findall(r'<td class="list-buttons-column">(.*?)</td>', page, re.S)
        if not cells:
            continue
        lists += 1
        assert not any('class="icon"' in cell for cell in cells), screen
        assert all("crm-row-action" in cell for cell in cells), screen
    assert lists >= 2
