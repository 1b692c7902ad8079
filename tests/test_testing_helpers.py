"""sessions.testing, the helpers the package gives to tests of apps that use
it: a signed-in session put straight into the store, and its cookie."""

from __future__ import annotations

import re

import pytest
import tornado.web
from conftest import COOKIE_SECRET

from app import make_app
from sessions import MemoryStore, SessionConfig, store_key
from sessions.testing import cookie_header, create_session, signed_in_cookie

pytestmark = pytest.mark.gen_test


async def test_the_signed_in_fixture_gives_a_cookie_the_site_accepts(browser, signed_in, store):
    browser.hold(await signed_in("demo", visits=41))
    page = (await browser.get("/dashboard")).body.decode()
    assert "Hello, Demo User" in page and "viewed this page <strong>42</strong>" in page
    assert len(store) == 1


# The README shows this test as it is (tests/test_docs.py checks).
async def test_the_dashboard_greets_alice(http_client, base_url, signed_in):
    cookie = await signed_in("alice", visits=3)
    response = await http_client.fetch(base_url + "/dashboard", headers={"Cookie": cookie})
    assert "Hello, alice" in response.body.decode()


async def test_without_a_session_the_same_page_asks_to_log_in(browser):
    assert (await browser.get("/dashboard")).code == 302


async def test_a_remembered_session_and_its_data_are_stored(store, session_config):
    session_id = await create_session(store, session_config, "alice", remember=True, theme="dark")
    record = await store.load(store_key(session_id), session_config.clock())
    assert (record.user, record.remember, record.data) == ("alice", True, {"theme": "dark"})


@pytest.mark.parametrize(
    "config,secure,name",
    [
        (SessionConfig(), False, "session"),
        (SessionConfig(), True, "__Host-session"),
        (SessionConfig(secure=True), False, "__Host-session"),
        (SessionConfig(secure=False), True, "session"),
        (SessionConfig(secure=True, cookie_domain="example.com"), True, "session"),
        (SessionConfig(cookie_name="sid"), True, "__Host-sid"),
    ],
)
def test_the_cookie_name_follows_the_mixins_rule(config, secure, name):
    app = make_app(MemoryStore(), COOKIE_SECRET, session_config=config)
    assert re.fullmatch(rf"{re.escape(name)}=2\|1:0\|.+", cookie_header(app, "x" * 43, secure=secure))


async def test_the_cookie_is_signed_with_the_current_key_of_a_rotating_set(store, session_config):
    rotating = make_app(store, {1: "old", 2: "new"}, key_version=2, session_config=session_config)
    cookie = await signed_in_cookie(rotating, "demo")
    assert cookie.startswith("session=2|1:2|")
    value = cookie.partition("=")[2]
    assert tornado.web.decode_signed_value({2: "new"}, "session", value, min_version=2) is not None
