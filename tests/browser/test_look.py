"""How the pages look: readable on a phone and a desktop, one stylesheet,
messages that look like what they say. Also takes the README's screenshot."""

from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import expect

SCREENSHOT = Path(__file__).parents[2] / "docs" / "dashboard.png"
# A fixed time, so the screenshot changes only when the site does.
SCREENSHOT_TIME = datetime(2026, 5, 4, 9, 30, tzinfo=UTC).timestamp()


def test_no_page_scrolls_sideways_on_a_phone_a_tablet_or_a_desktop(new_context, log_in):
    page = new_context().new_page()

    def check(path: str) -> None:
        page.goto(path)
        for width in 360, 700, 900, 1280:
            page.set_viewport_size({"width": width, "height": 740})
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways at {width} px"

    for path in "/", "/login", "/no-such-page":
        check(path)
    log_in(new_context().new_page())  # so the sessions page has a row with a button
    log_in(page)
    for path in "/", "/dashboard", "/sessions":
        check(path)


def test_one_stylesheet_with_the_system_font_and_no_inline_styles(page):
    page.goto("/")
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
    expect(page.locator("style, [style]")).to_have_count(0)
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert font.startswith("system-ui")


def test_flash_messages_look_like_what_they_say(page, log_in):
    def colours(flash) -> tuple[str, str, str]:
        return tuple(
            flash.evaluate("e => ['color', 'backgroundColor', 'borderLeftColor'].map(p => getComputedStyle(e)[p])")
        )

    log_in(page, password="wrong")
    error = colours(page.get_by_role("alert"))
    log_in(page)
    page.get_by_role("button", name="Log out").click()
    success = colours(page.get_by_role("status"))
    plain = colours(page.get_by_role("main"))
    assert len({error, success, plain}) == 3, "an error, a success and plain text should each look different"
    assert "rgba(0, 0, 0, 0)" not in error + success, "flash messages have a background of their own"


def test_dashboard_screenshot_for_the_readme(start_site, new_context, log_in):
    context = new_context(base_url=start_site(clock=lambda: SCREENSHOT_TIME), viewport={"width": 1280, "height": 720})
    page = context.new_page()
    log_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Demo User")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
