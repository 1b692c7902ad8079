"""SessionConfig and the cookie, through real HTTP requests: cookie
attributes, Secure on/off/auto (behind a proxy), key rotation, the pluggable
ID generator."""

import itertools

import pytest
import tornado.web

from semantics.lab import body, make_lab_app, session_id, set_cookies
from sessions import SessionConfig, store_key

pytestmark = pytest.mark.gen_test


async def login_and_destroy(browser, cookie_name: str):
    """The session cookie as set at login and as cleared by destroy()."""
    login = set_cookies(await browser.login())[cookie_name]
    destroyed = set_cookies(await browser.request("/lab/destroy", "POST"))[cookie_name]
    return login, destroyed


async def test_default_cookie_is_a_browser_session_cookie_httponly_lax_whole_site(browser):
    login, logout = await login_and_destroy(browser, "session")
    assert login.value and login["httponly"] and login["samesite"] == "Lax" and login["path"] == "/"
    assert not login["secure"] and not login["domain"]
    assert not login["expires"] and not login["max-age"], "no Expires: gone when the browser closes"
    assert logout.value == "" and logout["path"] == "/" and logout["expires"]


async def test_cookie_name_path_domain_and_samesite_come_from_the_config(servers, store, clock):
    config = SessionConfig(
        clock=clock, cookie_name="sid", cookie_path="/", cookie_domain="example.test", same_site="Strict"
    )
    browser = servers.start(make_lab_app(store, config))()
    login, logout = await login_and_destroy(browser, "sid")
    for cookie in login, logout:
        assert cookie["domain"] == "example.test" and cookie["path"] == "/"
        assert cookie["samesite"] == "Strict" and cookie["httponly"]
    assert "session" not in browser.cookies


async def test_a_cookie_path_limits_the_cookie(servers, store, clock):
    browser = servers.start(make_lab_app(store, SessionConfig(clock=clock, cookie_path="/lab")))()
    response = await browser.request("/lab/set", "POST", form={"json": '{"a": 1}'})
    assert set_cookies(response)["session"]["path"] == "/lab"


async def test_secure_on_gives_a_host_prefixed_secure_cookie_even_over_http(servers, store, clock):
    browser = servers.start(make_lab_app(store, SessionConfig(clock=clock, secure=True)))()
    login, logout = await login_and_destroy(browser, "__Host-session")
    assert login["secure"] and login["httponly"] and login["path"] == "/" and not login["domain"]
    assert logout["secure"], "a __Host- cookie is only deleted by a Set-Cookie that is Secure too"


async def test_secure_with_a_domain_keeps_the_plain_name(servers, store, clock):
    config = SessionConfig(clock=clock, secure=True, cookie_domain="example.test")
    browser = servers.start(make_lab_app(store, config))()
    login = set_cookies(await browser.login())["session"]
    assert login["secure"] and login["domain"] == "example.test"


def login_over_https(browser):
    """A login that a TLS-terminating proxy passed on."""
    form = {"username": "demo", "password": "demo-password"}
    return browser.post("/login", form, headers={"X-Forwarded-Proto": "https"})


async def test_secure_off_is_never_secure(servers, store, clock):
    browser = servers.start(make_lab_app(store, SessionConfig(clock=clock, secure=False)), xheaders=True)()
    login = set_cookies(await login_over_https(browser))["session"]
    assert not login["secure"]


async def test_secure_auto_follows_the_proxy_with_xheaders(servers, store, clock):
    start_browser = servers.start(make_lab_app(store, SessionConfig(clock=clock)), xheaders=True)
    behind_tls = start_browser()
    login = set_cookies(await login_over_https(behind_tls))["__Host-session"]
    assert login["secure"]
    page = await behind_tls.get("/lab/session", headers={"X-Forwarded-Proto": "https"})
    assert body(page)["user"] == "demo"

    plain = start_browser()
    login = set_cookies(await plain.login())["session"]
    assert not login["secure"]


async def test_without_xheaders_a_forged_forwarded_proto_changes_nothing(browser):
    login = set_cookies(await login_over_https(browser))
    assert "__Host-session" not in login and not login["session"]["secure"]


# Key rotation: Tornado's dict cookie_secret and key_version.

OLD, NEW = "old-key-retired-today", "new-key-in-use-from-today"


async def test_a_cookie_signed_with_a_retired_key_is_accepted_and_re_signed(servers, store, session_config):
    before = servers.start(make_lab_app(store, session_config, cookie_secret={0: OLD}, key_version=0))()
    await before.login()
    old_cookie = before.cookies["session"]
    assert tornado.web.get_signature_key_version(old_cookie.strip('"')) == 0

    after = servers.start(make_lab_app(store, session_config, cookie_secret={0: OLD, 1: NEW}, key_version=1))()
    after.cookies = dict(before.cookies)
    response = await after.get("/lab/session")
    assert body(response)["user"] == "demo"
    new_cookie = set_cookies(response)["session"].value
    assert tornado.web.get_signature_key_version(new_cookie) == 1
    assert session_id(new_cookie, secret=NEW) == session_id(old_cookie, secret=OLD), "same session, new signature"
    assert store.writes == ["create"], "re-signing needs no store write"

    again = await after.get("/lab/session")
    assert body(again)["user"] == "demo" and "session" not in set_cookies(again)


async def test_a_cookie_signed_with_a_key_no_longer_allowed_gets_a_fresh_session(servers, store, session_config):
    before = servers.start(make_lab_app(store, session_config, cookie_secret={0: OLD}, key_version=0))()
    await before.login()
    after = servers.start(make_lab_app(store, session_config, cookie_secret={1: NEW}, key_version=1))()
    after.cookies = dict(before.cookies)
    response = await after.get("/lab/session")
    assert response.code == 200 and body(response)["user"] is None
    assert "session" not in set_cookies(response), "left alone: it could be a newer login's"


async def test_with_a_single_key_an_unchanged_session_gets_no_set_cookie(browser):
    await browser.login()
    response = await browser.get("/lab/session")
    assert body(response)["user"] == "demo" and "session" not in set_cookies(response)


# The pluggable ID generator (for tests).


async def test_id_factory_supplies_the_ids_and_a_taken_one_is_skipped(servers, store, clock):
    a, b = "a" * 43, "b" * 43
    start_browser = servers.start(make_lab_app(store, SessionConfig(clock=clock, id_factory=iter([a, a, b]).__next__)))
    first, second = start_browser(), start_browser()
    await first.login()
    await second.login()
    assert session_id(first.cookies["session"]) == a
    assert session_id(second.cookies["session"]) == b, "a was taken: the next ID is used"
    assert store.keys() == [store_key(a), store_key(b)]


async def test_an_id_factory_that_keeps_colliding_gives_a_500_not_a_shared_session(servers, store, clock):
    config = SessionConfig(clock=clock, id_factory=itertools.repeat("x" * 43).__next__)
    start_browser = servers.start(make_lab_app(store, config))
    first, second = start_browser(), start_browser()
    assert (await first.login()).code == 303
    response = await second.login()
    assert response.code == 500 and "session" not in second.cookies
    assert body(await first.get("/lab/session"))["user"] == "demo"


async def test_a_login_past_max_sessions_per_user_signs_out_the_oldest(servers, store, clock):
    start = servers.start(make_lab_app(store, SessionConfig(clock=clock, max_sessions_per_user=2)))
    browsers = [start() for _ in range(3)]
    for browser in browsers:
        assert (await browser.login()).code == 303
        clock.advance(1)
    assert (await browsers[0].get("/dashboard")).code == 302, "the oldest login ended"
    for browser in browsers[1:]:
        assert (await browser.get("/dashboard")).code == 200
