"""Floods must not buy an attacker anything: no lock washed out, no login
table filled against everyone, no memory for anonymous requests, nobody
logged out by a full store, no index that remembers history.

Each guarantee is shown twice: at flood scale on the data structure itself
(thousands of calls, no HTTP, times passed in), and once through the site,
on a table or store made small enough that a few requests fill it."""

from __future__ import annotations

import secrets

import pytest
from conftest import TEST_NOW
from semantics.lab import make_lab_app

from auth import throttle
from auth.login_failures import MemoryLoginFailures
from security.conftest import sign, signed_in_as
from sessions import MemoryStore, SessionRecord, StoreFull

pytestmark = pytest.mark.gen_test

NOW = TEST_NOW
OVER_LONG_PASSWORD = "x" * 2000  # refused at once with 400, counted nowhere
LOCKED = throttle.FREE_ATTEMPTS
FIRST_WAIT = throttle.seconds_to_wait(LOCKED)


def record(user: str | None = None, expires: float = NOW + 3600) -> SessionRecord:
    return SessionRecord({"cart": [1]}, user, NOW, NOW, expires)


def table(size: int) -> MemoryLoginFailures:
    return MemoryLoginFailures(throttle.seconds_to_wait, max_accounts=size)


async def lock(failures: MemoryLoginFailures, account: str, now: float) -> None:
    for _ in range(LOCKED):
        await failures.add(account, now)


@pytest.fixture
def login_failures():
    return table(3)


# A lock, or a count on its way to one, is never washed out by failures under
# other usernames. (tests/test_login_failures.py floods a locked account with
# 10,000 new ones.)


async def test_a_count_on_its_way_to_a_lock_outlasts_a_flood_of_single_failures():
    failures = table(100)
    for _ in range(LOCKED - 1):
        await failures.add("attacked", NOW)
    for n in range(10_000):
        await failures.add(f"made-up-{n}", NOW + 1)
    assert await failures.get("attacked") == (LOCKED - 1, NOW)
    assert len(failures) == 100


async def test_a_locked_account_stays_locked_whatever_is_sent_for_other_usernames(browser, new_browser, login_failures):
    for _ in range(LOCKED):
        await browser.login(password="wrong")
    assert (await browser.login()).code == 429
    flood = new_browser()
    for n in range(6):  # twice the table's size
        assert (await flood.login(username=f"made-up-{n}", password="wrong")).code == 200
    assert (await browser.login()).code == 429, "the lock held"
    assert len(login_failures) == 3, "and the table stayed bounded"


async def test_an_account_part_way_to_its_lock_keeps_its_count_through_a_flood_of_single_failures(
    browser, new_browser, login_failures
):
    for _ in range(LOCKED - 1):
        await browser.login(password="wrong")
    flood = new_browser()
    for n in range(6):
        await flood.login(username=f"made-up-{n}", password="wrong")
    await browser.login(password="wrong")
    assert (await browser.login()).code == 429, "the fifth failure still locked it"


# A table full of running locks keeps every one of them, and counts failures
# under new usernames only in a total that locks nobody: the right password
# of an account outside the table still works.


async def test_a_flood_against_a_table_full_of_locks_keeps_every_lock_and_locks_nobody_new():
    failures = table(100)
    for n in range(100):
        await lock(failures, f"locked-{n}", NOW)
    for n in range(10_000):
        assert await failures.add(f"made-up-{n % 50}", NOW + 1) == (1, NOW + 1), "never a count that locks"
    assert failures.overflow == 10_000
    assert [await failures.get(f"locked-{n}") for n in range(100)] == [(LOCKED, NOW)] * 100
    assert len(failures) == 100
    after = NOW + FIRST_WAIT  # the locks have ended: new accounts are counted again
    for _ in range(LOCKED):
        await failures.add("made-up-0", after)
    assert throttle.seconds_to_wait((await failures.get("made-up-0"))[0]) > 0


async def test_a_table_full_of_locked_accounts_still_lets_a_new_account_in_with_its_right_password(
    new_browser, login_failures
):
    attacker = new_browser()
    for name in ("a", "b", "c"):
        for _ in range(LOCKED):
            assert (await attacker.login(username=name, password="wrong")).code == 200
    visitor = new_browser()
    for _ in range(LOCKED):
        assert (await visitor.login(password="wrong")).code == 200, "counted only in total"
    assert (await visitor.login()).code == 303, "the right password works"
    assert login_failures.overflow >= LOCKED, "its failures were counted in the total"
    for name in ("a", "b", "c"):
        locked = await new_browser().login(username=name, password="anything")
        assert locked.code == 429 and "Too many failed attempts for this username." in locked.body.decode()


async def test_when_the_locks_end_a_full_table_counts_new_accounts_again(new_browser, clock):
    attacker = new_browser()
    for name in ("a", "b", "c"):
        for _ in range(LOCKED):
            assert (await attacker.login(username=name, password="wrong")).code == 200
    refused = await new_browser().login(username="a")
    assert refused.headers["Retry-After"] == "30"
    clock.advance(30)  # as the page said
    for _ in range(LOCKED):
        assert (await new_browser().login(password="wrong")).code == 200
    locked = await new_browser().login()
    assert locked.code == 429 and locked.headers["Retry-After"] == "30", "demo took an ended lock's place"


# A password over 1 KiB is refused before it is hashed or counted: the
# cheapest attempt there is can neither lock an account nor fill the table.


async def test_over_long_passwords_lock_nobody_and_take_no_room(new_browser, login_failures):
    attacker = new_browser()
    for name in ("demo", "a", "b", "c", "d"):
        for _ in range(LOCKED):
            assert (await attacker.login(username=name, password=OVER_LONG_PASSWORD)).code == 400
    assert len(login_failures) == 0 and login_failures.overflow == 0
    assert (await new_browser().login()).code == 303


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
    for _ in range(LOCKED):  # and the throttled login page
        locked = await browser.login(password="wrong")
        assert "session=" not in " ".join(locked.headers.get_list("Set-Cookie"))
    assert locked.code == 429
    assert len(store) == 0, "no record for anyone who never logged in"


# A full MemoryStore pushes out anonymous records, never a signed-in session;
# full of signed-in sessions, it refuses new ones.


@pytest.fixture
def store():
    return MemoryStore(max_entries=4)


@pytest.fixture
def app(store, session_config, login_failures):
    return make_lab_app(store, session_config, login_failures=login_failures)


async def test_a_flood_of_anonymous_records_never_pushes_out_a_signed_in_one():
    store = MemoryStore(max_entries=20)
    for n in range(5):
        await store.create(f"signed-in-{n}", record(user=f"user-{n}"))
    for n in range(10_000):
        assert await store.create(f"anonymous-{n}", record())
    assert len(store) == 20
    assert [(await store.load(f"signed-in-{n}", NOW)).user for n in range(5)] == [f"user-{n}" for n in range(5)]
    assert await store.load("anonymous-9999", NOW) is not None, "the newest anonymous records are the ones kept"


async def test_a_full_memory_store_never_logs_anyone_out_to_make_room(store, new_browser):
    signed_in = [new_browser() for _ in range(2)]
    for person in signed_in:
        assert (await person.login()).code == 303
    for _ in range(10):  # anonymous data, each visitor a new record
        visitor = new_browser()
        assert (await visitor.request("/lab/set", "POST", form={"json": '{"cart": [1]}'})).code == 200
    assert len(store) == 4
    for person in signed_in:
        assert await signed_in_as(person) == "Demo User"


async def test_a_store_full_of_signed_in_records_refuses_a_new_one_and_keeps_them_all():
    store = MemoryStore(max_entries=1_000)
    for n in range(1_000):
        await store.create(f"signed-in-{n}", record(user="demo"))
    with pytest.raises(StoreFull):
        await store.create("late", record())
    assert len(await store.find_by_user("demo", NOW)) == 1_000
    assert await store.load("late", NOW) is None


async def test_a_store_full_of_signed_in_sessions_refuses_new_ones_with_503_and_keeps_the_rest(store, new_browser):
    signed_in = [new_browser() for _ in range(4)]
    for person in signed_in:
        assert (await person.login()).code == 303
    late = new_browser()
    refused = await late.login()
    assert refused.code == 503 and refused.headers["Retry-After"] == "5"
    assert "try again" in refused.body.decode().lower()
    assert "session" not in late.cookies
    assert all([await signed_in_as(person) == "Demo User" for person in signed_in])


# Every index MemoryStore keeps is bounded by its live records, whatever came
# and went before.


async def test_the_expiry_index_follows_live_records_not_history():
    store = MemoryStore()
    for n in range(10_000):
        await store.create(f"visitor-{n}", record())
        await store.delete(f"visitor-{n}")
    assert len(store) == 0
    assert len(store._expiry_heap) <= 64, "deleted records leave no entries behind for long"


async def test_records_that_expired_are_swept_out_of_every_index():
    store = MemoryStore()
    for n in range(10_000):
        await store.create(f"visitor-{n}", record(user=f"user-{n % 7}" if n % 2 else None, expires=NOW + 1 + n))
    assert store.sweep(NOW + 1 + 10_000) == 10_000
    assert (len(store), len(store._expiry_heap), len(store._anonymous), len(store._by_user)) == (0, 0, 0, 0)


async def test_a_session_ended_through_the_site_leaves_nothing_in_the_store(store, new_browser):
    for _ in range(10):  # over twice the store's size: the records come and go
        visitor = new_browser()
        assert (await visitor.request("/lab/set", "POST", form={"json": '{"cart": [1]}'})).code == 200
        assert (await visitor.request("/lab/destroy", "POST")).code == 200
        assert "session" not in visitor.cookies
    assert len(store) == 0
