"""Signing keys change: a cookie signed with a retired key still in the
list is re-signed with the current one; a key dropped from the list, or a
key version never configured, is refused."""

from __future__ import annotations

import pytest
from conftest import COOKIE_SECRET

from app import make_app
from security.conftest import session_id, sign, signed_in_as

pytestmark = pytest.mark.gen_test

RETIRED = "an-older-key-still-accepted-while-cookies-roll-over"
DROPPED = "a-key-nobody-should-trust-any-more"
KEYS = {1: RETIRED, 2: COOKIE_SECRET}


@pytest.fixture
def app(store, session_config):
    return make_app(store, KEYS, key_version=2, session_config=session_config)


async def current_id(browser) -> str:
    await browser.login()
    return session_id(browser.cookies["session"], secret=KEYS)


async def test_retired_key_is_accepted_and_re_signed(browser):
    sid = await current_id(browser)
    response = await browser.get("/dashboard", headers={"Cookie": f"session={sign(sid, secret=KEYS, key_version=1)}"})
    assert response.code == 200
    (resigned,) = [c for c in response.headers.get_list("Set-Cookie") if c.startswith("session=")]
    assert "|1:2|" in resigned, "now signed with key version 2"


@pytest.mark.parametrize("forged_keys,version", [({0: DROPPED}, 0), ({7: COOKIE_SECRET}, 7), ({2: RETIRED}, 2)])
async def test_dropped_or_unknown_key_versions_are_refused(browser, forged_keys, version):
    sid = await current_id(browser)
    assert await signed_in_as(browser, {"session": sign(sid, secret=forged_keys, key_version=version)}) is None
    assert await signed_in_as(browser, {"session": sign(sid, secret=KEYS, key_version=2)}) == "Demo User"
