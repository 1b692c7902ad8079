"""Floods a visitor can send cheaply, thrown at `python app.py` (memory
store), and what they buy the attacker: nothing, if memory stays flat, the
demo account locked before the floods stays locked, and a real login still
gets an answer at once.

1. cheap requests under wrk: cookie-less GETs, logouts with no session,
   logins each under a new username with an over-long password (refused
   at once, 400, counted nowhere);
   the server's RSS after each;
2. bodies: 8 clients at once, each declaring and pushing a 50 MB POST body,
   again and again; RSS sampled all along;
3. logins: 100 clients sending wrong passwords under made-up usernames as
   fast as they are answered, while a real user logs in twice a second;
4. the login cases (also alone, with --logins):
   a. the failure table filled with locked accounts (--login-failure-table=2000,
      2,000 made-up usernames x 5 failures): does the demo account's right
      password still work, and does an account locked before stay locked?
   b. a 64-connection login flood on Redis while the real user logs in with
      the right password: is any of its logins refused by the throttle (429)
      afterwards, counted while the server answered 503?
   c. 24 connections from three addresses behind --xheaders (X-Forwarded-For),
      and the same without --xheaders: how often does a user at a fourth
      address get in?
5. bodies held open: 10,000 connections at once, each sending all but the
   last byte of a 65,000-byte body; the server's RSS at its peak, with the
   defaults, without the body timeout, and without the body memory budget;
6. slow bodies at the connection cap: 60 of them at a 64-file limit, while
   20 real requests come;
7. workers: --processes=2, six kills of one worker, then both at once: how
   long until the site answers, and what a connection gets meanwhile.

.venv/bin/python bench/floods.py                  # about 7 minutes; prints Markdown
.venv/bin/python bench/floods.py --quick          # about 3 minutes, to see that it works
.venv/bin/python bench/floods.py --logins         # 4 only, about a minute
.venv/bin/python bench/floods.py --serving-only   # 5 to 7 only, about 3 minutes

Needs wrk (`apt-get install wrk`). Run by hand, not by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import http.client
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import sys
import threading
import time
import tracemalloc
import urllib.parse

from load import ROOT, SECRET, Server, children, free_port, machine, request, wrk

sys.path.insert(0, str(ROOT))
from auth import throttle
from auth.login_failures import MemoryLoginFailures

BODY_BYTES = 50_000_000
CONNECTIONS = 50
OVER_LONG_PASSWORD = "x" * 2000  # refused at once (400), neither hashed nor counted: the cheapest request


def fresh_login_form(port: int) -> tuple[dict[str, str], str]:
    """The cookies and _xsrf field of a fresh login page."""
    cookies: dict[str, str] = {}
    _, page = request(port, "GET", "/login", cookies)
    return cookies, re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)


def demo_login(port: int, password: str) -> int:
    cookies, xsrf = fresh_login_form(port)
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


def push_a_large_body(port: int) -> tuple[str, int]:
    """The status line the server answered, and how many body bytes it took first."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % BODY_BYTES)
        block = b"a" * 65536
        with contextlib.suppress(OSError):
            while sent < BODY_BYTES:
                sent += sock.send(block[: BODY_BYTES - sent])
        try:
            status = sock.makefile("rb").readline().decode().strip()
        except OSError:
            status = "(connection reset)"
    return status or "(closed)", sent


def flood_bodies(server: Server, clients: int, rounds: int) -> dict:
    baseline, peak, statuses, sent = server.rss(), 0, [], []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.02)

    def client() -> None:
        for _ in range(rounds):
            status, bytes_sent = push_a_large_body(server.port)
            statuses.append(status.split(" ", 2)[1] if status.startswith("HTTP/") else status)
            sent.append(bytes_sent)

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    sampler.join()
    return {
        "baseline": baseline,
        "peak": max(peak, server.rss("VmHWM")),
        "statuses": {status: statuses.count(status) for status in set(statuses)},
        "median_sent": statistics.median(sent),
        "seconds": time.monotonic() - started,
    }


def sample_rss(server: Server, done: threading.Event, peak: list[int]) -> None:
    while not done.is_set():
        peak[0] = max(peak[0], server.rss())
        time.sleep(0.02)


async def hold_bodies(port: int, count: int, declared: int, hold: float) -> collections.Counter:
    """`count` connections at once, each sending all of a `declared`-byte body
    but its last byte, then waiting up to `hold` seconds for an answer; what
    each got: a status, "held" (no answer, still open), or "closed"."""
    outcomes: collections.Counter = collections.Counter()
    connecting = asyncio.Semaphore(500)  # the listen backlog is 128: a SYN flood would only measure retries
    head = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    request = head + b"Content-Length: %d\r\n\r\n" % declared + b"a" * (declared - 1)

    async def one() -> None:
        try:
            async with connecting:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await writer.drain()
            try:
                line = await asyncio.wait_for(reader.readline(), hold)
                outcomes[line.split(b" ")[1].decode() if line else "closed"] += 1
            except TimeoutError:
                outcomes["held"] += 1
            writer.close()
        except OSError as e:
            outcomes[type(e).__name__] += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return outcomes


def flood_held_bodies(extra_args: list[str], count: int, declared: int = 65_000, hold: float = 30) -> dict:
    """A server of its own: its RSS before, and at its peak while `count` connections hold almost-full bodies."""
    port = free_port()
    server = Server(
        [sys.executable, "app.py", f"--port={port}", f"--cookie-secret={SECRET}", "--logging=warning", *extra_args],
        port,
    )
    try:
        wrk(f"http://127.0.0.1:{port}/", 1, connections=CONNECTIONS)  # warmed up, as for the other floods
        baseline, peak, done = server.rss(), [0], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(server, done, peak))
        sampler.start()
        started = time.monotonic()
        outcomes = asyncio.run(hold_bodies(port, count, declared, hold))
        done.set()
        sampler.join()
        return {
            "args": " ".join(extra_args),
            "count": count,
            "baseline": baseline,
            "peak": max(peak[0], server.rss("VmHWM")),
            "outcomes": dict(outcomes),
            "seconds": time.monotonic() - started,
        }
    finally:
        server.stop()


def status_of_get(port: int, timeout: float = 10) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            line = sock.makefile("rb").readline().decode()
            return line.split(" ")[1] if line else "closed"
    except TimeoutError:
        return "no answer"
    except OSError as e:
        return type(e).__name__


def flood_slow_bodies(slow: int = 60, real: int = 20) -> dict:
    """A server limited to 64 open files (48 connections): `slow` connections
    each send a body's headers and a few bytes, then nothing; meanwhile `real`
    GET / on new connections."""
    port = free_port()
    args = [sys.executable, "app.py", f"--port={port}", f"--cookie-secret={SECRET}", "--logging=warning"]
    server = Server(["prlimit", "--nofile=64:64", *args], port)
    connections = []
    try:
        for _ in range(slow):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nusername=")
            connections.append(connection)
        statuses = [status_of_get(port) for _ in range(real)]
    finally:
        for connection in connections:
            connection.close()
        server.stop()
    return {"slow": slow, "real": collections.Counter(statuses)}


def kill_workers_in_a_row(kills: int = 6) -> dict:
    """--processes=2: kill one worker at a time `kills` times, each once the
    site has two again, then both at once; how long until GET / is answered
    again, and what a connection got meanwhile."""
    port = free_port()
    nowhere = free_port()  # no Redis needed: GET / needs no session
    args = [sys.executable, "app.py", f"--port={port}", f"--cookie-secret={SECRET}", "--processes=2"]
    server = Server([*args, f"--session-store=redis://127.0.0.1:{nowhere}/0", "--logging=warning"], port)

    def workers() -> list[int]:
        return children(server.process.pid)

    def until_two_workers_serve() -> None:
        while len(workers()) < 2 or status_of_get(port, timeout=1) != "200":
            time.sleep(0.05)

    try:
        until_two_workers_serve()
        started = time.monotonic()
        for kill in range(kills):
            os.kill(workers()[kill % 2], signal.SIGKILL)
            time.sleep(0.2)
            until_two_workers_serve()
        for pid in workers():
            os.kill(pid, signal.SIGKILL)
        down = time.monotonic()
        meanwhile = []
        while (status := status_of_get(port, timeout=1)) != "200":
            meanwhile.append(status)
            time.sleep(0.05)
        back = time.monotonic() - down
    finally:
        server.stop()
    return {"kills": kills, "kill_seconds": down - started, "back": back, "meanwhile": collections.Counter(meanwhile)}


def login_form(port: int, username: str, password: str) -> tuple[dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/login")
    page = connection.getresponse()
    xsrf = re.match(r"_xsrf=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.read().decode()).group(1)
    connection.close()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"}
    return headers, urllib.parse.urlencode({"_xsrf": token, "username": username, "password": password})


def flood_logins(
    server: Server, clients: int, seconds: float, addresses: tuple[str, ...] = (), user_address: str = ""
) -> dict:
    """``clients`` connections of wrong passwords under made-up usernames, from
    ``addresses`` in turn (as X-Forwarded-For), while a real user at
    ``user_address`` logs in with the right password twice a second."""
    deadline = time.monotonic() + seconds
    flood_statuses: list[int] = []
    real: list[tuple[int, float]] = []

    def forwarded(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": address} if address else {}

    def attacker(address: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while time.monotonic() < deadline:
            headers, form = login_form(server.port, secrets.token_hex(6), "wrong")
            connection.request("POST", "/login", body=form, headers={**headers, **forwarded(address)})
            response = connection.getresponse()
            response.read()
            flood_statuses.append(response.status)

    def real_user() -> None:
        time.sleep(2)  # let the flood build up
        while time.monotonic() < deadline:
            headers, form = login_form(server.port, "demo", "demo-password")
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            started = time.monotonic()
            connection.request("POST", "/login", body=form, headers={**headers, **forwarded(user_address)})
            response = connection.getresponse()
            response.read()
            real.append((response.status, time.monotonic() - started))
            connection.close()
            time.sleep(0.5)

    sources = [addresses[n % len(addresses)] if addresses else "" for n in range(clients)]
    threads = [threading.Thread(target=attacker, args=(source,)) for source in sources]
    threads.append(threading.Thread(target=real_user))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(t for _, t in real)
    return {
        "flood": {status: flood_statuses.count(status) for status in set(flood_statuses)},
        "real": {status: [s for s, _ in real].count(status) for status in {s for s, _ in real}},
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95)],
        "max": times[-1],
    }


def fill_the_failure_table(port: int, accounts: int, threads: int = 8) -> float:
    """Each of ``accounts`` made-up usernames locked (5 wrong passwords,
    each hashed: an over-long one is no longer counted); returns the seconds it took."""
    started = time.monotonic()

    def attacker(first: int) -> None:
        cookies, xsrf = fresh_login_form(port)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={cookies['_xsrf']}"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(first, accounts, threads):
            form = {"_xsrf": xsrf, "username": f"made-up-{n}", "password": "wrong"}
            for _ in range(throttle.FREE_ATTEMPTS):
                connection.request("POST", "/login", body=urllib.parse.urlencode(form), headers=headers)
                connection.getresponse().read()
        connection.close()

    workers = [threading.Thread(target=attacker, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - started


def login_status(port: int, username: str, password: str) -> int:
    cookies, xsrf = fresh_login_form(port)
    status, _ = request(port, "POST", "/login", cookies, {"_xsrf": xsrf, "username": username, "password": password})
    return status


def table_bytes_per_account(accounts: int = 100_000) -> float:
    """The memory failure table filled with locked accounts, measured with tracemalloc."""

    async def fill() -> MemoryLoginFailures:
        table = MemoryLoginFailures(throttle.seconds_to_wait, accounts)
        for n in range(accounts):
            key = throttle.account_key(f"made-up-{n}")
            for _ in range(throttle.FREE_ATTEMPTS):
                await table.add(key, 1000.0)
        return table

    tracemalloc.start()
    table = asyncio.run(fill())
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / len(table)


def login_cases(quick: bool) -> list[str]:
    """The login cases of the docstring, as Markdown table rows."""
    python, flags = sys.executable, [f"--cookie-secret={SECRET}", "--logging=warning"]
    per_account = table_bytes_per_account()
    rows = [
        f"| the memory failure table, 100,000 locked accounts (tracemalloc) | {per_account:.0f} bytes an account, "
        f"{per_account * 100_000 / 2**20:.0f} MiB |"
    ]
    table = 2000
    site = Server([python, "app.py", f"--port={(port := free_port())}", f"--login-failure-table={table}", *flags], port)
    try:
        for _ in range(throttle.FREE_ATTEMPTS):
            login_status(port, "locked-before", "wrong")
        seconds = fill_the_failure_table(port, table)
        demo, locked = login_status(port, "demo", "demo-password"), login_status(port, "locked-before", "x")
    finally:
        site.stop()
    rows.append(
        f"| failure table of {table:,} filled: {table:,} made-up usernames x {throttle.FREE_ATTEMPTS} failures "
        f"in {seconds:.0f} s | the demo account's right password: {demo} (303: in); the account locked "
        f"before: {locked} (429: still locked) |"
    )
    if shutil.which("redis-server"):
        redis = Server(
            ["redis-server", "--port", str(rport := free_port()), "--bind", "127.0.0.1", "--save", ""], rport
        )
        store = f"--session-store=redis://127.0.0.1:{rport}/0"
        site = Server([python, "app.py", f"--port={(port := free_port())}", store, *flags], port)
        try:
            during = flood_logins(site, clients=64, seconds=5 if quick else 20)
            after = login_status(port, "demo", "demo-password")
        finally:
            site.stop()
            redis.stop()
        rows.append(
            f"| 64 connections flooding logins on Redis | the real user's right password meanwhile: "
            f"{during['real']}; right after the flood: {after} (303: none of its 503s was counted) |"
        )
    attackers = ("203.0.113.1", "203.0.113.2", "203.0.113.3")
    for xheaders in (["--xheaders"], []):
        site = Server([python, "app.py", f"--port={(port := free_port())}", *xheaders, *flags], port)
        try:
            run = flood_logins(site, 24, 5 if quick else 20, addresses=attackers, user_address="198.51.100.7")
        finally:
            site.stop()
        behind = "behind --xheaders" if xheaders else "without --xheaders"
        rows.append(
            f"| 24 connections from 3 addresses, {behind} | flood answers {run['flood']}; the user at a fourth "
            f"address: {run['real']}, median {run['median'] * 1000:.0f} ms, slowest {run['max'] * 1000:.0f} ms |"
        )
    return rows


def print_login_cases(rows: list[str]) -> None:
    print("\n| Login case | What happened |")
    print("|---|---|")
    for row in rows:
        print(row)


def serving_cases(quick: bool) -> None:
    """Bodies held open, slow bodies at the connection cap, workers killed: each on a server of its own."""
    count = 1_000 if quick else 10_000
    # Each connection's file descriptor, here and in the server (which raises its own limit).
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    held = [
        flood_held_bodies([], count),
        flood_held_bodies(["--body-timeout=60"], count),
        flood_held_bodies(["--body-timeout=60", "--body-memory=100000"], count),
    ]
    slow = flood_slow_bodies()
    workers = kill_workers_in_a_row()
    mib = 2**20
    print(f"\n{datetime.date.today()}: {machine()}.\n")
    print("| Flood | Options | Answers | Server RSS before, at its peak | Growth |")
    print("|---|---|---|---:|---:|")
    for run in held:
        print(
            f"| {run['count']:,} connections at once, each sending 64,999 bytes of a 65,000-byte body "
            f"| {run['args'] or '(defaults)'} | {run['outcomes']} | {run['baseline'] / mib:.0f} MiB, "
            f"{run['peak'] / mib:.0f} MiB | {(run['peak'] - run['baseline']) / mib:.0f} MiB |"
        )
    print(
        "\nAnswers: a status, 'held' (no answer in 30 s, connection open), 'closed' (closed by the server's "
        "body timeout).\n"
    )
    print("| Flood | What happened |")
    print("|---|---|")
    print(
        f"| {slow['slow']} slow bodies at a 64-file limit (48 connections), then 20 GET / "
        f"| the GETs were answered {dict(slow['real'])} |"
    )
    print(
        f"| --processes=2: {workers['kills']} kills of one worker in {workers['kill_seconds']:.0f} s, then both "
        f"at once | answering again after {workers['back']:.1f} s; connections meanwhile: "
        f"{dict(workers['meanwhile'])} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--logins", action="store_true", help="the login cases only")
    parser.add_argument("--serving-only", action="store_true", help="only bodies held open, slow bodies and workers")
    args = parser.parse_args()
    if args.serving_only:
        return serving_cases(args.quick)
    scale = 10 if args.quick else 1
    if args.logins:
        print(f"\n{datetime.date.today()}: {machine()}.")
        print_login_cases(login_cases(args.quick))
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    port = free_port()
    site = Server([sys.executable, "app.py", f"--port={port}", f"--cookie-secret={SECRET}", "--logging=warning"], port)
    try:
        for _ in range(throttle.FREE_ATTEMPTS):
            demo_login(port, "wrong")
        locked_before = demo_login(port, "demo-password")
        cookies, xsrf = fresh_login_form(port)
        warm = wrk(f"http://127.0.0.1:{port}/", 2, connections=CONNECTIONS)
        rss_start = site.rss()
        form = urllib.parse.urlencode({"_xsrf": xsrf})
        failed_login = urllib.parse.urlencode({"_xsrf": xsrf, "password": OVER_LONG_PASSWORD})
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
                "logins, each a new username, 2 kB password (refused: 400)",
                150_000 // scale,
                "/login",
                expect=400,
                rate=warm["rps"],
                cookies=cookies,
                form_body=failed_login,
                env_extra={"MADE_UP_USERS": "1"},
            ),
        ]
        # The lock itself lasts 30 s, shorter than the floods: what must
        # survive them is the count. One more wrong password locks a counted
        # account again at once; a washed-out one would let the right one in.
        demo_login(port, "wrong")
        locked_after = demo_login(port, "demo-password")
        bodies = flood_bodies(site, clients=8, rounds=1 if args.quick else 10)
        logins = flood_logins(site, clients=100, seconds=5 if args.quick else 30)
    finally:
        site.stop()
    login_rows = login_cases(args.quick)
    mib = 2**20
    print(f"\n{datetime.date.today()}: {machine()}. python app.py (memory store), wrk -t1 -c{CONNECTIONS}.\n")
    print("| Flood | Requests | Errors | Requests/s | Server RSS after |")
    print("|---|---:|---:|---:|---:|")
    print(f"| (start, after warming up) | | | | {rss_start / mib:.1f} MiB |")
    for run in runs:
        print(
            f"| {run['name']} | {run['requests']:,} | {run['errors']} | {run['requests'] / run['seconds']:,.0f} "
            f"| {run['rss'] / mib:.1f} MiB |"
        )
    print("\nErrors: answers other than the one expected (200, 303, 200) plus socket errors.\n")
    print(
        f"The demo account, locked by {throttle.FREE_ATTEMPTS} wrong passwords before the floods: the right "
        f"password answered {locked_before} before; after them, one more wrong password and then the right one "
        f"answered {locked_after} (429: its count survived the floods; 303 would mean it was washed out).\n"
    )
    attempts = sum(bodies["statuses"].values())
    print("| Flood | What happened |")
    print("|---|---|")
    print(f"| {attempts} POSTs of 50 MB, 8 at once | answers {bodies['statuses']} |")
    print(
        f"| server RSS | {bodies['baseline'] / mib:.0f} MiB before, {bodies['peak'] / mib:.0f} MiB at its peak; "
        f"median body bytes taken before the answer: {bodies['median_sent'] / mib:.1f} MiB |"
    )
    print(f"| 100 clients flooding logins | answers {logins['flood']} |")
    print(
        f"| a real login meanwhile | answers {logins['real']}; median {logins['median'] * 1000:.0f} ms, "
        f"95th percentile {logins['p95'] * 1000:.0f} ms, slowest {logins['max'] * 1000:.0f} ms |"
    )
    print_login_cases(login_rows)
    serving_cases(args.quick)


if __name__ == "__main__":
    main()
