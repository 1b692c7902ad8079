"""Floods must buy an attacker nothing: the real site (python app.py, memory
store) under floods of cheap requests, with its memory measured after each
and the demo account, locked before the floods, checked after them.

.venv/bin/python bench/flood.py            # about 3 minutes
.venv/bin/python bench/flood.py --quick    # 10x fewer requests

Needs wrk (`apt-get install wrk`). Run by hand, not by the tests.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import sys
import time
import urllib.parse

from load import SECRET, Server, free_port, machine, request, wrk

import throttle

CONNECTIONS = 50
OVER_LONG_PASSWORD = "x" * 2000  # counted as a failure, never hashed: the cheapest attempt


def login_form(port: int) -> tuple[dict[str, str], str]:
    """The cookies and _xsrf field of a fresh login page."""
    cookies: dict[str, str] = {}
    _, page = request(port, "GET", "/login", cookies)
    return cookies, re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)


def demo_login(port: int, password: str) -> int:
    cookies, xsrf = login_form(port)
    status, _ = request(port, "POST", "/login", cookies, {"_xsrf": xsrf, "username": "demo", "password": password})
    return status


def flood(site: Server, name: str, count: int, path: str, *, expect: int, rate: float, **options) -> dict:
    """`count` requests of one kind, as fast as wrk sends them; RSS after."""
    sent = errors = 0
    started = time.monotonic()
    while sent < count:
        left = count - sent
        run = wrk(
            f"http://127.0.0.1:{site.port}{path}",
            round(left / rate) + 1,
            stop_after=left,
            expect=expect,
            connections=CONNECTIONS,
            **options,
        )
        sent, errors = sent + run["requests"], errors + run["errors"]
        rate = max(run["rps"], 1.0)
    return {"name": name, "requests": sent, "errors": errors, "seconds": time.monotonic() - started, "rss": site.rss()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    port = free_port()
    site = Server([sys.executable, "app.py", f"--port={port}", f"--cookie-secret={SECRET}", "--logging=warning"], port)
    try:
        for _ in range(throttle.FREE_ATTEMPTS):
            demo_login(port, "wrong")
        locked_before = demo_login(port, "demo-password")
        cookies, xsrf = login_form(port)
        warm = wrk(f"http://127.0.0.1:{port}/", 2, connections=CONNECTIONS)
        rss_start = site.rss()
        form = urllib.parse.urlencode({"_xsrf": xsrf})
        runs = [
            flood(site, "GET / with no cookie", 50_000 // scale, "/", expect=200, rate=warm["rps"]),
            flood(
                site,
                "POST /logout with no session",
                50_000 // scale,
                "/logout",
                expect=303,
                rate=warm["rps"],
                cookies=cookies,
                form_body=form,
            ),
            flood(
                site,
                "failed logins, each a new username, 2 kB password",
                150_000 // scale,
                "/login",
                expect=200,
                rate=warm["rps"],
                cookies=cookies,
                form_body=urllib.parse.urlencode({"_xsrf": xsrf, "password": OVER_LONG_PASSWORD}),
                env_extra={"MADE_UP_USERS": "1"},
            ),
            flood(
                site,
                "POST /login with a 1 MB body",
                2_000 // scale,
                "/login",
                expect=413,
                rate=warm["rps"],
                cookies=cookies,
                form_body=form,
                env_extra={"BODY_BYTES": str(2**20)},
            ),
        ]
        # The lock itself lasts 30 s, shorter than the floods: what must
        # survive them is the count. One more wrong password locks a
        # counted account again at once; a washed-out one would let the
        # right password in.
        demo_login(port, "wrong")
        locked_after = demo_login(port, "demo-password")
    finally:
        site.stop()
    print(f"\n{datetime.date.today()}: {machine()}. python app.py (memory store), wrk -t1 -c{CONNECTIONS}.\n")
    print("| Flood | Requests | Errors | Requests/s | Server RSS after |")
    print("|---|---:|---:|---:|---:|")
    print(f"| (start, after warming up) | | | | {rss_start / 2**20:.1f} MiB |")
    for run in runs:
        print(
            f"| {run['name']} | {run['requests']:,} | {run['errors']} | {run['requests'] / run['seconds']:,.0f} "
            f"| {run['rss'] / 2**20:.1f} MiB |"
        )
    print(
        f"\nThe demo account, locked by {throttle.FREE_ATTEMPTS} wrong passwords before the floods: the right "
        f"password answered {locked_before} before and {locked_after} after (429 = still locked)."
    )
    print("Errors: answers other than the one expected (200, 303, 200, 413) plus socket errors.")


if __name__ == "__main__":
    main()
