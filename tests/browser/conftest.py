"""Real Chromium against the real app on a real socket.

The site runs on its own event loop in a thread, so the test thread is free
for Playwright's sync API. Each test gets a fresh app (fresh store, fresh login
throttle) and fresh browser contexts; the browser itself is started once.
Every page is watched: a console error, an uncaught script error or a failed
request fails the test that caused it.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from app import make_app
from auth.clients import describe_client
from sessions import MemoryStore, SessionConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags Chromium stalls on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
COOKIE_SECRET = "browser-test-secret-not-for-production"
# Generous, for a busy CI machine; a passing step never waits this long.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


# Package scope (hence __init__.py here): until Playwright's sync API stops,
# it leaves its event loop marked as running in this thread, and the
# pytest-tornado tests that run after these need the thread to themselves.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.skip("browser tests need Chromium: install it with `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def server_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="site", daemon=True)
    thread.start()
    yield loop
    asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


@pytest.fixture
def serve(server_loop) -> Iterator[Callable[..., str]]:
    """serve(make_app, xheaders=False) serves the app make_app() returns and gives its base URL."""
    servers = []

    def on_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, server_loop).result(timeout=10)

    async def listen(sockets: list, make_app: Callable[[], Any], xheaders: bool) -> tornado.httpserver.HTTPServer:
        server = tornado.httpserver.HTTPServer(make_app(), xheaders=xheaders)
        server.add_sockets(sockets)
        return server

    def start(make_app: Callable[[], Any], xheaders: bool = False) -> str:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        servers.append(on_loop(listen(sockets, make_app, xheaders)))
        return f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    yield start

    async def stop(server: tornado.httpserver.HTTPServer) -> None:
        server.stop()
        await server.close_all_connections()

    for server in servers:
        on_loop(stop(server))


@pytest.fixture
def start_site(serve) -> Callable[..., str]:
    """start_site(xheaders=False, clock=..., ...) serves a new site with these
    session settings and returns its base URL."""

    def start(xheaders: bool = False, **config: Any) -> str:
        return serve(
            lambda: make_app(
                MemoryStore(), COOKIE_SECRET, session_config=SessionConfig(describe_client=describe_client, **config)
            ),
            xheaders,
        )

    return start


@pytest.fixture
def site(start_site) -> str:
    return start_site()


class Watcher:
    """Collects what a person would see as breakage, or a developer in the console."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.error_documents: set[str] = set()

    def watch(self, page: Page) -> None:
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.problems.append(f"script error on {page.url}: {error}"))
        page.on("requestfailed", self.on_request_failed)
        page.on("response", self.on_response)

    def on_request_failed(self, request) -> None:
        # A load that the test's next navigation cancelled (often the favicon)
        # is the browser's choice, not the site failing.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def on_response(self, response) -> None:
        if response.status < 400:
            return
        if response.request.resource_type == "document":
            self.error_documents.add(response.url)
        else:
            self.problems.append(f"{response.status} for {response.url}")

    def on_console(self, message) -> None:
        if message.type != "error":
            return
        # Chromium reports every 4xx/5xx load in the console; for a page the
        # test asked for (a 404, a 429) that is the point, not a fault.
        own_status = message.text.startswith("Failed to load resource") and message.location.get("url") in (
            self.error_documents
        )
        if not own_status:
            self.problems.append(f"console error on {message.location.get('url')}: {message.text}")


@pytest.fixture
def watcher() -> Watcher:
    return Watcher()


@pytest.fixture
def new_context(chromium, site, watcher) -> Iterator[Callable[..., BrowserContext]]:
    """A fresh browser profile (its own cookies) whose pages are all watched."""
    contexts: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        options.setdefault("base_url", site)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", watcher.watch)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()
    assert not watcher.problems, "\n".join(watcher.problems)


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


def fill_in_login(page: Page, username: str = DEMO_USER, password: str = DEMO_PASSWORD, remember: bool = False) -> None:
    """Log in as a person would: from the login form (opened if not showing)."""
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    if remember:
        page.get_by_label("Remember me").check()
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def log_in() -> Callable[..., None]:
    return fill_in_login
