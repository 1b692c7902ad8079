"""Floods a visitor can send cheaply, thrown at `python app.py`:

1. bodies: 8 clients at once, each declaring and pushing a 50 MB POST body,
   again and again; the server's memory (RSS) is sampled all along.
2. logins: 100 clients sending wrong passwords under made-up usernames as
   fast as they are answered, while a real user logs in twice a second.

.venv/bin/python bench/floods.py              # about a minute; prints Markdown
.venv/bin/python bench/floods.py --quick      # a few seconds, to see that it works
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY_BYTES = 50_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        args = [sys.executable, "app.py", f"--port={self.port}", "--cookie-secret=bench", "--logging=warning"]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise SystemExit("the server did not start")

    def memory(self, field: str = "VmRSS") -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) * 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


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
    baseline, peak, statuses, sent = server.memory(), 0, [], []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory())
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
        "peak": max(peak, server.memory("VmHWM")),
        "statuses": {status: statuses.count(status) for status in set(statuses)},
        "median_sent": statistics.median(sent),
        "seconds": time.monotonic() - started,
    }


def login_form(port: int, username: str, password: str) -> tuple[dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/login")
    page = connection.getresponse()
    xsrf = re.match(r"_xsrf=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.read().decode()).group(1)
    connection.close()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"}
    return headers, urllib.parse.urlencode({"_xsrf": token, "username": username, "password": password})


def flood_logins(server: Server, clients: int, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    flood_statuses: list[int] = []
    real: list[tuple[int, float]] = []

    def attacker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        while time.monotonic() < deadline:
            headers, form = login_form(server.port, secrets.token_hex(6), "wrong")
            connection.request("POST", "/login", body=form, headers=headers)
            response = connection.getresponse()
            response.read()
            flood_statuses.append(response.status)

    def real_user() -> None:
        time.sleep(2)  # let the flood build up
        while time.monotonic() < deadline:
            headers, form = login_form(server.port, "demo", "demo-password")
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            started = time.monotonic()
            connection.request("POST", "/login", body=form, headers=headers)
            response = connection.getresponse()
            response.read()
            real.append((response.status, time.monotonic() - started))
            connection.close()
            time.sleep(0.5)

    threads = [threading.Thread(target=attacker) for _ in range(clients)] + [threading.Thread(target=real_user)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    mib = 2**20
    server = Server()
    try:
        bodies = flood_bodies(server, clients=8, rounds=1 if args.quick else 10)
        logins = flood_logins(server, clients=100, seconds=5 if args.quick else 30)
    finally:
        server.stop()
    attempts = sum(bodies["statuses"].values())
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


if __name__ == "__main__":
    main()
