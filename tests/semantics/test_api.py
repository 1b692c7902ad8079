"""The Session API on self.session, through real HTTP requests: the dict
interface, regenerate(), destroy(), reload(), touch(), flashes, and what
values and keys it accepts."""

import asyncio
import json
import re

import pytest

from handlers.base import format_time
from semantics.lab import BAD_ITEMS, body, session_id, set_cookies
from sessions import store_key

pytestmark = pytest.mark.gen_test


def set_json(browser, values, path: str = "/lab/set"):
    return browser.request(path, "POST", form={"json": json.dumps(values)})


async def data_of(browser) -> dict:
    return body(await browser.get("/lab/session"))["data"]


async def test_dict_interface_set_get_delete_contains_iterate(browser):
    response = await set_json(browser, {"colour": "blue", "size": 3})
    assert body(response)["is_new"] is True, "not stored until the response"
    assert await data_of(browser) == {"colour": "blue", "size": 3}
    assert body(await browser.get("/lab/session"))["is_new"] is False
    await browser.request("/lab/delete", "POST", form={"json": '["size"]'})
    assert await data_of(browser) == {"colour": "blue"}


async def test_json_values_round_trip_exactly(browser):
    values = {
        "text": "naïve café ☕",
        "ints": [0, -1, 2**63 - 1, -(2**63)],
        "floats": [0.1, -2.5e-300, 1e308],
        "flags": [True, False, None],
        "nested": {"a": [{"b": {"c": []}}], "a-b_c d€": 1},
        "key with spaces and ünïcode": {},
    }
    await set_json(browser, values)
    assert await data_of(browser) == values


async def test_a_change_made_in_place_is_saved(browser, store):
    await set_json(browser, {"cart": ["apple"]})
    await browser.request("/lab/append?key=cart", "POST", form={"json": '"pear"'})
    assert await data_of(browser) == {"cart": ["apple", "pear"]}
    assert store.writes == ["create", "update"]


@pytest.mark.parametrize("kind", BAD_ITEMS)
async def test_values_and_keys_that_cannot_be_stored_are_refused_at_assignment(browser, store, kind):
    response = await browser.request(f"/lab/assign/{kind}", "POST")
    assert response.code == 400
    refused = body(response)
    key = BAD_ITEMS[kind][0]
    if kind.endswith("_key"):
        expected = "TypeError" if "int" in kind else "ValueError"
        assert refused["error"] == expected and "key" in refused["message"]
    else:
        assert refused["error"] == "TypeError" and "session values must be JSON" in refused["message"]
    assert repr(key) in refused["message"], "the message names the key"
    assert len(store) == 0 and "session" not in browser.cookies


@pytest.mark.parametrize(
    "field,value",
    [("user", 123), ("user", ["demo"]), ("user", True), ("remember", 1), ("remember", "yes"), ("remember", None)],
)
async def test_user_must_be_a_string_and_remember_a_bool_at_assignment(browser, store, field, value):
    response = await browser.request(f"/lab/field/{field}", "POST", form={"json": json.dumps(value)})
    assert response.code == 400
    assert body(response)["error"] == "TypeError" and f"session.{field} must be" in body(response)["message"]
    assert len(store) == 0 and "session" not in browser.cookies


async def test_a_string_user_and_a_bool_remember_are_kept(browser):
    await browser.request("/lab/field/user", "POST", form={"json": '"zoë"'})
    await browser.request("/lab/field/remember", "POST", form={"json": "true"})
    assert body(await browser.get("/lab/session"))["user"] == "zoë"


async def test_a_failing_request_keeps_none_of_its_changes(browser):
    await set_json(browser, {"kept": 1})
    assert (await browser.request("/lab/fail", "POST")).code == 500
    assert await data_of(browser) == {"kept": 1}


async def test_repr_names_user_and_keys_but_never_the_id(browser):
    await browser.login()
    await set_json(browser, {"colour": "blue"})
    shown = body(await browser.get("/lab/session"))
    raw_id = session_id(browser.cookies["session"])
    assert shown["repr"] == "<Session user='demo' keys=['_login_form', 'colour']>"
    assert raw_id not in json.dumps(shown)


async def test_regenerate_gives_a_new_id_keeps_data_and_deletes_the_old_record(browser, store):
    await browser.login()
    await set_json(browser, {"colour": "blue"})
    old_id = session_id(browser.cookies["session"])
    response = await browser.request("/lab/regenerate", "POST")
    new_id = session_id(set_cookies(response)["session"].value)
    assert new_id != old_id
    assert store.keys() == [store_key(new_id)]
    shown = body(await browser.get("/lab/session"))
    assert shown["data"]["colour"] == "blue" and shown["user"] == "demo"


async def test_login_regenerates_the_anonymous_session_and_carries_nothing_over(browser, store):
    await set_json(browser, {"cart": [1]})
    anonymous_id = session_id(browser.cookies["session"])
    await browser.login()
    assert session_id(browser.cookies["session"]) != anonymous_id
    assert store_key(anonymous_id) not in store
    assert set(await data_of(browser)) == {"_login_form"}, "only the login's own mark"


async def test_destroy_deletes_the_record_and_clears_the_cookie(browser, new_browser, store):
    await browser.login()
    cookie = browser.cookies["session"]
    response = await browser.request("/lab/destroy", "POST")
    assert set_cookies(response)["session"].value == ""
    assert len(store) == 0
    replay = new_browser()
    replay.cookies["session"] = cookie
    assert body(await replay.get("/lab/session"))["user"] is None


async def test_clear_empties_the_session_and_signs_the_user_out(browser, new_browser, store):
    await browser.login(remember="on")
    await set_json(browser, {"colour": "blue"})
    cookie = browser.cookies["session"]
    shown = body(await browser.request("/lab/clear", "POST"))
    assert shown["data"] == {} and shown["user"] is None
    assert (await browser.get("/dashboard")).code == 302, "signed out"
    assert len(store) == 0, "nothing left to keep: the record went"
    replay = new_browser()
    replay.cookies["session"] = cookie
    assert (await replay.get("/dashboard")).code == 302, "the old cookie signs nobody in"


async def test_reload_drops_unsaved_changes_and_sees_other_requests_writes(browser, app):
    await set_json(browser, {"a": 1})
    gate = app.settings["lab_gate"]
    reloading = asyncio.ensure_future(browser.request("/lab/reload", "POST"))
    await gate.arrived.wait()
    await set_json(browser, {"b": 2})
    gate.opened.set()
    assert body(await reloading)["data"] == {"a": 1, "b": 2}
    assert await data_of(browser) == {"a": 1, "b": 2}


async def test_reload_after_logout_elsewhere_ends_the_session(browser, app, store):
    await browser.login()
    gate = app.settings["lab_gate"]
    reloading = asyncio.ensure_future(browser.request("/lab/reload", "POST"))
    await gate.arrived.wait()
    await browser.logout()
    gate.opened.set()
    response = await reloading
    assert body(response) == {"data": {}, "user": None, "is_new": True, "repr": "<Session user=None keys=[]>"}
    assert set_cookies(response)["session"].value == ""


async def test_touch_writes_last_seen_before_touch_after(browser, store, clock):
    await browser.login()
    clock.advance(5)
    store.writes.clear()
    await browser.request("/lab/touch", "POST")
    assert store.writes == ["touch"]
    record = await store.inner.load(store.keys()[0], clock())
    assert record.last_seen == clock()


async def test_a_flash_is_shown_once_on_the_next_page(browser, store):
    await browser.request("/lab/flash?message=Saved+your+settings&category=success", "POST")
    assert "Saved your settings" in (await browser.get("/")).body.decode()
    assert "Saved your settings" not in (await browser.get("/")).body.decode()
    assert len(store) == 0, "the flash was all this visitor had: nothing is kept"


async def test_the_site_flashes_logout_and_login_errors(browser):
    assert "Wrong username or password." in (await browser.login(password="wrong")).body.decode()
    await browser.login()
    await browser.logout()
    assert "You have been logged out." in (await browser.get("/")).body.decode()
    assert "You have been logged out." not in (await browser.get("/")).body.decode()


async def test_the_dashboard_shows_the_sessions_lifetime(browser, clock, session_config):
    started = clock.now
    await browser.login()
    clock.advance(300)
    page = (await browser.get("/dashboard")).body.decode()
    idle_ends = clock.now + session_config.idle_timeout.total_seconds()
    latest = started + session_config.absolute_timeout.total_seconds()
    shown = dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd[^>]*>([^<]+)</dd>", page))
    assert shown["Started"] == format_time(started)
    assert shown["Last seen"] == "now", "this visit, not the one before"
    assert shown["Ends if idle"] == format_time(idle_ends)
    assert shown["Ends at the latest"] == format_time(latest)
    assert "deleted when the browser closes" in page
    assert "viewed this page <strong>1</strong> time" in page


async def test_the_dashboard_never_shows_an_idle_end_after_the_absolute_one(browser, clock, session_config):
    started = clock.now
    await browser.login()
    end = started + session_config.absolute_timeout.total_seconds()
    while clock.now < end - session_config.idle_timeout.total_seconds() / 2:
        clock.advance(session_config.idle_timeout / 2)
        assert (await browser.get("/dashboard")).code == 200
    page = (await browser.get("/dashboard")).body.decode()
    shown = dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd[^>]*>([^<]+)</dd>", page))
    assert "Ends if idle" not in shown and shown["Ends"] == format_time(end), "one end, said once"
