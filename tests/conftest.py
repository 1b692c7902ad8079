"""Shared fixtures: the real app on a real socket, a clock the tests move,
and a cookie jar, so each test reads like a browser visit."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
import urllib.parse
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis_server
from mongo_wire_server import WireServer
from tornado.httpclient import HTTPResponse
from tornado.httputil import HTTPHeaders

from app import make_app
from auth.clients import describe_client
from sessions import MemoryStore, SessionConfig

# The package's own test helpers: the signed_in fixture.
pytest_plugins = ["sessions.testing"]

COOKIE_SECRET = "test-secret-not-for-production-use"  # 32 bytes or more: no warning
IN_CI = os.environ.get("CI") == "true"
MONGODB_URL = os.environ.get("MONGODB_URL")
# Where test clocks start: 08:00 UTC, a year after today. A real MongoDB
# server's TTL index deletes what has expired by the real clock, so a fixed
# date would delete test records mid-test once that date had passed.
TEST_NOW = float((int(time.time()) // 86400 + 365) * 86400 + 8 * 3600)


class FakeClock:
    def __init__(self, now: float = TEST_NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, delta: timedelta | float) -> None:
        self.now += delta.total_seconds() if isinstance(delta, timedelta) else delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


_shared_wire_server: WireServer | None = None


def shared_wire_server() -> WireServer:
    """nx-27017, a MongoDB wire-protocol server (tests/mongo_wire_server.py),
    started on first use and stopped when the run ends: the real drivers
    over a real socket."""
    global _shared_wire_server
    if _shared_wire_server is None:
        _shared_wire_server = WireServer(Path(tempfile.mkdtemp(prefix="nx-27017-"))).start()
    return _shared_wire_server


@pytest.fixture(scope="session")
def wire_server() -> WireServer:
    """The shared nx-27017. A test that turns its failCommand fail point on
    (the fail_point fixture) has it turned off again afterwards."""
    return shared_wire_server()


@pytest.fixture
def stoppable_wire_server(tmp_path):
    """A wire server of the test's own, to stop, start and wipe."""
    server = WireServer(tmp_path / "mongodb").start()
    yield server
    server.stop()


@pytest.fixture
def real_mongodb_url(request) -> str:
    """The server at MONGODB_URL (a real mongod, or CI's nx-27017), else the tests' own nx-27017."""
    return MONGODB_URL or request.getfixturevalue("wire_server").url()


def fresh_database(url: str, io_loop, driver: str = "pymongo", **driver_options):
    """A database of its own at `url`, through the site's client settings
    (made inside the running event loop); dropped and closed afterwards."""
    from serving.storage import open_client

    client = open_client(url, timeout=5, driver=driver, **driver_options)
    database = client[f"test_{uuid.uuid4().hex}"]
    yield database

    async def drop_and_close():
        await client.drop_database(database.name)
        closing = client.close()
        if closing is not None:  # PyMongo's close() is a coroutine, Motor's is not
            await closing

    io_loop.run_sync(drop_and_close)


@pytest.fixture
def wire_database(wire_server, io_loop):
    """A database of its own on the tests' nx-27017, through PyMongo's AsyncMongoClient."""
    yield from fresh_database(wire_server.url(), io_loop)


@pytest.fixture
def fail_point(wire_server):
    """wire_server.fail: mongod's failCommand fail point, turned off after the test."""
    yield wire_server.fail
    wire_server.fail([], "off")


@pytest.fixture
def shared_database(wire_database):
    """One MongoDB database (on nx-27017) for tests that run two servers on it."""
    return wire_database


@pytest.fixture
def session_config(clock: FakeClock) -> SessionConfig:
    return SessionConfig(clock=clock, describe_client=describe_client)


@pytest.fixture
def login_failures():
    """None: the app keeps them beside its session store."""
    return None


@pytest.fixture
def app(store, session_config, login_failures):
    return make_app(store, COOKIE_SECRET, session_config=session_config, login_failures=login_failures)


class PausableStore:
    """Any store, whose next update waits until the test lets it go (set
    ``hold`` to an Event, then set it), so that a request can be caught
    between loading its session and saving it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.hold: asyncio.Event | None = None
        self.update_waiting = asyncio.Event()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    async def update(self, key, changes):
        if self.hold is not None:
            hold, self.hold = self.hold, None
            self.update_waiting.set()
            await hold.wait()
        return await self.inner.update(key, changes)


class Browser:
    """Just enough of a browser: a cookie jar, the _xsrf form field, no
    automatic redirects (tests look at them)."""

    def __init__(self, http_client, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}

    async def request(
        self, path: str, method: str = "GET", form: dict | None = None, headers: dict | None = None, **kwargs
    ) -> HTTPResponse:
        all_headers = HTTPHeaders(headers or {})
        if self.cookies and "Cookie" not in all_headers:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = kwargs.pop("body", None)  # raw bytes or text, for malformed requests
        if form is not None:
            body = urllib.parse.urlencode(form)
        elif method == "POST" and body is None:
            body = ""
        response = await self.http_client.fetch(
            self.base_url + path,
            method=method,
            body=body,
            headers=all_headers,
            follow_redirects=False,
            raise_error=False,
            **kwargs,
        )
        self.remember_cookies(response)
        return response

    def remember_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value in ('""', ""):  # how Tornado's clear_cookie() deletes
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def hold(self, cookie_header: str) -> None:
        """Keep the cookie of a Cookie header ("name=value"), as if it had been set."""
        name, _, value = cookie_header.partition("=")
        self.cookies[name] = value

    async def get(self, path: str, **kwargs) -> HTTPResponse:
        return await self.request(path, **kwargs)

    async def xsrf(self, path: str = "/login") -> str:
        """Visit a page with a form and read its _xsrf field, as a browser would."""
        response = await self.get(path)
        match = re.search(r'name="_xsrf" value="([^"]+)"', response.body.decode())
        assert match, f"no _xsrf field on {path}"
        return match.group(1)

    async def post(self, path: str, form: dict | None = None, xsrf_from: str = "/login", **kwargs) -> HTTPResponse:
        form = dict(form or {})
        form.setdefault("_xsrf", await self.xsrf(xsrf_from))
        return await self.request(path, method="POST", form=form, **kwargs)

    async def login(self, username: str = "demo", password: str = "demo-password", **extra) -> HTTPResponse:
        return await self.post("/login", {"username": username, "password": password, **extra})

    async def logout(self) -> HTTPResponse:
        return await self.post("/logout", xsrf_from="/dashboard")


@pytest.fixture
def browser(http_client, base_url) -> Browser:
    return Browser(http_client, base_url)


@pytest.fixture
def new_browser(http_client, base_url):
    return lambda: Browser(http_client, base_url)


def pytest_report_header(config):
    if MONGODB_URL:
        real_server = f"and at MONGODB_URL {describe_server(MONGODB_URL)}, through PyMongo's AsyncMongoClient and Motor"
    else:
        real_server = "and no MONGODB_URL: the at-MONGODB_URL variants did not run"
    redis = "RedisStore on a real redis-server" if Path(redis_server.REDIS_SERVER).exists() else "no redis-server"
    return (
        "session stores tested: MemoryStore, MongoStore on nx-27017 started by the tests (a MongoDB wire-protocol "
        "server on SQLite with our fixes, not mongod) through PyMongo's AsyncMongoClient and Motor, "
        f"{real_server}; {redis}"
    )


def describe_server(url: str) -> str:
    import pymongo

    from serving.storage import describe_hosts

    with pymongo.MongoClient(url, serverSelectionTimeoutMS=3000) as client:
        try:
            info = client.admin.command("buildInfo")
        except pymongo.errors.PyMongoError as e:
            return f"({describe_hosts(client)}: not answering, {type(e).__name__})"
        # nx-27017 answers as MongoDB 7.0.0 and names itself as the process.
        server = "nx-27017" if info.get("process") == "nx_27017" else "MongoDB"
        return f"({describe_hosts(client)}: {server}, version {info.get('version')})"


# What `pytest -m "not slow"` leaves out for a quick run: a real browser,
# real `python app.py` processes, MongoDB stopped and started again, and building the wheel.
SLOW = (
    "browser/",
    "test_processes.py",
    "test_redis_processes.py",
    "test_command_line.py",
    "test_package.py",
    "test_mongo_restarts.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(part in item.nodeid for part in SLOW):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    redis_server.stop_shared()
    if _shared_wire_server is not None:
        _shared_wire_server.stop()
        shutil.rmtree(_shared_wire_server.data, ignore_errors=True)
    # In CI a skipped test means something that should have run did not.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if IN_CI and skipped and exitstatus == 0:
        reporter.write_line(f"CI=true: {len(skipped)} skipped test(s) count as failures", red=True)
        session.exitstatus = 1
