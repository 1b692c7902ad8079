"""A key's version is a digest of the key, so the list of retired keys can
change around it: dropping the oldest leaves every other cookie valid."""

from __future__ import annotations

import pytest
import tornado.httpserver
import tornado.testing
from conftest import COOKIE_SECRET, Browser

from app import make_app
from keys import signing_keys

pytestmark = pytest.mark.gen_test

OLDEST = "the-first-key-this-site-ever-had"
OLDER = "the-key-before-the-current-one"


@pytest.fixture
def app(store, session_config):
    keys, current = signing_keys(COOKIE_SECRET, [OLDEST, OLDER])
    return make_app(store, keys, key_version=current, session_config=session_config)


async def test_a_cookie_signed_with_the_current_key_survives_dropping_the_oldest_retired_key(
    browser, http_client, store, session_config
):
    assert (await browser.login()).code == 303
    # The same site restarted with the oldest key dropped from --retired-cookie-secrets.
    keys, current = signing_keys(COOKIE_SECRET, [OLDER])
    sock, port = tornado.testing.bind_unused_port()
    restarted = tornado.httpserver.HTTPServer(make_app(store, keys, key_version=current, session_config=session_config))
    restarted.add_sockets([sock])
    try:
        after = Browser(http_client, f"http://127.0.0.1:{port}")
        after.cookies = dict(browser.cookies)
        response = await after.get("/dashboard")
        assert response.code == 200 and "Hello, Demo User" in response.body.decode()
    finally:
        restarted.stop()
        await restarted.close_all_connections()


def test_a_key_has_the_same_version_whatever_keys_are_listed_with_it():
    versions = [signing_keys(COOKIE_SECRET, retired)[1] for retired in ([], [OLDER], [OLDEST, OLDER], [OLDER, OLDEST])]
    assert len(set(versions)) == 1
