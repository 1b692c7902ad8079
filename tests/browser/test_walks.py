"""What a person does with the site, in Chromium: log in, look around, log out.

Every test also fails on any console error or failed request (see conftest).
"""

import re
import time

from playwright.sync_api import expect

HELLO = "Hello, Demo User"


def test_home_to_login_to_dashboard(page, log_in):
    page.goto("/")
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO)
    header = page.get_by_role("banner")
    expect(header).to_contain_text("Signed in as Demo User")
    expect(header.get_by_role("button", name="Log out")).to_be_visible()
    expect(header.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")


def test_wrong_password_says_so_and_keeps_the_username(page, log_in):
    log_in(page, password="not-the-password")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Username")).to_have_value("demo")
    expect(page.get_by_label("Password")).to_have_value("")
    # The username is kept, so the cursor waits where the next thing to type is.
    expect(page.get_by_label("Password")).to_be_focused()
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO)


def test_the_counter_goes_up_on_reload(page, log_in):
    log_in(page)
    counter = page.get_by_text("You have viewed this page")
    expect(counter).to_have_text("You have viewed this page 1 time in this session.")
    page.reload()
    expect(counter).to_have_text("You have viewed this page 2 times in this session.")
    page.reload()
    expect(counter).to_have_text("You have viewed this page 3 times in this session.")


def test_next_brings_you_back_to_the_page_you_asked_for(page, log_in):
    page.goto("/sessions")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsessions$"))
    log_in(page)
    expect(page).to_have_url(re.compile(r"/sessions$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Active sessions")


def session_cookie(context) -> dict:
    [cookie] = [cookie for cookie in context.cookies() if cookie["name"] == "session"]
    return cookie


def test_remember_me_makes_the_cookie_outlive_the_browser(new_context, log_in):
    forgetful, remembered = new_context(), new_context()
    log_in(forgetful.new_page())
    remembering_page = remembered.new_page()
    log_in(remembering_page, remember=True)
    expect(remembering_page.get_by_text("kept until the session ends (remember me)")).to_be_visible()

    assert session_cookie(forgetful)["expires"] == -1, "a browser-session cookie has no expiry"
    days_left = (session_cookie(remembered)["expires"] - time.time()) / 86400
    # Cookie dates have whole seconds, which can put the expiry a second past 14 days.
    assert 13.9 < days_left <= 14 + 2 / 86400
    for context in forgetful, remembered:
        cookie = session_cookie(context)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_after_logout_back_does_not_show_the_dashboard(page, log_in):
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")

    # no-store keeps the page out of every cache, the back/forward cache
    # included, so Back asks the server, which now sends a login form.
    with page.expect_request(re.compile(r"/dashboard$")):
        page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdashboard$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    expect(page.get_by_text(HELLO)).to_have_count(0)


def test_ending_a_session_from_the_sessions_page_signs_that_browser_out(new_context, log_in):
    laptop, phone = new_context().new_page(), new_context().new_page()
    log_in(laptop)
    log_in(phone)
    expect(phone.get_by_role("heading", level=1)).to_have_text(HELLO)

    laptop.goto("/sessions")
    rows = laptop.get_by_role("row")
    expect(rows).to_have_count(3)  # the header, this session, the phone's
    laptop.get_by_role("button", name="End this session").click()
    expect(laptop.get_by_role("button", name="End this session")).to_have_count(0)

    phone.reload()
    expect(phone).to_have_url(re.compile(r"/login\?next=%2Fdashboard&ended=1$"))
    laptop.goto("/dashboard")
    expect(laptop.get_by_role("heading", level=1)).to_have_text(HELLO)


def test_sign_out_all_other_sessions(new_context, log_in):
    here, *elsewhere = [new_context().new_page() for _ in range(3)]
    for page in here, *elsewhere:
        log_in(page)
    here.goto("/sessions")
    expect(here.get_by_role("button", name="End this session")).to_have_count(2)
    here.get_by_role("button", name="Sign out all other sessions").click()
    expect(here.get_by_role("button", name="End this session")).to_have_count(0)
    for page in elsewhere:
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    here.reload()
    expect(here.get_by_role("heading", level=1)).to_have_text("Active sessions")


def test_repeated_failures_get_a_429_page_that_says_when_to_retry(page, log_in):
    for _ in range(5):
        log_in(page, password="guess")
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    with page.expect_response(re.compile(r"/login$")) as answer:
        log_in(page)  # even the right password waits out the back-off
    assert answer.value.status == 429
    assert answer.value.headers["retry-after"].isdigit()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts")
    expect(page.get_by_role("alert")).to_contain_text("Try again in")
    expect(page.get_by_label("Username")).to_have_value("demo")
    expect(page.get_by_text(HELLO)).to_have_count(0)


def test_keyboard_only_login(page):
    page.goto("/login")
    username = page.get_by_label("Username")
    expect(username).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("demo-password")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Remember me")).to_be_focused()
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Log in")
    expect(button).to_be_focused()
    outline = button.evaluate("b => [getComputedStyle(b).outlineStyle, parseFloat(getComputedStyle(b).outlineWidth)]")
    assert outline[0] != "none" and outline[1] >= 2, f"the focused button shows no outline: {outline}"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO)


def test_the_console_check_catches_a_content_security_policy_violation(page, watcher):
    page.goto("/")
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("document.body.setAttribute('style', 'color: red')")
    assert any("Content Security Policy" in problem for problem in watcher.problems)
    watcher.problems.clear()
