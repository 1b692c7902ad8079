"""What the pages tell a person about their sessions, in Chromium: the same
facts on every page, each said once, readable on a phone, and a word of why
when a session has ended."""

import re
import time
from datetime import timedelta

from conftest import FakeClock
from playwright.sync_api import Page, expect

ENDED = "Your session has ended: it expired or was signed out elsewhere. Log in again."
# Absolute times ("2026-05-04 09:30:00 UTC") and relative ones ("2 minutes ago").
TIME_VALUE = r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? UTC|\d+ (?:second|minute|hour|day)s? ago|less than a minute ago"
WRAPPED_TIMES = """pattern => {
    const found = [], wrapped = [];
    const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        for (const match of node.data.matchAll(new RegExp(pattern, "g"))) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.bottom)));
            found.push(match[0]);
            if (lines.size > 1) wrapped.push(match[0]);
        }
    }
    return [found, wrapped];
}"""


def signed_in(page: Page, log_in, **options) -> None:
    """Log in and wait for the dashboard, so the clock moves only after it."""
    log_in(page, **options)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Demo User")


def fact(page: Page, label: str):
    """The value beside a label in the dashboard's "This session" list."""
    return page.locator(f"dt:text-is('{label}') + dd")


def session_rows(page: Page):
    return page.get_by_role("table").locator("tbody tr")


def cell(row, label: str):
    return row.locator(f'td[data-label="{label}"]')


def test_the_dashboard_and_the_sessions_page_agree_on_when_this_session_was_last_seen(start_site, new_context, log_in):
    clock = FakeClock()
    page = new_context(base_url=start_site(clock=clock)).new_page()
    signed_in(page, log_in)
    clock.advance(timedelta(minutes=5))
    page.reload()
    on_the_dashboard = fact(page, "Last seen").inner_text()
    page.goto("/sessions")
    expect(cell(session_rows(page).first, "Last seen")).to_have_text(on_the_dashboard)


def test_a_remembered_session_shows_when_it_ends_once(page, log_in):
    log_in(page, remember=True)
    expect(page.get_by_text("kept until the session ends (remember me)")).to_be_visible()
    ends = page.locator("dt", has_text=re.compile("^Ends"))
    expect(ends).to_have_text(["Ends"])
    expect(fact(page, "Ends")).to_have_text(re.compile(TIME_VALUE))


def test_the_header_names_the_user_as_the_heading_does(page, log_in):
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Demo User")
    expect(page.get_by_role("banner").locator(".who")).to_have_text("Signed in as Demo User")


def test_no_time_value_wraps_on_a_phone(start_site, new_context, log_in):
    clock = FakeClock(time.time())  # a remembered session's cookie carries a date the browser checks
    site = start_site(clock=clock)
    phone, laptop = (new_context(base_url=site, viewport={"width": 360, "height": 740}).new_page() for _ in "12")
    signed_in(laptop, log_in, remember=True)
    clock.advance(timedelta(minutes=3))
    signed_in(phone, log_in)
    for path in "/dashboard", "/sessions":
        phone.goto(path)
        found, wrapped = phone.evaluate(WRAPPED_TIMES, TIME_VALUE)
        assert len(found) >= 3, f"no times found on {path}: {found}"
        assert wrapped == [], f"on {path} these break across lines: {wrapped}"
    laptop.goto("/dashboard")
    laptop.set_viewport_size({"width": 360, "height": 740})
    found, wrapped = laptop.evaluate(WRAPPED_TIMES, TIME_VALUE)
    assert found and wrapped == []


def test_two_sessions_from_the_same_kind_of_browser_can_be_told_apart(start_site, new_context, log_in):
    clock = FakeClock()
    # Behind a proxy, as `app.py --xheaders` runs: each browser has its own address.
    site = start_site(xheaders=True, clock=clock)
    addresses = "203.0.113.7", "198.51.100.23", "203.0.113.7"
    laptop, desktop, laptop_again = (
        new_context(base_url=site, extra_http_headers={"X-Forwarded-For": address}).new_page() for address in addresses
    )
    for page in laptop, desktop, laptop_again:
        signed_in(page, log_in)
        clock.advance(timedelta(minutes=2))
    laptop.goto("/sessions")
    rows = session_rows(laptop)
    expect(rows.locator("td:first-child")).to_have_text(
        [
            re.compile(r"^Chrome on Linux, 203\.0\.113\.7\s+This session$"),
            "Chrome on Linux, 203.0.113.7",
            "Chrome on Linux, 198.51.100.23",
        ]
    )
    expect(rows.locator('td[data-label="Last seen"]')).to_have_text(["now", "2 minutes ago", "4 minutes ago"])
    texts = [row.inner_text() for row in rows.all()]
    assert len(set(texts)) == 3, texts


def test_a_session_ended_elsewhere_says_why_on_the_login_page(new_context, log_in):
    laptop, phone = new_context().new_page(), new_context().new_page()
    signed_in(laptop, log_in)
    signed_in(phone, log_in)
    cookies = phone.context.cookies()
    laptop.goto("/sessions")
    laptop.get_by_role("button", name="Sign out all other sessions").click()
    expect(laptop.get_by_role("status")).to_contain_text("Signed out 1 other session.")

    phone.reload()
    expect(phone).to_have_url(re.compile(r"/login\?next=%2Fdashboard&ended=1$"))
    expect(phone.get_by_role("status")).to_have_text(ENDED)
    session = [cookie for cookie in phone.context.cookies() if cookie["name"] == "session"]
    assert session == [cookie for cookie in cookies if cookie["name"] == "session"], "no new session for the message"
    log_in(phone)
    expect(phone).to_have_url(re.compile(r"/dashboard$"))
    expect(phone.get_by_text(ENDED)).to_have_count(0)


def test_an_expired_session_says_why_on_the_login_page(start_site, new_context, log_in):
    clock = FakeClock()
    page = new_context(base_url=start_site(clock=clock)).new_page()
    signed_in(page, log_in)
    clock.advance(timedelta(minutes=31))
    page.goto("/sessions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsessions&ended=1$"))
    expect(page.get_by_role("status")).to_have_text(ENDED)
    page.goto("/login")
    expect(page.get_by_text(ENDED)).to_have_count(0)
