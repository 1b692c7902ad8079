"""Attacks on the login form: guessing, enumeration, odd credentials and
open redirects. Throttle timing runs on the injected clock."""

from __future__ import annotations

import asyncio
import calendar
import json
import logging
import re
import time
import unicodedata
import urllib.parse

import pytest

from auth import accounts, throttle
from security.conftest import body

pytestmark = pytest.mark.gen_test

XSRF_FIELD = re.compile(r'name="_xsrf" value="[^"]+"')


async def fail(browser, username="demo", times=1):
    for _ in range(times):
        response = await browser.login(username=username, password="wrong")
        assert response.code == 200, "the generic failure page, not yet throttled"


async def test_sixth_attempt_is_refused_with_429_saying_when(browser, clock):
    await fail(browser, times=throttle.FREE_ATTEMPTS)
    response = await browser.login()
    assert response.code == 429
    assert response.headers["Retry-After"] == "30"
    assert "Too many failed attempts for this username. Try again in 30 seconds" in body(response)
    assert 'value="demo"' in body(response), "the form is there to try again later"
    assert "session" not in browser.cookies, "the correct password was refused too"


async def test_back_off_grows_then_is_capped(browser, clock):
    await fail(browser, times=throttle.FREE_ATTEMPTS)
    waits = []
    for _ in range(8):
        refused = await browser.login(password="wrong")
        assert refused.code == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        clock.advance(wait - 1)
        assert (await browser.login(password="wrong")).code == 429, "one second early is still too early"
        clock.advance(1)
        await fail(browser)
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    assert "Try again in 15 minutes" in body(await browser.login())


async def test_the_wait_the_page_states_is_true_and_a_success_then_resets_the_count(browser, clock):
    await fail(browser, times=throttle.FREE_ATTEMPTS)
    refused = await browser.login()
    clock.advance(int(refused.headers["Retry-After"]))
    assert (await browser.login()).code == 303
    await browser.logout()
    await fail(browser, times=throttle.FREE_ATTEMPTS - 1)
    assert (await browser.login()).code == 303, "the count started again from zero"


@pytest.mark.parametrize("late", [0.25, 0.75])
@pytest.mark.parametrize("told_by", ["the page's time", "Retry-After"])
async def test_the_wait_the_page_states_is_never_early_on_a_clock_between_seconds(browser, clock, late, told_by):
    # A real clock is rarely on a whole second: here the lock ends at 08:00:30.25 or .75.
    clock.advance(late)
    await fail(browser, times=throttle.FREE_ATTEMPTS)
    clock.advance(0.7)  # the refused attempt comes a moment later: 29.3 s are left
    refused = await browser.login()
    stated = re.search(r"\(at ([0-9-]+ [0-9:]+) UTC\)", body(refused))[1]
    if told_by == "Retry-After":
        clock.advance(int(refused.headers["Retry-After"]))
    else:
        clock.now = calendar.timegm(time.strptime(stated, "%Y-%m-%d %H:%M:%S"))
    assert (await browser.login()).code == 303, f"told {stated}, Retry-After {refused.headers['Retry-After']}"


async def test_failures_are_forgotten_when_their_counting_window_ends(browser, clock):
    await fail(browser, times=throttle.FREE_ATTEMPTS - 1)
    clock.advance(throttle.FORGET_AFTER.total_seconds() + 1)
    await fail(browser, times=throttle.FREE_ATTEMPTS - 1)
    assert (await browser.login()).code == 303


async def test_throttle_is_per_account_and_unknown_accounts_look_the_same(browser, new_browser):
    await fail(browser, username="demo", times=throttle.FREE_ATTEMPTS)
    await fail(browser, username="nobody", times=throttle.FREE_ATTEMPTS)
    demo = await new_browser().login(password="wrong")
    nobody = await new_browser().login(username="nobody", password="wrong")
    assert demo.code == nobody.code == 429
    assert demo.headers["Retry-After"] == nobody.headers["Retry-After"]
    assert (await new_browser().login(username="other", password="wrong")).code == 200


IP_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Client-Ip", "True-Client-Ip")


async def test_changing_ip_headers_does_not_bypass_the_throttle(new_browser, caplog):
    caplog.set_level(logging.INFO, logger="tornado.access")

    async def attempt(password: str, n: int):
        address = f"203.0.113.{n}"
        headers = {name: address for name in IP_HEADERS} | {"Forwarded": f"for={address}"}
        return await new_browser().post("/login", {"username": "demo", "password": password}, headers=headers)

    for n in range(throttle.FREE_ATTEMPTS):
        assert (await attempt("wrong", n)).code == 200
    assert (await attempt("demo-password", 99)).code == 429
    # The server runs with xheaders=True: the app really saw each address.
    seen = {record.getMessage().split()[-2] for record in caplog.records if "POST /login" in record.getMessage()}
    assert {f"(203.0.113.{n})" for n in (0, 1, 2, 3, 4, 99)} <= seen, seen


async def test_a_burst_of_parallel_guesses_gets_no_more_than_the_free_attempts(new_browser):
    browsers = [new_browser() for _ in range(12)]
    tokens = [await b.xsrf() for b in browsers]
    responses = await asyncio.gather(
        *(
            b.post("/login", {"username": "demo", "password": "wrong", "_xsrf": token})
            for b, token in zip(browsers, tokens, strict=True)
        )
    )
    codes = sorted(r.code for r in responses)
    assert codes.count(200) <= throttle.FREE_ATTEMPTS, codes
    assert set(codes) == {200, 429}


async def test_unknown_user_and_wrong_password_get_identical_answers(new_browser):
    def normalised(response, username):
        return XSRF_FIELD.sub("", body(response)).replace(f'value="{username}"', 'value=""')

    wrong_password = await new_browser().login(username="demo", password="wrong")
    unknown_user = await new_browser().login(username="nobody", password="wrong")
    assert wrong_password.code == unknown_user.code == 200
    assert normalised(wrong_password, "demo") == normalised(unknown_user, "nobody")
    assert sorted(k for k in wrong_password.headers if k not in ("Date", "Content-Length", "Set-Cookie")) == sorted(
        k for k in unknown_user.headers if k not in ("Date", "Content-Length", "Set-Cookie")
    )


async def test_unknown_user_costs_the_same_hash_work(browser, monkeypatch):
    hashed = []
    real_hash = accounts.hash_password
    monkeypatch.setattr(accounts, "hash_password", lambda *args: hashed.append(args) or real_hash(*args))
    await browser.login(username="nobody", password="guess")
    await browser.login(username="demo", password="guess")
    assert len(hashed) == 2


async def test_a_1_mib_password_is_refused_without_hashing_or_counting(app, browser, monkeypatch):
    hashed = []
    monkeypatch.setattr(accounts, "hash_password", lambda *args: hashed.append(args))
    response = await browser.login(password="x" * 2**20)
    assert response.code == 413, "refused before the body is read"
    response = await browser.login(password="x" * 60_000)  # within the body limit
    assert response.code == 400 and "so that one cannot be right" in body(response)
    response = await browser.login(password="demo-password" + " " * accounts.MAX_PASSWORD_BYTES)
    assert response.code == 400
    assert hashed == []
    assert await app.settings["login_failures"].get(throttle.account_key("demo")) == (0, 0.0), "nor counted"


@pytest.mark.parametrize("typed", ["pässwörd ☃ 日本語 🔑", unicodedata.normalize("NFD", "pässwörd ☃ 日本語 🔑")])
async def test_unicode_passwords_work_in_any_normal_form(browser, monkeypatch, typed):
    salt = b"unicode-salt-016"
    password = "pässwörd ☃ 日本語 🔑"
    account = accounts.Account("émile", "Émile", salt, accounts.hash_password(password, salt))
    monkeypatch.setitem(accounts.ACCOUNTS, "émile", account)
    assert (await browser.login(username="émile", password=typed)).code == 303
    assert "Hello, Émile" in body(await browser.get("/dashboard"))


async def test_json_object_credentials_are_not_a_login(browser):
    token = await browser.xsrf()
    for credentials in (
        {"username": "demo", "password": {"$ne": None}},
        {"username": {"$gt": ""}, "password": {"$gt": ""}},
    ):
        response = await browser.request(
            "/login",
            method="POST",
            body=json.dumps(credentials),
            headers={"Content-Type": "application/json", "X-XSRFToken": token},
        )
        assert response.code == 200 and "Wrong username or password." in body(response)
    response = await browser.post("/login", {"username[$ne]": "x", "password[$ne]": "x"})
    assert response.code == 200 and "Wrong username or password." in body(response)
    assert "session" not in browser.cookies


async def test_repeated_form_fields_are_refused(browser):
    token = await browser.xsrf()
    form = f"_xsrf={token}&username=nobody&username=demo&password=demo-password"
    response = await browser.request("/login", method="POST", body=form)
    assert response.code == 400
    assert "session" not in browser.cookies


OPEN_REDIRECTS = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "/ /evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "evil.example",
    "/%5Cevil.example\\",
    "/\u2028/evil.example",
    "/\uff0f\uff0fevil.example",
    "",
]


@pytest.mark.parametrize("next_url", OPEN_REDIRECTS)
async def test_next_never_leaves_the_site(browser, next_url):
    response = await browser.login(next=next_url)
    assert response.code == 303
    assert response.headers["Location"] == "/dashboard"
    redirect = await browser.get("/login?" + urllib.parse.urlencode({"next": next_url}))
    assert redirect.code == 302 and redirect.headers["Location"] == "/dashboard"


@pytest.mark.parametrize("next_url", ["/dashboard?tab=1", "/sessions", "/%2F%2Fevil.example", "/a:b@c"])
async def test_local_next_is_followed(browser, next_url):
    response = await browser.login(next=next_url)
    assert response.headers["Location"] == next_url


async def test_xsrf_token_is_reissued_at_login_and_logout(browser, new_browser):
    before_login = await browser.xsrf()
    login = await browser.login()
    assert any(h.startswith("_xsrf=;") or h.startswith('_xsrf="";') for h in login.headers.get_list("Set-Cookie"))
    assert "_xsrf" not in browser.cookies
    refused = await browser.request("/logout", method="POST", form={"_xsrf": before_login})
    assert refused.code == 403, "a token from before login does not work after it"
    after_login = await browser.xsrf("/dashboard")
    assert (await browser.request("/logout", method="POST", form={"_xsrf": after_login})).code == 303
    assert "_xsrf" not in browser.cookies
    assert (await browser.request("/login", method="POST", form={"_xsrf": after_login})).code == 403
