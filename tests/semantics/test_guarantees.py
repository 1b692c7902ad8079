"""The eight guarantees of sessions/, one test (or a few) each, through real
HTTP requests against the site's app (plus the lab's test-only handlers)."""

import asyncio
import dataclasses
import gc
import hashlib
import logging
import secrets
from datetime import timedelta

import pytest
import tornado.web
from conftest import COOKIE_SECRET, TEST_NOW

from semantics.lab import Gate, RecordingStore, body, make_lab_app, session_id, set_cookies
from sessions import SessionConfig, store_key

pytestmark = pytest.mark.gen_test


def set_json(browser, values: str, path: str = "/lab/set"):
    return browser.request(path, "POST", form={"json": values})


# 1. The write completes before the response is sent.


async def test_1_login_response_arrives_only_after_the_session_is_stored(browser, store):
    store.delay = 0.05
    response = await browser.login()
    assert response.code == 303
    assert store.writes == ["create"] and len(store) == 1, "the record exists when the redirect arrives"
    dashboard = await browser.get(response.headers["Location"])
    assert dashboard.code == 200 and "Hello, Demo User" in dashboard.body.decode()


async def test_1_logout_response_arrives_only_after_the_record_is_deleted(browser, store):
    await browser.login()
    old_key = store_key(session_id(browser.cookies["session"]))
    store.delay = 0.05
    await browser.logout()
    assert old_key not in store


async def test_1_a_browser_that_leaves_during_the_save_still_gets_its_session_saved(
    http_server, base_url, store, caplog
):
    store.create_gate = Gate()
    host, port = base_url.split("//")[1].split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    form = b"json=%7B%22a%22%3A+1%7D"
    writer.write(
        b"POST /lab/set HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
    )
    await store.create_gate.arrived.wait()
    writer.close()
    await writer.wait_closed()
    store.create_gate.opened.set()
    while not store.writes:
        await asyncio.sleep(0)
    # Let the handler answer the closed connection, then collect it, which
    # is when asyncio reports a task's unhandled error.
    for _ in range(10):
        await asyncio.sleep(0)
    gc.collect()
    assert len(store) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_1_a_failed_save_is_a_503_page_and_the_stored_session_is_kept(browser, store):
    await browser.login()
    await browser.get("/dashboard")
    store.failing_writes = True
    response = await browser.get("/dashboard")
    assert response.code == 503 and response.headers["Retry-After"]
    assert "try again" in response.body.decode().lower()
    store.failing_writes = False
    page = (await browser.get("/dashboard")).body.decode()
    assert "Hello, Demo User" in page and "viewed this page <strong>2</strong> times" in page


# 2. No write for an unchanged session, except one touch per touch_after.


async def test_2_unchanged_requests_write_nothing_until_touch_after(browser, store, clock, session_config):
    await browser.login()
    await browser.get("/dashboard")
    store.writes.clear()
    for _ in range(3):
        response = await browser.get("/")
        assert response.code == 200 and "session" not in set_cookies(response)
    clock.advance(session_config.touch_after - timedelta(seconds=1))
    await browser.get("/")
    assert store.writes == []

    clock.advance(1)
    touched = await browser.get("/")
    assert store.writes == ["touch"]
    assert "session" in set_cookies(touched), "a write refreshes the cookie with the current settings"
    await browser.get("/")
    await browser.get("/")
    assert store.writes == ["touch"]
    clock.advance(session_config.touch_after)
    await browser.get("/")
    assert store.writes == ["touch", "touch"]


async def test_2_assigning_the_same_value_again_writes_nothing(browser, store):
    await set_json(browser, '{"colour": "blue"}')
    store.writes.clear()
    await set_json(browser, '{"colour": "blue"}')
    assert store.writes == []


# 3. Dirty keys: concurrent requests changing different keys both keep them.


async def test_3_concurrent_requests_changing_different_keys_keep_both_changes(browser, store):
    await set_json(browser, '{"start": 0, "a": 0}')
    # Each save waits until both requests are saving: both loaded the session
    # before either wrote it.
    store.barrier = asyncio.Barrier(2)
    store.delay = 0.01
    first, second = await asyncio.gather(set_json(browser, '{"a": 1}'), set_json(browser, '{"b": 2}'))
    assert first.code == second.code == 200
    assert body(await browser.get("/lab/session"))["data"] == {"start": 0, "a": 1, "b": 2}

    deleted, added = await asyncio.gather(
        browser.request("/lab/delete", "POST", form={"json": '["a"]'}), set_json(browser, '{"c": 3}')
    )
    assert deleted.code == added.code == 200
    assert body(await browser.get("/lab/session"))["data"] == {"start": 0, "b": 2, "c": 3}


async def test_3_the_same_key_set_by_two_requests_keeps_the_value_saved_last(browser, app):
    await set_json(browser, '{"theme": "light", "other": 1}')
    gate = app.settings["lab_gate"]
    # The slow request has loaded the session; the quick one sets the same key and saves first.
    slow = asyncio.ensure_future(set_json(browser, '{"theme": "blue"}', "/lab/set?wait=1"))
    await gate.arrived.wait()
    assert (await set_json(browser, '{"theme": "dark"}')).code == 200
    gate.opened.set()
    assert (await slow).code == 200
    data = body(await browser.get("/lab/session"))["data"]
    assert data == {"theme": "blue", "other": 1}, "plain assignment: the last save wins, whole, and nothing else moves"


# 4. Strict IDs, and only digests in the store.


def planted_cookie(planted_id: str) -> str:
    return tornado.web.create_signed_value(
        COOKIE_SECRET, "session", planted_id, version=2, clock=lambda: TEST_NOW
    ).decode()


async def test_4_a_validly_signed_unknown_id_is_never_adopted(browser, store):
    planted = secrets.token_urlsafe(32)
    browser.cookies["session"] = planted_cookie(planted)
    visit = await browser.get("/lab/session")
    assert body(visit)["is_new"] is True
    assert "session" not in set_cookies(visit), "left alone: clearing it could delete a newer login's cookie"

    browser.cookies["session"] = planted_cookie(planted)
    response = await set_json(browser, '{"cart": [1]}')
    issued = session_id(set_cookies(response)["session"].value)
    assert issued != planted
    assert store.keys() == [store_key(issued)]

    browser.cookies["session"] = planted_cookie(planted)
    await browser.login()
    logged_in = session_id(browser.cookies["session"])
    assert logged_in not in (planted, issued)
    assert store_key(planted) not in store and planted not in store


async def test_4_the_store_holds_only_sha256_digests_of_ids(browser, store):
    await browser.login()
    await browser.get("/dashboard")
    raw_id = session_id(browser.cookies["session"])
    assert store.keys() == [hashlib.sha256(raw_id.encode()).hexdigest()]
    assert raw_id not in repr(store.inner._rows)


# 5. Expired sessions are never served, even while still in the store.


@pytest.fixture
def lazy_store():
    return RecordingStore(lazy=True)


@pytest.fixture
def lazy_browser(servers, lazy_store, session_config):
    return servers.start(make_lab_app(lazy_store, session_config))()


async def user_of(browser) -> str | None:
    return body(await browser.get("/lab/session"))["user"]


async def test_5_idle_timeout_boundary_and_touch_extending_it(lazy_browser, clock, session_config):
    await lazy_browser.login()
    idle, second = session_config.idle_timeout, timedelta(seconds=1)
    clock.advance(idle - second)
    assert await user_of(lazy_browser) == "demo", "served 1 s before the idle timeout (and touched)"
    clock.advance(idle - second)
    assert await user_of(lazy_browser) == "demo", "the touch moved the idle expiry on"
    clock.advance(idle)
    cookie = lazy_browser.cookies["session"]
    expired = await lazy_browser.get("/lab/session")
    assert body(expired)["user"] is None and body(expired)["is_new"] is True
    assert "session" not in set_cookies(expired)
    lazy_browser.cookies["session"] = cookie
    assert (await lazy_browser.get("/dashboard")).code == 302


async def test_5_absolute_timeout_wins_over_touches_at_its_boundary(lazy_browser, lazy_store, clock, session_config):
    start = clock.now
    await lazy_browser.login()
    step = session_config.idle_timeout - timedelta(minutes=1)
    while clock.now + step.total_seconds() < start + session_config.absolute_timeout.total_seconds():
        clock.advance(step)
        assert await user_of(lazy_browser) == "demo"
    clock.now = start + session_config.absolute_timeout.total_seconds() - 1
    assert await user_of(lazy_browser) == "demo", "served 1 s before the absolute timeout"
    clock.advance(1)
    assert await user_of(lazy_browser) is None, "not served at the absolute timeout, though touched recently"
    assert len(lazy_store) == 1, "the lazy store still holds it: the server refused it by itself"


async def test_5_remember_me_gets_a_persistent_cookie_and_the_longer_timeout(lazy_browser, clock, session_config):
    start = clock.now
    response = await lazy_browser.login(remember="on")
    cookie = set_cookies(response)["session"]
    remember = session_config.remember_timeout.total_seconds()
    assert cookie["expires"] == tornado.httputil.format_timestamp(start + remember)
    clock.advance(session_config.absolute_timeout + timedelta(hours=1))
    assert await user_of(lazy_browser) == "demo", "past the usual idle and absolute timeouts"
    clock.now = start + remember - 1
    assert await user_of(lazy_browser) == "demo"
    clock.advance(1)
    assert await user_of(lazy_browser) is None


async def test_5_a_changed_cookie_setting_reaches_existing_sessions_within_touch_after(
    servers, lazy_store, session_config, clock
):
    old_app = servers.start(make_lab_app(lazy_store, session_config))
    new_app = servers.start(make_lab_app(lazy_store, dataclasses.replace(session_config, same_site="Strict")))
    browser = old_app()
    assert set_cookies(await browser.login())["session"]["samesite"] == "Lax"

    on_new_app = new_app()
    on_new_app.cookies = dict(browser.cookies)
    assert "session" not in set_cookies(await on_new_app.get("/dashboard")), "not signed again on every write"
    clock.advance(session_config.touch_after)
    dashboard = await on_new_app.get("/dashboard")
    assert dashboard.code == 200
    assert set_cookies(dashboard)["session"]["samesite"] == "Strict", "the cookie is re-sent with today's settings"


async def test_5_a_changed_timeout_reaches_existing_sessions(servers, lazy_store, session_config, clock):
    old_app = servers.start(make_lab_app(lazy_store, session_config))
    shorter = SessionConfig(clock=clock, idle_timeout=timedelta(minutes=10), touch_after=timedelta(hours=1))
    new_app = servers.start(make_lab_app(lazy_store, shorter))
    browser = old_app()
    await browser.login()
    on_new_app = new_app()
    on_new_app.cookies = dict(browser.cookies)
    assert (await on_new_app.get("/dashboard")).code == 200

    clock.advance(timedelta(minutes=10) - timedelta(seconds=1))
    assert await user_of(on_new_app) == "demo"
    clock.advance(1)
    assert await user_of(on_new_app) is None, "idle for the new config's 10 minutes: over"

    browser = old_app()
    await browser.login()
    clock.advance(timedelta(minutes=10))
    on_new_app.cookies = dict(browser.cookies)
    assert await user_of(on_new_app) is None
    assert await user_of(browser) == "demo", "the same record: the old app's 30 minutes still apply there"


# 6. A slow request finishing after logout does not bring the session back.


async def test_6_a_slow_request_finishing_after_logout_does_not_revive_the_session(browser, new_browser, store, app):
    await browser.login()
    old_cookie = browser.cookies["session"]
    old_key = store_key(session_id(old_cookie))
    gate = app.settings["lab_gate"]
    slow = asyncio.ensure_future(set_json(browser, '{"late": true}', "/lab/set?wait=1"))
    await gate.arrived.wait()
    assert (await browser.logout()).code == 303
    assert old_key not in store

    gate.opened.set()
    assert (await slow).code == 200
    assert old_key not in store
    assert all("late" not in row.data for row in store.inner._rows.values())
    replay = new_browser()
    replay.cookies["session"] = old_cookie
    assert (await replay.get("/dashboard")).code == 302


# 7. Anonymous visitors who store nothing: no cookie, no record.


async def test_7_anonymous_visitors_get_no_session_cookie_and_no_record(browser, store):
    for path, status in [("/", 200), ("/login", 200), ("/dashboard", 302), ("/no-such-page", 404)]:
        response = await browser.get(path)
        assert response.code == status
        assert "session" not in set_cookies(response), path
    await browser.login(password="wrong")
    assert "session" not in browser.cookies
    assert len(store) == 0 and store.writes == []


async def test_7_save_uninitialized_stores_every_visitor(servers, clock):
    store = RecordingStore()
    open_browser = servers.start(make_lab_app(store, SessionConfig(clock=clock, save_uninitialized=True)))()
    response = await open_browser.get("/")
    assert "session" in set_cookies(response)
    assert len(store) == 1
    await open_browser.get("/")
    assert len(store) == 1 and store.writes == ["create"]


# 8. Session IDs never appear in logs, pages or URLs.


async def test_8_session_ids_never_appear_in_logs_pages_or_urls(browser, store, caplog):
    for name in ("tornado.access", "tornado.application", "tornado.general", "sessions", "app", ""):
        caplog.set_level(logging.DEBUG, logger=name)
    responses, secrets_seen = [], set()

    async def visit(call):
        response = await call
        responses.append(response)
        for cookie in [*set_cookies(response).values()]:
            if cookie.key == "session" and cookie.value:
                secrets_seen.update({cookie.value, session_id(cookie.value)})
        return response

    await visit(browser.login(password="wrong"))
    await visit(browser.login())
    await visit(browser.get("/dashboard"))
    await visit(browser.request("/lab/flash?message=hello", "POST"))
    await visit(browser.get("/lab/session"))
    await visit(browser.get("/no-such-page"))
    await visit(browser.request("/lab/fail", "POST"))
    store.failing = True
    unavailable = await visit(browser.get("/dashboard"))
    store.failing = False
    await visit(browser.logout())
    await visit(browser.get("/"))

    assert unavailable.code == 503 and unavailable.headers["Retry-After"]
    assert any(r.levelno >= logging.ERROR for r in caplog.records), "the failing handler was logged"
    assert len(secrets_seen) >= 4, "two sessions (login, logout's flash): cookie values and IDs"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in secrets_seen:
        assert secret not in logged
        for response in responses:
            assert secret not in response.body.decode()
            assert secret not in response.headers.get("Location", "")
            assert secret not in response.effective_url
