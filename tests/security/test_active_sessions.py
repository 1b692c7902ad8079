"""The Active sessions page: a user sees and ends their own sessions, by an
opaque handle, and nobody else's."""

from __future__ import annotations

import re
import time

import pytest

from security.conftest import MALLORY_PASSWORD, body, session_id, signed_in_as
from sessions import store_key

pytestmark = pytest.mark.gen_test

FIREFOX = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
IPHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1"}
REVOKE_FORM = re.compile(r'action="/sessions/([^"/]+)/revoke"')


async def login_as(browser, username="demo", password="demo-password", headers=None):
    response = await browser.post("/login", {"username": username, "password": password}, headers=headers)
    assert response.code == 303


async def test_lists_the_users_sessions_with_this_one_marked(browser, new_browser, clock):
    await login_as(browser, headers=FIREFOX)
    clock.advance(60)
    phone = new_browser()
    await login_as(phone, headers=IPHONE)
    page = body(await browser.get("/sessions"))
    assert page.count("<tr") == 3, "a header row, this session and the phone"
    assert "Firefox on Linux" in page and "Safari on iOS" in page
    assert "This session" in page
    assert page.index("Firefox on Linux") < page.index("This session") < page.index("Safari on iOS")
    assert time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(clock.now)) in page, "when the phone's session started"
    assert len(REVOKE_FORM.findall(page)) == 1, "a button for the other session, not this one"
    assert "End this session" in page and "Sign out all other sessions" in page


async def test_handles_are_opaque(browser, new_browser):
    await login_as(browser)
    phone = new_browser()
    await login_as(phone)
    page = body(await browser.get("/sessions"))
    (handle,) = REVOKE_FORM.findall(page)
    for cookie in (browser.cookies["session"], phone.cookies["session"]):
        for secret in (session_id(cookie), store_key(session_id(cookie)), cookie.strip('"')):
            assert secret not in page
            assert handle not in secret


async def test_ending_another_session_stops_it_on_its_next_request(browser, new_browser):
    await login_as(browser)
    phone = new_browser()
    await login_as(phone)
    (handle,) = REVOKE_FORM.findall(body(await browser.get("/sessions")))
    response = await browser.post(f"/sessions/{handle}/revoke", xsrf_from="/sessions")
    assert response.code == 303 and response.headers["Location"] == "/sessions"
    assert "That session has ended." in body(await browser.get("/sessions"))
    assert await signed_in_as(phone) is None
    assert await signed_in_as(browser) == "Demo User"
    again = await browser.post(f"/sessions/{handle}/revoke", xsrf_from="/sessions")
    assert again.code == 404


async def test_sign_out_all_other_sessions(browser, new_browser, mallory):
    await login_as(browser)
    others = [new_browser() for _ in range(3)]
    for other in others:
        await login_as(other)
    bystander = new_browser()
    await login_as(bystander, "mallory", MALLORY_PASSWORD)
    response = await browser.post("/sessions/revoke-others", xsrf_from="/sessions")
    assert response.code == 303
    assert "Signed out 3 other sessions." in body(await browser.get("/sessions"))
    for other in others:
        assert await signed_in_as(other) is None
    assert await signed_in_as(browser) == "Demo User"
    assert await signed_in_as(bystander) == "Mallory", "another user's sessions are not touched"


async def test_nobody_can_end_another_users_session(browser, new_browser, mallory):
    await login_as(browser)
    phone = new_browser()
    await login_as(phone)
    (handle,) = REVOKE_FORM.findall(body(await browser.get("/sessions")))
    attacker = new_browser()
    await login_as(attacker, "mallory", MALLORY_PASSWORD)
    response = await attacker.post(f"/sessions/{handle}/revoke", xsrf_from="/sessions")
    assert response.code == 404
    assert await signed_in_as(phone) == "Demo User"
    raw = session_id(phone.cookies["session"])
    for guess in (raw, store_key(raw), "0" * 20, "../" + handle):
        response = await attacker.post(f"/sessions/{guess}/revoke", xsrf_from="/sessions")
        assert response.code == 404
    assert await signed_in_as(phone) == "Demo User"


async def test_ending_sessions_needs_a_login_and_xsrf(browser, new_browser):
    await login_as(browser)
    phone = new_browser()
    await login_as(phone)
    (handle,) = REVOKE_FORM.findall(body(await browser.get("/sessions")))
    assert (await browser.request(f"/sessions/{handle}/revoke", method="POST")).code == 403
    assert (await browser.get(f"/sessions/{handle}/revoke")).code == 405
    assert (await new_browser().post(f"/sessions/{handle}/revoke")).code == 403
    assert (await new_browser().get("/sessions")).code == 302
    assert await signed_in_as(phone) == "Demo User"
