"""examples/minimal.py, tested like the site: over real HTTP in this process,
and as `python examples/minimal.py` in a process of its own (its walk in
Chromium is in tests/browser/test_minimal_example.py)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import Browser
from tornado.web import decode_signed_value

from examples.minimal import make_app
from sessions import store_key

ROOT = Path(__file__).parent.parent


@pytest.fixture
def app():
    return make_app()


@pytest.fixture
def sessions(app):
    return app.settings["session_store"]


async def log_in(browser: Browser, name: str):
    return await browser.post("/login", {"name": name})


def page(response) -> str:
    assert response.code == 200, response.code
    return response.body.decode()


@pytest.mark.gen_test
async def test_a_signed_out_visitor_is_sent_to_login_and_costs_nothing(browser, sessions):
    response = await browser.get("/dashboard")
    assert response.code == 302 and response.headers["Location"] == "/login"
    assert "Log in" in page(await browser.get("/login"))
    assert "session" not in browser.cookies and len(sessions) == 0


@pytest.mark.gen_test
async def test_the_dashboard_greets_by_name_and_counts_visits(browser):
    response = await log_in(browser, "Ada")
    assert response.code == 303 and response.headers["Location"] == "/dashboard"
    first = page(await browser.get("/dashboard"))
    assert "<h1>Hello, Ada</h1>" in first and "visited this page 1 time in" in first
    assert "visited this page 2 times" in page(await browser.get("/dashboard"))


@pytest.mark.gen_test
async def test_visits_at_once_are_all_counted(browser):
    await log_in(browser, "Ada")
    await asyncio.gather(*(browser.get("/dashboard") for _ in range(10)))
    assert "visited this page 11 times" in page(await browser.get("/dashboard"))


@pytest.mark.gen_test
async def test_login_starts_a_new_session(browser, new_browser, sessions):
    await log_in(browser, "Ada")
    await browser.get("/dashboard")
    before = browser.cookies["session"]
    await log_in(browser, "Grace")
    assert browser.cookies["session"] != before, "a new session ID at login"
    grace = page(await browser.get("/dashboard"))
    assert "Hello, Grace" in grace and "visited this page 1 time in" in grace, "nothing crosses over"
    old = new_browser()
    old.cookies = {"session": before}
    assert (await old.get("/dashboard")).code == 302, "the ID from before login is worthless"
    assert len(sessions) == 1


@pytest.mark.gen_test
async def test_logout_deletes_the_session(browser, sessions):
    await log_in(browser, "Ada")
    stolen = browser.cookies["session"]
    response = await browser.post("/logout", xsrf_from="/dashboard")
    assert response.code == 303 and response.headers["Location"] == "/login"
    assert "session" not in browser.cookies and len(sessions) == 0
    browser.cookies["session"] = stolen
    assert (await browser.get("/dashboard")).code == 302


@pytest.mark.gen_test
async def test_no_page_shows_the_session_id_or_cookie(app, browser):
    await log_in(browser, "Ada")
    cookie = browser.cookies["session"].strip('"')
    session_id = decode_signed_value(app.settings["cookie_secret"], "session", cookie, min_version=2).decode()
    for path in "/dashboard", "/login":
        shown = page(await browser.get(path))
        assert not [secret for secret in (cookie, session_id, store_key(session_id)) if secret in shown], path


@pytest.mark.gen_test
async def test_a_name_is_shown_as_text_not_html(browser):
    await log_in(browser, "<script>alert(1)</script>")
    shown = page(await browser.get("/dashboard"))
    assert "Hello, &lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>" not in shown


@pytest.mark.gen_test
async def test_a_blank_name_signs_nobody_in(browser, sessions):
    await log_in(browser, "   ")
    assert (await browser.get("/dashboard")).code == 302 and len(sessions) == 0


@pytest.mark.gen_test
async def test_forms_without_the_xsrf_token_are_refused_with_a_page_that_says_why(browser, sessions):
    for path in "/login", "/logout":
        refused = await browser.request(path, "POST", form={"name": "Ada"})
        assert refused.code == 403 and refused.headers["Content-Type"].startswith("text/html")
        shown = refused.body.decode()
        assert "Why: &#x27;_xsrf&#x27; argument missing from POST." in shown
        assert "reload the page with the form, and send it again" in shown
    assert len(sessions) == 0


@pytest.mark.gen_test
async def test_the_home_page_links_to_the_login_and_then_to_the_dashboard(browser, sessions):
    home = page(await browser.get("/"))
    assert '<a href="/login">Log in</a>' in home and len(sessions) == 0
    await log_in(browser, "Ada")
    assert 'logged in as Ada: see <a href="/dashboard">your dashboard</a>' in page(await browser.get("/"))


def test_the_example_is_as_short_as_the_docs_say():
    claimed = {
        int(n)
        for doc in ("README.md", "docs/tutorial.md")
        for n in re.findall(r"under (\d+) lines", (ROOT / doc).read_text())
    }
    assert claimed and len((ROOT / "examples" / "minimal.py").read_text().splitlines()) < min(claimed)


class Opener:
    """A client with a cookie jar that follows redirects, as a browser does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, path: str, form: dict | None = None) -> tuple[str, str]:
        """The final URL's path and the page, after redirects."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with self.opener.open(self.url + path, data, timeout=20) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()

    def submit(self, path: str, action: str, form: dict | None = None) -> tuple[str, str]:
        """Open a page and send its form, with the _xsrf field it carries."""
        _, shown = self.open(path)
        token = re.search(r'name="_xsrf" value="([^"]+)"', shown).group(1)
        return self.open(action, {**(form or {}), "_xsrf": token})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(process: subprocess.Popen, port: int) -> None:
    for _ in range(200):
        assert process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the example never listened")


@pytest.mark.parametrize("cwd", [ROOT, ROOT / "examples"], ids=["from-the-root", "from-examples"])
def test_python_examples_minimal_py_walk(cwd):
    port = free_port()
    script = Path("minimal.py") if cwd.name == "examples" else Path("examples", "minimal.py")
    process = subprocess.Popen(
        [sys.executable, str(script), f"--port={port}"], cwd=cwd, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until_listening(process, port)
        browser = Opener(f"http://127.0.0.1:{port}")
        assert '<a href="/login">' in browser.open("/")[1]
        assert browser.open("/dashboard")[0] == "/login"
        where, shown = browser.submit("/login", "/login", {"name": "Ada"})
        assert where == "/dashboard" and "Hello, Ada" in shown and "visited this page 1 time in" in shown
        assert "visited this page 2 times" in browser.open("/dashboard")[1]
        assert browser.submit("/dashboard", "/logout")[0] == "/login"
        assert browser.open("/dashboard")[0] == "/login"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
    assert "Traceback" not in errors, errors
