"""A forgotten or malformed cookie_secret, and anything else that fails once
a session is saved, through real HTTP requests to a small app built on the
library alone: the request ends with the error page, never hangs, and no
session is stored without its cookie being sent.

Before, these requests hung until the client gave up: the timeout below is
what fails them."""

from __future__ import annotations

import logging

import pytest
import tornado.web

from sessions import MemoryStore, SessionConfig, SessionMixin

pytestmark = pytest.mark.gen_test(timeout=20)

SECRET = "a-secret-of-thirty-two-bytes-or-more"


class CountHandler(SessionMixin):
    async def prepare(self) -> None:
        await self.load_session()

    def get(self) -> None:
        self.write({"visits": self.session.get("visits", 0)})

    def post(self) -> None:
        self.session["visits"] = self.session.get("visits", 0) + 1
        self.redirect("/", status=303)  # drops the future finish() returns


class BadChunkHandler(CountHandler):
    async def post(self) -> None:
        self.session["visits"] = 1
        await self.finish(12345)  # fails after the save: write() takes str, bytes or dict


@pytest.fixture
def start(servers, clock):
    def start(store: MemoryStore, **settings):
        routes = [("/", CountHandler), ("/bad-chunk", BadChunkHandler)]
        config = SessionConfig(clock=clock)
        return servers.start(tornado.web.Application(routes, session_store=store, session_config=config, **settings))()

    return start


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({}, "set the application setting cookie_secret"),
        ({"cookie_secret": ""}, "set the application setting cookie_secret"),
        ({"cookie_secret": {1: SECRET}}, "set the application setting key_version"),
        ({"cookie_secret": {1: SECRET}, "key_version": 2}, "set the application setting key_version"),
    ],
    ids=["missing", "empty", "dict-without-key_version", "unknown-key_version"],
)
async def test_a_secret_that_cannot_sign_is_refused_at_the_first_request_with_one_message(
    start, caplog, settings, says
):
    store = MemoryStore()
    browser = start(store, **settings)
    for method in "GET", "POST":
        response = await browser.request("/", method)
        assert response.code == 500 and b"Internal Server Error" in response.body
        assert "Set-Cookie" not in response.headers
    assert len(store) == 0, "nothing stored for a cookie that could not be sent"
    refused = [r for r in caplog.records if r.exc_info and says in str(r.exc_info[1])]
    assert len(refused) == 2, [r.getMessage() for r in caplog.records]


async def test_a_failure_after_the_session_is_saved_ends_the_request_with_the_error_page(start, caplog):
    browser = start(MemoryStore(), cookie_secret=SECRET)
    with caplog.at_level(logging.ERROR, logger="sessions"):
        response = await browser.request("/bad-chunk", "POST")
    assert response.code == 500 and b"Internal Server Error" in response.body
    assert any("could not save a session and send the response" in r.getMessage() for r in caplog.records)
    # The server is still answering.
    assert (await browser.request("/", "POST")).code == 303


async def test_a_secret_shorter_than_32_bytes_works_with_one_warning(start, caplog):
    browser = start(MemoryStore(), cookie_secret="short")
    with caplog.at_level(logging.WARNING, logger="sessions"):
        for visits in 1, 2, 3:
            assert (await browser.request("/", "POST")).code == 303
            assert (await browser.request("/")).body == f'{{"visits": {visits}}}'.encode()
    warnings = [r for r in caplog.records if "cookie_secret has a key shorter than 32 bytes" in r.getMessage()]
    assert len(warnings) == 1
