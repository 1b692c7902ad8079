"""Helpers for the attack suite: forge and read signed cookies the way an
attacker (or a test that knows the key) would, and serve the app the way
app.py does, so X-Forwarded-* headers mean what they mean behind a proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest
import tornado.httpserver
import tornado.web
from conftest import COOKIE_SECRET, TEST_NOW

from auth import accounts

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
MALLORY_PASSWORD = "mallory-password"


def sign(value: str, name: str = "session", *, secret=COOKIE_SECRET, version: int = 2, **kwargs) -> str:
    """A cookie value signed as the app signs it, by the tests' clock at its
    start (TEST_NOW) unless given another; kwargs: key_version, clock."""
    kwargs.setdefault("clock", lambda: TEST_NOW)
    return tornado.web.create_signed_value(secret, name, value, version=version, **kwargs).decode()


def session_id(cookie_value: str, name: str = "session", secret=COOKIE_SECRET) -> str:
    """The raw session ID inside a signed cookie (never shown by the site)."""
    value = tornado.web.decode_signed_value(secret, name, cookie_value.strip('"'), max_age_days=31, min_version=2)
    assert value is not None, "not a cookie this app signed"
    return value.decode()


def body(response) -> str:
    return response.body.decode()


async def signed_in_as(browser, cookies: dict | None = None) -> str | None:
    """Who the dashboard greets with these cookies (default: the browser's)."""
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies is not None else None
    response = await browser.get("/dashboard", headers=headers)
    if response.code == 302:
        return None
    assert response.code == 200, response.code
    return re.search(r"Hello, ([^<]+)</h1>", body(response)).group(1)


@pytest.fixture
def xheaders() -> bool:
    """Serve as `app.py --xheaders` does (parametrize to False for the default)."""
    return True


@pytest.fixture
def http_server(request, io_loop, _unused_port, app, xheaders):
    server = tornado.httpserver.HTTPServer(app, xheaders=xheaders)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections, timeout=5)


@pytest.fixture
def mallory(monkeypatch):
    """A second account, for attacks between two users."""
    salt = b"mallory-salt-016"
    account = accounts.Account("mallory", "Mallory", salt, accounts.hash_password(MALLORY_PASSWORD, salt))
    monkeypatch.setitem(accounts.ACCOUNTS, "mallory", account)
    return account


def days_ago(days: float):
    """A clock for sign(): this many days before the tests' clock starts."""
    return lambda: TEST_NOW - days * 86400


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch):
    """Real scrypt at a test-sized cost (as Django's tests swap in a fast
    hasher): these tests log in hundreds of times."""
    monkeypatch.setitem(accounts._SCRYPT, "n", 2**4)
    demo = accounts.ACCOUNTS["demo"]
    cheap = dataclasses.replace(demo, password_hash=accounts.hash_password("demo-password", demo.salt))
    monkeypatch.setitem(accounts.ACCOUNTS, "demo", cheap)


async def raw_request(base_url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes no HTTP client library would, over a plain socket; returns
    the status (0 if the server closed without answering) and the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    if body:
        head += b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d" % len(body)
    writer.write(head + b"\r\nConnection: close\r\n\r\n" + body)
    try:
        # A server that neither answers nor closes is a failure, not a hang.
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    except ConnectionResetError:
        answer = b""
    writer.close()
    return (int(answer.split(b" ", 2)[1]) if answer else 0), answer
