"""What the pages say, over HTTP: each fact about a session is told once, the
same way on every page, and none of them shows a secret."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from conftest import COOKIE_SECRET
from tornado.web import decode_signed_value

from handlers.base import format_time
from sessions import store_key

pytestmark = pytest.mark.gen_test

ENDED = "Your session has ended: it expired or was signed out elsewhere. Log in again."


def text(fragment: str) -> str:
    """What a person reads in a piece of HTML."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def facts(page: str) -> dict[str, str]:
    """The dashboard's "This session" list, label -> value."""
    return {text(label): text(value) for label, value in re.findall(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", page)}


def session_rows(page: str) -> list[dict[str, str]]:
    """The Active sessions table, one dict per session, this one first."""
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)[1:]
    return [
        {"Client": text(re.search(r"<td>(.*?)</td>", row, re.S).group(1))}
        | {label: text(value) for label, value in re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)}
        for row in rows
    ]


async def page(browser, path: str) -> str:
    response = await browser.get(path)
    assert response.code == 200, (path, response.code)
    return response.body.decode()


async def test_the_dashboard_and_the_sessions_page_agree_on_when_this_session_was_last_seen(browser, clock):
    await browser.login()
    await browser.get("/dashboard")
    clock.advance(timedelta(minutes=5))
    dashboard = facts(await page(browser, "/dashboard"))
    [this_session] = session_rows(await page(browser, "/sessions"))
    assert dashboard["Last seen"] == this_session["Last seen"]


async def test_another_session_says_how_long_ago_it_was_last_seen(browser, new_browser, clock):
    await browser.login()
    clock.advance(timedelta(minutes=3))
    phone = new_browser()
    await phone.login()
    clock.advance(timedelta(minutes=2, seconds=30))
    this_session, other = session_rows(await page(browser, "/sessions"))
    assert other["Last seen"].endswith("2 minutes ago")
    assert other["Started"] == format_time(clock.now - 150)
    assert this_session["Started"] == format_time(clock.now - 330)


@pytest.mark.parametrize("remember", [False, True], ids=["browser-session", "remember-me"])
async def test_the_dashboard_shows_each_end_of_the_session_once(browser, clock, session_config, remember):
    started = clock.now
    await browser.login(**({"remember": "on"} if remember else {}))
    clock.advance(timedelta(minutes=5))
    shown = facts(await page(browser, "/dashboard"))
    ends = {label: value for label, value in shown.items() if label.startswith("Ends")}
    assert len(set(ends.values())) == len(ends), f"the same date twice: {ends}"
    if remember:
        assert ends == {"Ends": format_time(started + session_config.remember_timeout.total_seconds())}
    else:
        assert ends == {
            "Ends if idle": format_time(clock.now + session_config.idle_timeout.total_seconds()),
            "Ends at the latest": format_time(started + session_config.absolute_timeout.total_seconds()),
        }


async def test_the_header_and_the_heading_name_the_user_alike(browser):
    await browser.login()
    dashboard = await page(browser, "/dashboard")
    heading = text(re.search(r"<h1>(.*?)</h1>", dashboard).group(1))
    header = text(re.search(r'<span class="who">(.*?)</span>', dashboard).group(1))
    assert heading == "Hello, Demo User"
    assert header == "Signed in as Demo User"


async def ended_login_page(browser, store, before: int) -> str:
    """Follow a protected page's redirect, checking the visitor costs nothing."""
    cookie = browser.cookies["session"]
    response = await browser.get("/dashboard")
    assert response.code == 302
    location = response.headers["Location"]
    assert location.startswith("/login?") and "next=%2Fdashboard" in location
    login = await browser.get(location)
    assert login.code == 200
    assert "session" not in str(response.headers.get_list("Set-Cookie") + login.headers.get_list("Set-Cookie"))
    assert browser.cookies["session"] == cookie and len(store) == before, "the message stores nothing"
    return login.body.decode()


async def test_a_session_ended_elsewhere_says_why_on_the_login_page(browser, new_browser, store):
    await browser.login()
    phone = new_browser()
    await phone.login()
    await phone.post("/sessions/revoke-others", xsrf_from="/sessions")
    assert ENDED in await ended_login_page(browser, store, before=1)


async def test_an_expired_session_says_why_on_the_login_page(browser, store, clock, session_config):
    await browser.login()
    clock.advance(session_config.idle_timeout)
    assert ENDED in await ended_login_page(browser, store, before=0)


async def test_a_visitor_who_never_logged_in_is_not_told_a_session_ended(browser, store):
    response = await browser.get("/dashboard")
    assert response.headers["Location"] == "/login?next=%2Fdashboard"
    assert ENDED not in await page(browser, response.headers["Location"])
    browser.cookies["session"] = "not-a-cookie-this-site-signed"
    response = await browser.get("/dashboard")
    assert response.headers["Location"] == "/login?next=%2Fdashboard"
    assert len(store) == 0


async def test_after_a_logout_the_login_page_does_not_say_the_session_ended(browser):
    await browser.login()
    await browser.logout()
    response = await browser.get("/dashboard")
    assert response.headers["Location"] == "/login?next=%2Fdashboard"


async def test_no_page_shows_a_session_id_or_cookie_value(browser, new_browser, clock):
    phone = new_browser()
    await phone.login()
    await browser.login(password="wrong")
    answers = [await browser.login()]
    for path in ["/", "/dashboard", "/sessions", "/login", "/no-such-page", "/sessions/0/revoke"]:
        answers.append(await browser.get(path))
    answers.append(await browser.post("/sessions/revoke-others", xsrf_from="/sessions"))
    answers.append(await browser.get("/sessions"))
    clock.advance(timedelta(hours=9))
    answers.append(await browser.get("/dashboard"))
    answers.append(await browser.get(answers[-1].headers["Location"]))
    secrets = []
    for cookie in browser.cookies["session"], phone.cookies["session"]:
        session_id = decode_signed_value(COOKIE_SECRET, "session", cookie.strip('"'), min_version=2).decode()
        secrets += [cookie.strip('"'), session_id, store_key(session_id)]
    for answer in answers:
        shown = answer.body.decode() + answer.headers.get("Location", "")
        assert not [secret for secret in secrets if secret in shown], answer.effective_url
