"""Floods must not buy an attacker anything: no lock washed out, no login
table filled against everyone, no memory for anonymous requests, nobody
logged out by a full store, no index that remembers history."""

from __future__ import annotations

import secrets

import pytest
from semantics.lab import make_lab_app

from auth import throttle
from auth.login_failures import MemoryLoginFailures
from security.conftest import sign, signed_in_as
from sessions import MemoryStore

pytestmark = pytest.mark.gen_test

OVER_LONG_PASSWORD = "x" * 2000  # refused at once, counted nowhere


@pytest.fixture
def login_failures():
    return MemoryLoginFailures(throttle.seconds_to_wait, max_accounts=50)


async def test_a_locked_account_stays_locked_whatever_is_sent_for_other_usernames(browser, new_browser, login_failures):
    for _ in range(throttle.FREE_ATTEMPTS):
        await browser.login(password="wrong")
    assert (await browser.login()).code == 429
    flood = new_browser()
    for n in range(400):
        assert (await flood.login(username=f"made-up-{n}", password="wrong")).code in (200, 429)
    assert (await browser.login()).code == 429, "the lock held"
    assert len(login_failures) <= 50, "and the table stayed bounded"


async def test_an_account_part_way_to_its_lock_keeps_its_count_through_a_flood_of_single_failures(
    browser, new_browser, login_failures
):
    for _ in range(throttle.FREE_ATTEMPTS - 1):
        await browser.login(password="wrong")
    flood = new_browser()
    for n in range(200):
        await flood.login(username=f"made-up-{n}", password="wrong")
    await browser.login(password="wrong")
    assert (await browser.login()).code == 429, "the fifth failure still locked it"


async def lock_out(new_browser, *usernames: str) -> None:
    attacker = new_browser()
    for name in usernames:
        for _ in range(throttle.FREE_ATTEMPTS):
            assert (await attacker.login(username=name, password="wrong")).code == 200


@pytest.mark.parametrize("login_failures", [MemoryLoginFailures(throttle.seconds_to_wait, max_accounts=3)])
async def test_a_table_full_of_locked_accounts_still_lets_a_new_account_in_with_its_right_password(new_browser):
    await lock_out(new_browser, "a", "b", "c")
    visitor = new_browser()
    assert (await visitor.login(password="wrong")).code == 200
    assert (await visitor.login()).code == 303, "the right password works"
    for name in ("a", "b", "c"):
        locked = await new_browser().login(username=name, password="anything")
        assert locked.code == 429 and "Too many failed attempts for this username." in locked.body.decode()


@pytest.mark.parametrize("login_failures", [MemoryLoginFailures(throttle.seconds_to_wait, max_accounts=3)])
async def test_when_the_locks_end_a_full_table_counts_new_accounts_again(new_browser, clock):
    await lock_out(new_browser, "a", "b", "c")
    refused = await new_browser().login(username="a")
    assert refused.headers["Retry-After"] == "30"
    clock.advance(30)  # as the page said
    for _ in range(throttle.FREE_ATTEMPTS):
        assert (await new_browser().login(password="wrong")).code == 200
    locked = await new_browser().login()
    assert locked.code == 429 and locked.headers["Retry-After"] == "30", "demo took an ended lock's place"


# Every path a visitor without a session can reach, with the method it takes.
VISITOR_REQUESTS = [
    ("GET", "/", None),
    ("HEAD", "/", None),
    ("GET", "/login", None),
    ("GET", "/login?next=/sessions", None),
    ("GET", "/dashboard", None),
    ("GET", "/sessions", None),
    ("GET", "/no-such-page", None),
    ("GET", "/static/site.css", None),
    ("POST", "/", {}),
    ("POST", "/login", {"username": "demo", "password": "wrong"}),
    ("POST", "/login", {"username": "nobody", "password": OVER_LONG_PASSWORD}),
    ("POST", "/login", {"username": "demo", "password": "a", "next": "/x"}),
    ("POST", "/logout", {}),
    ("POST", "/sessions/revoke-others", {}),
    ("POST", "/sessions/0123abcd/revoke", {}),
    ("POST", "/dashboard", {}),
]


@pytest.mark.parametrize("cookie", ["none", "stale", "forged"])
async def test_no_request_a_visitor_can_make_leaves_a_record_or_a_session_cookie(browser, store, cookie):
    cookies = {"none": {}, "stale": {"session": sign(secrets.token_urlsafe(32))}, "forged": {"session": "x|y"}}
    statuses = []
    for with_token in (True, False):  # with the form's XSRF token, and without (403)
        for method, path, form in VISITOR_REQUESTS:
            browser.cookies = dict(cookies[cookie])
            fields = dict(form or {})
            if form is not None and with_token:
                fields["_xsrf"] = await browser.xsrf("/login")
            response = await browser.request(path, method, form=fields if form is not None else None)
            statuses.append(response.code)
            set_cookie = " ".join(response.headers.get_list("Set-Cookie"))
            assert "session=" not in set_cookie, f"{method} {path} set {set_cookie!r}"
    assert {200, 302, 303, 400, 403, 404, 405} <= set(statuses)
    for _ in range(throttle.FREE_ATTEMPTS):  # and the throttled login page
        locked = await browser.login(password="wrong")
        assert "session=" not in " ".join(locked.headers.get_list("Set-Cookie"))
    assert locked.code == 429
    assert len(store) == 0, "no record for anyone who never logged in"


@pytest.fixture
def store():
    return MemoryStore(max_entries=20)


@pytest.fixture
def app(store, session_config, login_failures):
    return make_lab_app(store, session_config, login_failures=login_failures)


async def test_a_full_memory_store_never_logs_anyone_out_to_make_room(store, new_browser):
    signed_in = [new_browser() for _ in range(5)]
    for person in signed_in:
        assert (await person.login()).code == 303
    for _ in range(100):  # anonymous data, each visitor a new record
        visitor = new_browser()
        assert (await visitor.request("/lab/set", "POST", form={"json": '{"cart": [1]}'})).code == 200
    assert len(store) == 20
    for person in signed_in:
        assert await signed_in_as(person) == "Demo User"


async def test_a_store_full_of_signed_in_sessions_refuses_new_ones_with_503_and_keeps_the_rest(store, new_browser):
    signed_in = [new_browser() for _ in range(20)]
    for person in signed_in:
        assert (await person.login()).code == 303
    late = new_browser()
    refused = await late.login()
    assert refused.code == 503 and refused.headers["Retry-After"] == "5"
    assert "try again" in refused.body.decode().lower()
    assert "session" not in late.cookies
    assert all([await signed_in_as(person) == "Demo User" for person in signed_in])


async def test_the_expiry_index_follows_live_records_not_history(store, new_browser):
    for _ in range(500):
        visitor = new_browser()
        await visitor.request("/lab/set", "POST", form={"json": '{"cart": [1]}'})
        await visitor.request("/lab/destroy", "POST")
    assert len(store) == 0
    assert len(store._expiry_heap) <= 64, "deleted records leave no entries behind for long"
