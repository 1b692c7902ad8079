"""CPU instructions per request, counted by valgrind's callgrind: the same
count on every run, however busy the machine, where requests per second on
a shared machine swing by tens of percent. For comparing two versions of
the code, not for absolute speed.

.venv/bin/python bench/instructions.py                 # the three pages, 300 requests each
.venv/bin/python bench/instructions.py dashboard 500   # one page
.venv/bin/python bench/instructions.py "dashboard on Redis"   # the client side of the Redis path

Each page is served by its own server under callgrind. After a warm-up the
counts are zeroed (callgrind_control), N requests follow one after another on
one connection, and the counts are dumped: divided by N, the cost of one
request, with nothing of the server's start or stop in it.
PYTHONHASHSEED is fixed so that runs hash alike. Needs valgrind.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from load import ROOT, SECRET, Server, free_port, log_in, wait_for_port

WARM_UP = 50
REQUESTS = 300
KEY = f"--cookie-secret={SECRET}"
PAGES = {
    "dashboard": (["app.py", KEY], "/dashboard"),
    "page without a session": (["bench/page_without_session.py", KEY], "/bench/dashboard-without-session"),
    "bare Tornado": (["bench/hello.py"], "/"),
    # Tornado zeroes a buffer of its chunk size for every read; the site reads 4 KiB at a time.
    "bare Tornado, 4 KiB reads": (["bench/hello.py", "--chunk-size=4096"], "/"),
}
# Counted in the site's process only: what redis-server does is not in it.
ON_REDIS = "dashboard on Redis"


def count(script: list[str], path: str, requests: int, cookies: dict[str, str], log_in_first: bool) -> int:
    """Instructions the server ran for `requests` requests after the warm-up."""
    port = free_port()
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, *script, f"--port={port}", "--logging=warning"]
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind", *command],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, server, timeout=300)
            if log_in_first:
                cookies = log_in(port)[0]
            headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for number in range(WARM_UP + requests):
                if number == WARM_UP:
                    callgrind_control("--zero", server.pid)
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                assert response.status == 200, f"{path}: {response.status}"
            callgrind_control("--dump", server.pid)
            report = Path(f"{out}/callgrind.1").read_text()
        finally:
            server.terminate()
            server.wait()
    return int(re.search(r"^summary: (\d+)", report, re.M).group(1))


def callgrind_control(command: str, pid: int) -> None:
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True, timeout=300)


def measure(pages: list[str], requests: int) -> dict[str, float]:
    """Instructions per request of each page."""
    # The page without a session shows the dashboard to a browser that has
    # a signed-in cookie (and the _xsrf one), as in bench/load.py.
    site_port = free_port()
    site = subprocess.Popen(
        [sys.executable, "app.py", f"--port={site_port}", f"--cookie-secret={SECRET}", "--logging=warning"], cwd=ROOT
    )
    try:
        wait_for_port(site_port, site)
        cookies = log_in(site_port)[0]
    finally:
        site.terminate()
        site.wait()
    counts = {}
    for page in pages:
        if page == ON_REDIS:
            counts[page] = count_on_redis(requests)
        else:
            counts[page] = count(*PAGES[page], requests, cookies, log_in_first=page == "dashboard") / requests
    return counts


def count_on_redis(requests: int) -> float:
    port = free_port()  # with --save "" it writes nothing
    redis = Server(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], port
    )
    try:
        script = ["app.py", KEY, f"--session-store=redis://127.0.0.1:{port}/0"]
        return count(script, "/dashboard", requests, {}, log_in_first=True) / requests
    finally:
        redis.stop()


def main() -> None:
    pages = [sys.argv[1]] if len(sys.argv) > 1 else list(PAGES)
    if pages[0] not in (*PAGES, ON_REDIS):
        raise SystemExit(f"pages: {', '.join((*PAGES, ON_REDIS))}")
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else REQUESTS
    started = time.monotonic()
    print("| Page | Instructions per request |\n|---|---:|")
    for page, each in measure(pages, requests).items():
        print(f"| {page} | {each / 1000:,.0f}k |")
    print(f"\n{requests} requests each, after {WARM_UP} to warm up; {time.monotonic() - started:.0f} s in all.")


if __name__ == "__main__":
    main()
