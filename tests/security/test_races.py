"""Races between tabs and carried-over data: no response about an old
session removes a newer login, no account's data follows another's login,
and a login form sent twice leaves no session that no browser holds."""

from __future__ import annotations

import asyncio

import pytest
from conftest import PausableStore

from security.conftest import MALLORY_PASSWORD, body, session_id, signed_in_as
from sessions import MemoryStore, store_key

pytestmark = pytest.mark.gen_test


@pytest.fixture
def store():
    return PausableStore(MemoryStore())


async def test_a_slow_response_about_an_old_session_never_removes_a_newer_login(browser, store):
    await browser.login()
    store.hold = release = asyncio.Event()
    old_tab = asyncio.ensure_future(browser.get("/dashboard"))  # its visit count waits in the store
    await store.update_waiting.wait()
    again = await browser.post("/login", {"username": "demo", "password": "demo-password"}, xsrf_from="/")
    assert again.code == 303, "another tab logs in again: a new session, the old one deleted"
    newer = browser.cookies["session"]
    release.set()
    answer = await old_tab
    assert answer.code == 200
    assert "session=" not in " ".join(answer.headers.get_list("Set-Cookie")), "no word about the cookie"
    assert browser.cookies["session"] == newer
    assert await signed_in_as(browser) == "Demo User"


async def test_a_response_for_an_unknown_session_leaves_the_cookie_alone(browser, new_browser):
    await browser.login()
    old = dict(browser.cookies)
    await browser.logout()
    stale_tab = new_browser()
    stale_tab.cookies = old
    for path in ("/", "/login", "/dashboard", "/sessions"):
        response = await stale_tab.get(path)
        assert "session=" not in " ".join(response.headers.get_list("Set-Cookie")), path


async def test_logging_in_over_another_accounts_session_carries_none_of_its_data(browser, mallory):
    assert (await browser.login()).code == 303
    for _ in range(3):
        page = body(await browser.get("/dashboard"))
    assert "viewed this page <strong>3</strong>" in page
    as_mallory = {"username": "mallory", "password": MALLORY_PASSWORD}
    assert (await browser.post("/login", as_mallory, xsrf_from="/")).code == 303
    page = body(await browser.get("/dashboard"))
    assert "Hello, Mallory" in page
    assert "viewed this page <strong>1</strong> time" in page, "demo's counter did not follow"


async def test_a_login_form_sent_twice_at_once_leaves_no_session_that_no_browser_holds(browser, store):
    form = {"username": "demo", "password": "demo-password", "_xsrf": await browser.xsrf("/login")}
    first, second = await asyncio.gather(
        browser.request("/login", "POST", form=form), browser.request("/login", "POST", form=form)
    )
    assert first.code == second.code == 303
    assert len(await store.find_by_user("demo", 0)) == 2, "two sessions, the browser holds one"
    held = store_key(session_id(browser.cookies["session"]))
    assert held in await store.find_by_user("demo", 0)
    assert (await browser.logout()).code == 303
    assert await store.find_by_user("demo", 0) == {}, "the logout ended its twin too"


async def test_a_logout_leaves_the_users_sessions_from_other_logins_alone(browser, new_browser, store):
    await browser.login()
    other_device = new_browser()
    await other_device.login()
    await browser.logout()
    assert await signed_in_as(other_device) == "Demo User"
