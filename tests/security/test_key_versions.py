"""A key's version is a digest of the key, so the list of retired keys can
change around it: dropping the oldest leaves every other cookie valid."""

from __future__ import annotations

import http.client

import pytest
import redis_server
import tornado.httpserver
import tornado.testing
from conftest import COOKIE_SECRET, Browser
from test_processes import started  # noqa: F401  (the fixture)

from app import make_app
from serving.keys import signing_keys

OLDEST = "the-first-key-this-site-ever-had"
OLDER = "the-key-before-the-current-one"


@pytest.fixture
def app(store, session_config):
    keys, current = signing_keys(COOKIE_SECRET, [OLDEST, OLDER])
    return make_app(store, keys, key_version=current, session_config=session_config)


@pytest.mark.gen_test
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


def dashboard(site, cookie: str) -> tuple[int, str]:
    """The dashboard's status, and the session cookie it sent back (as a Cookie header) if any."""
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    connection.request("GET", "/dashboard", headers={"Cookie": cookie})
    response = connection.getresponse()
    response.read()
    connection.close()
    sent = [c.split(";", 1)[0] for c in response.headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
    return response.status, sent[0] if sent else ""


def test_retired_cookie_secrets_on_the_command_line_keep_cookies_working_until_dropped(started):  # noqa: F811
    sessions = f"--session-store={redis_server.empty_database()}"  # outlives the restarts
    before = started(sessions, cookie_secret=OLDER)
    before.wait_for_log("Serving on")
    old_cookie = before.login_cookie().split(";", 1)[0]
    assert before.stop() == 0

    rotated = started(sessions, f"--retired-cookie-secrets={OLDEST},{OLDER}")  # --cookie-secret: a new key
    rotated.wait_for_log("Serving on")
    status, resigned = dashboard(rotated, old_cookie)
    assert status == 200 and resigned, "accepted, and signed again with the new key"
    assert rotated.stop() == 0

    dropped = started(sessions)  # the old key no longer listed
    dropped.wait_for_log("Serving on")
    assert dashboard(dropped, old_cookie)[0] == 302, "a dropped key's cookies are worthless"
    assert dashboard(dropped, resigned)[0] == 200, "the re-signed cookie needs only the current key"
    assert dropped.stop() == 0
