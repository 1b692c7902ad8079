"""The site as it is deployed: `python app.py` in real processes, stopped by
signals, several workers on one port, and two servers sharing one store.

Two servers sharing sessions needs a store both can reach. Without a MongoDB
server (none can be installed here) that is two Tornado servers in this
process over one mongomock-motor database; with MONGODB_URL set it is also two
`python app.py` processes over the real server.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pymongo
import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
from conftest import COOKIE_SECRET, Browser

from app import make_app
from sessions import MongoStore

ROOT = Path(__file__).parent.parent
MONGODB_URL = os.environ.get("MONGODB_URL")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """`python app.py ...` in a process of its own, with its log at hand."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        self._logged = threading.Condition()
        command = [sys.executable, "app.py", f"--port={self.port}", f"--cookie-secret={COOKIE_SECRET}", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self) -> None:
        for line in self.process.stderr:
            with self._logged:
                self.log.append(line.rstrip())
                self._logged.notify_all()
        with self._logged:
            self.log.append("<exited>")
            self._logged.notify_all()

    def wait_for_log(self, text: str, times: int = 1, timeout: float = 20) -> None:
        with self._logged:
            found = self._logged.wait_for(
                lambda: sum(text in line for line in self.log) >= times or "<exited>" in self.log, timeout
            )
        assert found and sum(text in line for line in self.log) >= times, f"no {text!r} in:\n" + "\n".join(self.log)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send the signal; the exit status once the process and its log have ended."""
        self.process.send_signal(signum)
        status = self.process.wait(timeout=20)
        self._reader.join(timeout=20)
        return status

    def workers(self) -> list[int]:
        return [
            int(pid) for pid in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        ]

    def get(self, path: str, cookie: str = "") -> tuple[int, dict, str]:
        request = urllib.request.Request(self.url + path, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def started():
    sites: list[Site] = []

    def start(*args: str) -> Site:
        sites.append(Site(*args))
        return sites[-1]

    yield start
    for site in sites:
        if site.process.poll() is None:  # the test failed before stopping it
            for pid in [*site.workers(), site.process.pid]:
                os.kill(pid, signal.SIGKILL)
            site.process.wait()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_several_processes_with_the_memory_store_are_refused():
    result = subprocess.run(
        [sys.executable, "app.py", "--processes=2", f"--port={free_port()}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "--processes needs a shared store" in result.stderr
    assert "Use --session-store=mongodb://" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_cleanly(started, signum):
    site = started()
    site.wait_for_log("Serving on")
    assert site.get("/")[0] == 200
    assert site.stop(signum) == 0
    assert "Stopping" in "\n".join(site.log) and "Traceback" not in "\n".join(site.log)


def test_a_request_in_flight_when_the_stop_comes_is_answered(started):
    site = started()
    site.wait_for_log("Serving on")
    with urllib.request.urlopen(site.url + "/login") as response:
        xsrf_cookie = re.search(r"_xsrf=([^;]+)", response.headers["Set-Cookie"]).group(1)
        token = re.search(r'name="_xsrf" value="([^"]+)"', response.read().decode()).group(1)
    body = urllib.parse.urlencode({"username": "demo", "password": "demo-password", "_xsrf": token}).encode()
    with socket.create_connection(("127.0.0.1", site.port)) as connection:
        answers = connection.makefile("rb")
        # "Expect: 100-continue" makes the server say when it has the
        # headers: from then on the request is in flight.
        connection.sendall(
            f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: _xsrf={xsrf_cookie}\r\nExpect: 100-continue\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        assert answers.readline().startswith(b"HTTP/1.1 100")
        answers.readline()
        site.process.send_signal(signal.SIGTERM)
        site.wait_for_log("Stopping")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", site.port)).close()
        connection.sendall(body)
        answer = answers.readline()
    assert answer.startswith(b"HTTP/1.1 303"), answer
    assert site.process.wait(timeout=20) == 0


def test_two_workers_share_one_port_and_stop_together(started, closed_port):
    site = started("--processes=2", f"--session-store=mongodb://127.0.0.1:{closed_port}/x", "--mongodb-timeout=0.5")
    site.wait_for_log("Serving on", times=2)
    site.wait_for_log("Started 2 worker processes")
    workers = site.workers()
    assert len(workers) == 2
    # MongoDB is down: pages that need no session are served, one that does gets 503.
    assert [site.get("/")[0] for _ in range(6)] == [200] * 6
    status, headers, _ = site.get("/", cookie="session=" + signed_session_cookie())
    assert (status, headers["Retry-After"]) == (503, "5")
    site.wait_for_log("Session store unavailable (", times=2)
    assert site.stop() == 0
    site.wait_for_log("Stopping", times=2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert sum("Session store unavailable (" in line for line in site.log) == 2, "one line per worker"


def signed_session_cookie() -> str:
    session_id = uuid.uuid4().hex + uuid.uuid4().hex[:11]
    return tornado.web.create_signed_value(COOKIE_SECRET, "session", session_id, version=2).decode()


# A login served by one server is seen by the other.


@pytest.fixture
def store(shared_database):
    """The first server's store (conftest's `app` takes it)."""
    return MongoStore(shared_database["sessions"])


@pytest.mark.gen_test
async def test_a_login_on_one_server_is_seen_by_the_other(http_client, base_url, session_config, shared_database):
    second_app = make_app(MongoStore(shared_database["sessions"]), COOKIE_SECRET, session_config=session_config)
    sock, port = tornado.testing.bind_unused_port()
    second_server = tornado.httpserver.HTTPServer(second_app)
    second_server.add_sockets([sock])
    first, second = Browser(http_client, base_url), Browser(http_client, f"http://127.0.0.1:{port}")
    try:
        assert (await first.login()).code == 303
        second.cookies = first.cookies
        response = await second.get("/dashboard")
        assert response.code == 200 and "Hello, Demo User" in response.body.decode()
        assert (await second.logout()).code == 303
        assert (await first.get("/dashboard")).code == 302
    finally:
        second_server.stop()


if MONGODB_URL:  # defined only then, so that CI never reports it skipped

    def test_a_login_in_one_process_is_seen_by_another(started):
        test_database = f"tornado_sessions_test_{uuid.uuid4().hex[:8]}"
        url = urllib.parse.urlsplit(MONGODB_URL)._replace(path="/" + test_database).geturl()
        first, second = started(f"--session-store={url}"), started(f"--session-store={url}")
        first.wait_for_log("Serving on")
        second.wait_for_log("Serving on")
        cookies = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
        token = re.search(r'name="_xsrf" value="([^"]+)"', opener.open(first.url + "/login").read().decode()).group(1)
        form = urllib.parse.urlencode({"username": "demo", "password": "demo-password", "_xsrf": token}).encode()
        try:
            assert "Hello, Demo User" in opener.open(first.url + "/login", form).read().decode()
            session = next(f"session={cookie.value}" for cookie in cookies if cookie.name == "session")
            status, _, page = second.get("/dashboard", cookie=session)
            assert status == 200 and "Hello, Demo User" in page
            assert first.stop() == 0 and second.stop() == 0
        finally:
            pymongo.MongoClient(MONGODB_URL).drop_database(test_database)
