"""How the pages look: readable on a phone and a desktop, one stylesheet,
messages that look like what they say; and the script that takes the
README's screenshot still works."""

import struct
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).parents[2]


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


def test_the_screenshot_script_takes_the_dashboard_at_1280_pixels(chromium, tmp_path):
    out = tmp_path / "dashboard.png"
    done = subprocess.run(
        [sys.executable, "bench/screenshot.py", f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">I", header[16:20])[0] == 1280
