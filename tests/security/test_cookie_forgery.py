"""Forged, edited and malformed session cookies: none is ever a login, none
is a 5xx, and the store only ever sees the digest of a well-formed ID."""

from __future__ import annotations

import base64
import secrets
import time

import pytest

from security.conftest import SESSION_ID, days_ago, raw_request, session_id, sign, signed_in_as
from sessions import MemoryStore, store_key

pytestmark = pytest.mark.gen_test


class RecordingStore(MemoryStore):
    """A MemoryStore that remembers every key it was asked to load."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded_keys: list[object] = []

    async def load(self, key, now):
        self.loaded_keys.append(key)
        return await super().load(key, now)


@pytest.fixture
def store():
    return RecordingStore()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def anonymous_with(browser, cookie_header: str) -> None:
    response = await browser.get("/dashboard", headers={"Cookie": cookie_header})
    assert response.code == 302, response.code
    assert response.headers["Location"].startswith("/login")


async def test_flipped_signature_byte(browser):
    await browser.login()
    value = browser.cookies["session"]
    flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
    await anonymous_with(browser, f"session={flipped}")
    assert await signed_in_as(browser, {"session": value}) == "Demo User", "the control works"


async def test_payload_edited_under_the_old_signature(browser, new_browser):
    await browser.login()
    victim = new_browser()
    await victim.login()
    victim_id = session_id(victim.cookies["session"])
    mine = browser.cookies["session"]
    edited = mine.replace(b64(session_id(mine)), b64(victim_id))
    assert edited != mine
    await anonymous_with(browser, f"session={edited}")
    assert await signed_in_as(victim) == "Demo User", "the victim's own cookie still works"


async def test_validly_signed_id_never_issued_gets_a_fresh_session(browser, store):
    forged_id = secrets.token_urlsafe(32)
    await anonymous_with(browser, f"session={sign(forged_id)}")
    assert store.loaded_keys == [store_key(forged_id)]
    assert await store.load(store_key(forged_id), time.time()) is None
    browser.cookies["session"] = sign(forged_id)
    assert (await browser.login()).code == 303
    assert session_id(browser.cookies["session"]) != forged_id, "the offered ID was not adopted"


async def test_value_signed_under_another_cookie_name(browser):
    await browser.login()
    real_id = session_id(browser.cookies["session"])
    for other_name in ("_xsrf", "user", "session2", "__Host-session"):
        await anonymous_with(browser, f"session={sign(real_id, other_name)}")
    await anonymous_with(browser, f"session={sign(real_id)}x")
    assert await signed_in_as(browser, {"session": sign(real_id)}) == "Demo User", "the control works"


async def test_legacy_v1_signature_is_refused(browser):
    await browser.login()
    real_id = session_id(browser.cookies["session"])
    await anonymous_with(browser, f"session={sign(real_id, version=1)}")
    assert await signed_in_as(browser, {"session": sign(real_id)}) == "Demo User", "the control works"


async def test_expired_signature_is_refused(browser, session_config):
    await browser.login()
    real_id = session_id(browser.cookies["session"])
    longest_days = session_config.cookie_max_age_days()
    await anonymous_with(browser, f"session={sign(real_id, clock=days_ago(longest_days + 0.01))}")
    assert await signed_in_as(browser, {"session": sign(real_id, clock=days_ago(longest_days - 0.01))}) == "Demo User"


async def test_session_ids_are_unique_43_urlsafe_characters(new_browser):
    ids = set()
    for _ in range(20):
        browser = new_browser()
        await browser.login()
        ids.add(session_id(browser.cookies["session"]))
    assert len(ids) == 20
    assert all(SESSION_ID.fullmatch(i) for i in ids), ids


MALFORMED = [
    "",
    '""',
    '"',
    '"\\"x\\""',
    "2|1:0|10:1700000000|7:session|4:@@@@|" + "0" * 64,
    "2|1:0|10:1700000000|7:session|",
    "2|||||",
    "2|99999999999999999999:0",
    "%00",
    "x" * 8192,
    "2|1:0|10:1700000000|7:session|8192:" + "A" * 8192 + "|" + "0" * 64,
    "é",
    '{"$ne":null}',
    "%7B%22%24ne%22%3Anull%7D",
]


@pytest.mark.parametrize("value", MALFORMED)
async def test_malformed_cookie_values(browser, store, value):
    await anonymous_with(browser, f"session={value}")
    home = await browser.get("/", headers={"Cookie": f"session={value}"})
    assert home.code == 200
    assert store.loaded_keys == []


@pytest.mark.parametrize("raw", [b"session=a\x00b", "session=日本語".encode(), b"session=\xff\xfe", b"sid[$ne]=1"])
async def test_malformed_bytes_in_the_cookie_header(http_server, base_url, store, raw):
    status, answer = await raw_request(base_url, b"GET /dashboard HTTP/1.1\r\nHost: x\r\nCookie: " + raw)
    assert status in (302, 400), answer[:200]
    assert store.loaded_keys == []


async def test_nosql_operators_reach_the_store_only_as_a_plain_string(browser, store):
    for payload in ('{"$ne":null}', '{"$gt":""}', "sid[$ne]=1"):
        await anonymous_with(browser, f"session={sign(payload)}")
    await browser.login()
    await browser.get(f"/dashboard?session[$ne]=1&sid={browser.cookies['session']}")
    assert store.loaded_keys, "the real cookie did reach the store"
    assert all(type(key) is str and len(key) == 64 and int(key, 16) >= 0 for key in store.loaded_keys)


async def test_two_cookies_with_the_same_name(browser, new_browser):
    await browser.login()
    mine = browser.cookies["session"]
    junk = sign(secrets.token_urlsafe(32))
    for header in (f"session={mine}; session={junk}", f"session={junk}; session=x; session={mine}"):
        response = await browser.get("/dashboard", headers={"Cookie": header})
        assert response.code in (200, 302)
    # Tornado reads the last one; whichever it reads, the signature and the
    # store decide, so a planted cookie cannot merge with a real one.
    assert await signed_in_as(browser, {"session": junk}) is None


async def test_id_offered_in_query_body_or_header_is_ignored(browser, new_browser):
    victim = new_browser()
    await victim.login()
    cookie = victim.cookies["session"]
    raw = session_id(cookie)
    for query in (f"session={cookie}", f"session_id={raw}", f"sid={raw}", f"session={raw}"):
        response = await browser.get(f"/dashboard?{query}")
        assert response.code == 302
    for header in ({"X-Session-Id": raw}, {"Authorization": f"Bearer {raw}"}, {"Session": cookie}):
        assert (await browser.get("/dashboard", headers=header)).code == 302
    response = await browser.post("/sessions/revoke-others", {"session": cookie, "session_id": raw})
    assert response.code == 403, "a POST that needs a login is refused, not redirected"
    assert await signed_in_as(victim) == "Demo User"
