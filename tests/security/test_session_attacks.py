"""Attacks on a session's life: fixation, replay, forged logouts, requests
racing a logout, and timeouts at their exact boundaries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from conftest import PausableStore

from security.conftest import MALLORY_PASSWORD, session_id, signed_in_as
from sessions import MemoryStore, SessionConfig, store_key

pytestmark = pytest.mark.gen_test


@pytest.fixture
def store():
    return PausableStore(MemoryStore())


@pytest.fixture
def session_config(clock):
    # Visitors get a session before they log in, as on many sites, so there
    # is an anonymous ID to fixate.
    return SessionConfig(clock=clock, save_uninitialized=True)


async def test_fixation_the_pre_login_id_is_dead_after_login(browser, new_browser, store):
    attacker = new_browser()
    await attacker.get("/")
    planted = attacker.cookies["session"]
    browser.cookies["session"] = planted
    assert (await browser.login()).code == 303
    assert browser.cookies["session"] != planted
    assert session_id(browser.cookies["session"]) != session_id(planted)
    assert await signed_in_as(attacker) is None
    assert await store.load(store_key(session_id(planted)), 0) is None
    assert await signed_in_as(browser) == "Demo User"


async def test_attackers_logged_in_cookie_planted_before_the_victim_logs_in(browser, new_browser, mallory):
    attacker = new_browser()
    await attacker.login(username="mallory", password=MALLORY_PASSWORD)
    browser.cookies["session"] = attacker.cookies["session"]
    # The victim sees whose account this is, and logging in replaces it.
    assert "Signed in as <strong>Mallory</strong>" in (await browser.get("/")).body.decode()
    response = await browser.post("/login", {"username": "demo", "password": "demo-password"}, xsrf_from="/")
    assert response.code == 303
    assert await signed_in_as(browser) == "Demo User"
    assert await signed_in_as(attacker) is None, "the attacker's cookie was not upgraded to the victim's account"


async def test_replay_after_logout(browser, store):
    await browser.login()
    stolen = dict(browser.cookies)
    await browser.logout()
    assert await signed_in_as(browser, stolen) is None
    assert await store.load(store_key(session_id(stolen["session"])), 0) is None


async def test_logout_by_get_or_without_xsrf_or_with_anothers_xsrf_does_nothing(browser, new_browser):
    await browser.login()
    assert (await browser.get("/logout")).code == 405
    assert (await browser.request("/logout", method="POST")).code == 403
    other = new_browser()
    other_token = await other.xsrf()
    assert (await browser.request("/logout", method="POST", form={"_xsrf": other_token})).code == 403
    cross_site = await browser.post("/logout", xsrf_from="/dashboard", headers={"Origin": "https://evil.example"})
    assert cross_site.code == 403
    assert await signed_in_as(browser) == "Demo User"


async def test_a_slow_request_finishing_after_logout_does_not_bring_the_session_back(
    browser, http_client, base_url, store
):
    await browser.login()
    stolen = dict(browser.cookies)
    store.hold = gate = asyncio.Event()
    slow = asyncio.ensure_future(browser.get("/dashboard"))  # saves the visit counter: an update
    await store.update_waiting.wait()
    assert (await browser.logout()).code == 303
    gate.set()
    response = await slow
    assert response.code == 200, "it was answered, but its session stays ended"
    # It leaves the cookie alone: clearing it could delete a newer login's.
    assert not any(h.startswith("session=") for h in response.headers.get_list("Set-Cookie"))
    assert await signed_in_as(browser, stolen) is None
    assert await store.load(store_key(session_id(stolen["session"])), 0) is None


async def test_idle_timeout_boundary(browser, clock, session_config):
    await browser.login()
    idle = session_config.idle_timeout
    clock.advance(idle - timedelta(seconds=1))
    assert await signed_in_as(browser) == "Demo User"
    clock.advance(idle)
    assert await signed_in_as(browser) is None


async def test_absolute_timeout_boundary_even_for_a_busy_session(browser, clock, session_config):
    await browser.login()
    step = session_config.idle_timeout - timedelta(seconds=1)
    lived = timedelta(0)
    while lived + step < session_config.absolute_timeout:
        clock.advance(step)
        lived += step
        assert await signed_in_as(browser) == "Demo User"
    clock.advance(session_config.absolute_timeout - lived - timedelta(seconds=1))
    assert await signed_in_as(browser) == "Demo User"
    clock.advance(1)
    assert await signed_in_as(browser) is None
