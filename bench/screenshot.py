"""Takes the README's screenshot, docs/dashboard.png: the site in Debian's
Chromium, logged in as the demo user, at a fixed time so that the picture
changes only when the site does.

.venv/bin/python bench/screenshot.py [--out docs/dashboard.png]

Run by hand after a change to the dashboard's look (tests/browser/test_look.py
checks that it still works).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import tornado.httpserver
import tornado.netutil
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import make_app  # noqa: E402
from auth.clients import describe_client  # noqa: E402
from sessions import MemoryStore, SessionConfig  # noqa: E402

SCREENSHOT_TIME = datetime(2026, 5, 4, 9, 30, tzinfo=UTC).timestamp()
# Without the networking flags Chromium stalls on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
CHROMIUM_ARGS += ["--disable-sync", "--no-first-run", "--disable-quic"]


def serve_site() -> str:
    """The site, on a free loopback port, on an event loop of its own in a daemon thread."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    loop = asyncio.new_event_loop()

    async def listen() -> None:
        config = SessionConfig(clock=lambda: SCREENSHOT_TIME, describe_client=describe_client)
        site = make_app(MemoryStore(), "a key for this screenshot only, never a real site", session_config=config)
        tornado.httpserver.HTTPServer(site).add_sockets(sockets)

    loop.run_until_complete(listen())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return f"http://127.0.0.1:{sockets[0].getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    out = parser.parse_args().out
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs Chromium: apt-get install chromium")
    site = serve_site()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=site, viewport={"width": 1280, "height": 720})
        page.goto("/login")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill("demo-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Demo User")
        page.screenshot(path=out, full_page=True)
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
