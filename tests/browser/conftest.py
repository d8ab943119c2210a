"""A live server on a free loopback port and Debian's Chromium driven by Playwright."""
import os
import threading

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def static_cached(app):
    """The app, its static files sent with a max-age as a production web server would.

    Flask answers them "no-cache", so Chromium asks again for some twenty files on
    every page; a walk through every screen then spends most of its time on 304s.
    """
    def wsgi(environ, start_response):
        def start(status, headers, exc_info=None):
            if status.startswith("200") and "/static/" in environ.get("PATH_INFO", ""):
                headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
                headers.append(("Cache-Control", "max-age=3600"))
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return wsgi


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, static_cached(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10000)
    yield page
    context.close()
