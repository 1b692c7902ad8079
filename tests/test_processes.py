"""The site as it is deployed: `python app.py` in real processes, stopped by
signals, several workers on one port, and two servers sharing one store.

Two servers sharing sessions need a store both can reach: two Tornado servers
in this process over one database on the tests' nx-27017, and two `python
app.py` processes over the server at MONGODB_URL, else the tests' own
nx-27017 (a wire-protocol server, not mongod), through PyMongo's
AsyncMongoClient and through Motor.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
from conftest import COOKIE_SECRET, Browser
from pymongo import MongoClient

from app import make_app
from serving.keys import signing_keys
from serving.workers import Backoff
from sessions import MongoStore

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """`python app.py ...` in a process of its own, with its log at hand.
    keyword arguments go to subprocess.Popen (cwd, env, preexec_fn)."""

    def __init__(
        self, *args: str, cookie_secret: str | None = COOKIE_SECRET, program: tuple = ("app.py",), **popen
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        self._logged = threading.Condition()
        command = [sys.executable, *program, f"--port={self.port}", *args]
        if cookie_secret:
            command.append(f"--cookie-secret={cookie_secret}")
        popen.setdefault("cwd", ROOT)
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, **popen)
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

    def logged(self, text: str, times: int = 1, timeout: float = 20) -> bool:
        """Whether `text` is in the log `times` times, waiting up to `timeout` for it."""
        with self._logged:
            self._logged.wait_for(
                lambda: sum(text in line for line in self.log) >= times or "<exited>" in self.log, timeout
            )
            return sum(text in line for line in self.log) >= times

    def log_lines(self, text: str) -> list[str]:
        with self._logged:
            return [line for line in self.log if text in line]

    def wait_for_log(self, text: str, times: int = 1, timeout: float = 20) -> None:
        assert self.logged(text, times, timeout), f"no {text!r} in:\n" + "\n".join(self.log)

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

    def login_cookie(self, headers: dict | None = None) -> str:
        """Log in as demo, sending `headers` with the form; the session's Set-Cookie."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        connection.request("GET", "/login")
        page = connection.getresponse()
        xsrf_cookie = re.match(r"_xsrf=([^;]+)", page.getheader("Set-Cookie")).group(1)
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.read().decode()).group(1)
        form = urllib.parse.urlencode({"_xsrf": token, "username": "demo", "password": "demo-password"})
        form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf_cookie}"}
        connection.request("POST", "/login", body=form, headers={**form_headers, **(headers or {})})
        response = connection.getresponse()
        assert response.status == 303
        (session,) = [c for c in response.headers.get_all("Set-Cookie") if not c.startswith("_xsrf")]
        connection.close()
        return session

    def get(self, path: str, cookie: str = "") -> tuple[int, dict, str]:
        """The answer itself: a redirect is not followed."""
        request = urllib.request.Request(self.url + path, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.build_opener(NoRedirects()).open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def started():
    sites: list[Site] = []

    def start(*args: str, **kwargs) -> Site:
        sites.append(Site(*args, **kwargs))
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
    site = started("--processes=2", f"--session-store=mongodb://127.0.0.1:{closed_port}/x", "--store-timeout=0.5")
    site.wait_for_log("Serving on", times=2)
    site.wait_for_log("Started 2 worker processes")
    workers = site.workers()
    assert len(workers) == 2
    # MongoDB is down: pages that need no session are served, one that does gets 503.
    assert [site.get("/")[0] for _ in range(6)] == [200] * 6
    status, headers, _ = site.get("/", cookie="session=" + signed_session_cookie())
    assert (status, headers["Retry-After"]) == (503, "5")
    site.wait_for_log(f"MongoDB unreachable at 127.0.0.1:{closed_port} (", times=2)
    assert site.stop() == 0
    site.wait_for_log("Stopping", times=2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert sum("MongoDB unreachable at" in line for line in site.log) == 2, "one line per worker"


def test_the_unreachable_log_line_names_each_host_and_port_and_no_password(started, closed_port):
    other_port = free_port()
    url = f"mongodb://site-user:pass%2Fword-42@127.0.0.1:{closed_port},localhost:{other_port}/x"
    site = started(f"--session-store={url}", "--store-timeout=0.3")
    site.wait_for_log(f"MongoDB unreachable at 127.0.0.1:{closed_port}, localhost:{other_port} (")
    assert site.stop() == 0
    log = "\n".join(site.log)
    assert "pass" not in log and "word-42" not in log and "site-user" not in log


def signed_session_cookie() -> str:
    session_id = uuid.uuid4().hex + uuid.uuid4().hex[:11]
    keys, version = signing_keys(COOKIE_SECRET, [])
    return tornado.web.create_signed_value(keys, "session", session_id, version=2, key_version=version).decode()


def test_a_stop_does_not_wait_for_a_request_whose_client_left_half_way(started):
    site = started()
    site.wait_for_log("Serving on")
    with socket.create_connection(("127.0.0.1", site.port)) as connection:
        connection.sendall(
            b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        assert connection.makefile("rb").readline().startswith(b"HTTP/1.1 100"), "the request is in flight"
        connection.sendall(b"username=demo&password=")
    # The client has gone, most of its body unsent.
    assert site.stop() == 0
    log = "\n".join(site.log)
    assert "Stopping" in log and "still in flight" not in log


def test_half_sent_requests_are_closed_by_the_header_and_body_timeouts(started):
    site = started("--idle-timeout=0.5", "--body-timeout=0.5")  # 10 s and 5 s unless told
    site.wait_for_log("Serving on")
    half_headers = socket.create_connection(("127.0.0.1", site.port), timeout=5)
    half_headers.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    half_body = socket.create_connection(("127.0.0.1", site.port), timeout=5)
    half_body.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nusername=")
    with half_headers, half_body:
        assert half_headers.recv(1) == b"", "closed by the server"
        assert half_body.recv(1) == b"", "closed by the server"
    assert site.stop() == 0


def listening_sockets(port: int) -> set[str]:
    """The inodes of the sockets listening on the port, from /proc/net/tcp."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:] + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    return {f[9] for f in (line.split() for line in lines) if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port}


def sockets_of(pid: int) -> set[str]:
    links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def test_each_worker_listens_on_a_socket_of_its_own_and_the_parent_on_none(started, closed_port):
    site = started("--processes=2", f"--session-store=mongodb://127.0.0.1:{closed_port}/x", "--store-timeout=0.5")
    site.wait_for_log("Serving on", times=2)
    listening = listening_sockets(site.port)
    first, second = (sockets_of(pid) & listening for pid in site.workers())
    assert len(first) == len(second) == 1 and first != second, "SO_REUSEPORT: the kernel spreads connections"
    assert not sockets_of(site.process.pid) & listening, "the parent accepts nothing it cannot serve"
    assert listening == first | second
    assert site.stop() == 0


def replacement(site: Site, before: list[int], started: int) -> int:
    """The worker started in place of one of `before`, once the workers started so far serve."""
    site.wait_for_log("Serving on", times=started)
    (pid,) = set(site.workers()) - set(before)
    return pid


def test_each_worker_is_replaced_after_its_own_back_off_and_the_stop_stays_clean(started, closed_port):
    mongodb = f"--session-store=mongodb://127.0.0.1:{closed_port}/x"
    site = started("--processes=2", mongodb, "--store-timeout=0.5", "--worker-restart-wait=0.2")
    site.wait_for_log("Serving on", times=2)
    first, other = site.workers()
    os.kill(first, signal.SIGKILL)  # as the kernel's out-of-memory killer does
    site.wait_for_log(f"Worker {first} was killed by SIGKILL; starting another at once")
    again = replacement(site, [first, other], started=3)
    os.kill(again, signal.SIGKILL)
    # A second death within a minute waits: workers that keep dying do not make the parent spin.
    site.wait_for_log(f"Worker {again} was killed by SIGKILL; starting another in 0.2 s")
    third = replacement(site, [again, other], started=4)
    os.kill(other, signal.SIGKILL)
    # The other worker's first death: its replacement does not wait behind the first one's back-off.
    site.wait_for_log(f"Worker {other} was killed by SIGKILL; starting another at once")
    replacements = [third, replacement(site, [third, other], started=5)]
    assert sorted(site.workers()) == sorted(replacements)
    assert [site.get("/")[0] for _ in range(6)] == [200] * 6, "only replacements are left to answer"
    assert site.stop() == 0
    site.wait_for_log("Stopping", times=2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in replacements)


def test_a_workers_back_off_doubles_while_it_keeps_dying_and_is_forgotten_after_a_quiet_minute():
    backoff = Backoff(first=1, most=8, forget_after=60)
    deaths = [0, 10, 20, 30, 40, 50, 59, 200, 210]
    assert [backoff.after_death(at) for at in deaths] == [0, 1, 2, 4, 8, 8, 8, 0, 1]


def kill_workers(site: Site) -> list[int]:
    workers = site.workers()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    for pid in workers:
        site.wait_for_log(f"Worker {pid} was killed by SIGKILL; starting another")
    return workers


def test_with_no_worker_alive_the_site_is_back_within_a_second_and_refuses_connections_meanwhile(started, closed_port):
    mongodb = f"--session-store=mongodb://127.0.0.1:{closed_port}/x"
    site = started("--processes=2", mongodb, "--store-timeout=0.5", "--worker-restart-wait=30")
    site.wait_for_log("Serving on", times=2)
    kill_workers(site)  # first deaths: both replaced at once
    site.wait_for_log("Serving on", times=4)
    kill_workers(site)
    down = time.monotonic()
    # Second deaths within a minute: each worker's own back-off says 30 s, but
    # with none alive the first replacement starts within a second.
    assert sorted(line.rsplit(" ", 3)[-2] for line in site.log_lines("starting another in")) == ["1", "30"]
    if not site.workers():
        with pytest.raises(ConnectionRefusedError):  # nobody holds a listening socket: no connection waits
            socket.create_connection(("127.0.0.1", site.port)).close()
    site.wait_for_log("Serving on", times=5)
    assert site.get("/")[0] == 200
    assert time.monotonic() - down < 10, "back within a few seconds, not after its back-off of 30"
    assert len(site.workers()) == 1, "the other waits out its own back-off"
    assert site.stop() == 0


# python -c "...": app.py where the socket module has no SO_REUSEPORT, as on a system without it.
WITHOUT_REUSE_PORT = (
    "-c",
    "import runpy, socket, sys; del socket.SO_REUSEPORT; sys.argv[0] = 'app.py'; "
    "runpy.run_path('app.py', run_name='__main__')",
)


def test_without_so_reuseport_the_workers_share_the_parents_socket_and_it_is_said(started, closed_port):
    mongodb = f"--session-store=mongodb://127.0.0.1:{closed_port}/x"
    site = started("--processes=2", mongodb, "--store-timeout=0.5", program=WITHOUT_REUSE_PORT)
    site.wait_for_log("SO_REUSEPORT is not available here: the workers share one listening socket, held by the parent")
    site.wait_for_log("Serving on", times=2)
    (shared,) = listening_sockets(site.port)
    assert all(shared in sockets_of(pid) for pid in [site.process.pid, *site.workers()])
    assert [site.get("/")[0] for _ in range(4)] == [200] * 4
    assert site.stop() == 0


def test_a_mistake_in_the_store_url_stops_the_site_before_any_worker_starts(started):
    site = started("--processes=2", "--session-store=mysql://db/x")
    assert site.process.wait(timeout=20) == 1
    site.wait_for_log("<exited>")
    assert site.log == [
        "--session-store: expected 'memory', a mongodb://, redis://, redis+sentinel:// or redis+cluster:// URL, got 'mysql://db/x'",
        "<exited>",
    ]


# File descriptors: the limit is raised at start, and connections are kept
# below it; at the limit all the same the server neither spins nor floods its log.


def open_files_limit(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_open_files_limit_is_raised_to_the_hard_limit_at_start(started):
    site = started(preexec_fn=open_files_limit(64, 256))
    site.wait_for_log("Serving on")
    limits = Path(f"/proc/{site.process.pid}/limits").read_text()
    assert re.search(r"Max open files\s+256\s+256 ", limits), limits
    assert site.stop() == 0


def test_idle_connections_cannot_hold_the_server_at_its_open_files_limit(started):
    site = started(preexec_fn=open_files_limit(64, 64))
    site.wait_for_log("Serving on")
    idle = [socket.create_connection(("127.0.0.1", site.port)) for _ in range(100)]
    try:
        statuses = [site.get("/")[0] for _ in range(3)]
    finally:
        for connection in idle:
            connection.close()
    assert statuses == [200] * 3
    assert site.stop() == 0
    assert sum("connections open, the most allowed: closing the longest idle" in line for line in site.log) == 1
    assert len(site.log) < 20, "\n".join(site.log)


def test_out_of_file_descriptors_anyway_an_idle_connection_makes_room(started):
    site = started(preexec_fn=open_files_limit(64, 64))
    site.wait_for_log("Serving on")
    assert site.get("/")[0] == 200  # templates and static files read while files can still be opened
    idle = [socket.create_connection(("127.0.0.1", site.port)) for _ in range(20)]
    try:
        assert site.get("/")[0] == 200  # answered after the idle ones, so they have all been accepted
        # As if files or database connections had taken the descriptors left.
        resource.prlimit(site.process.pid, resource.RLIMIT_NOFILE, (16, 64))
        statuses = [site.get("/")[0] for _ in range(5)]
    finally:
        for connection in idle:
            connection.close()
    assert statuses == [200] * 5
    assert site.stop() == 0
    assert sum("Out of file descriptors" in line for line in site.log) == 1
    assert len(site.log) < 20, "\n".join(site.log)


def wait_until_the_server_has_read_everything(port: int) -> None:
    """Until no connection to the port has bytes the server has not read (/proc/net/tcp's rx_queue)."""
    for _ in range(200):
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        unread = [f for f in (line.split() for line in lines) if int(f[1].rsplit(":", 1)[1], 16) == port]
        if not any(int(f[4].split(":")[1], 16) for f in unread):
            return
        time.sleep(0.05)
    raise AssertionError("the server did not read its connections")


def test_out_of_file_descriptors_with_every_connection_answering_the_server_pauses_and_recovers(started):
    # A Redis that never answers: a page that needs a session waits for it (--store-timeout), its connection held.
    black_hole = socket.create_server(("127.0.0.1", 0), backlog=100)
    redis = f"--session-store=redis://127.0.0.1:{black_hole.getsockname()[1]}/0"
    site = started(redis, "--store-timeout=3", preexec_fn=open_files_limit(64, 64))
    site.wait_for_log("Serving on")
    assert site.get("/")[0] == 200  # templates read while files can still be opened
    assert site.get("/nowhere")[0] == 404  # and the error page's
    request = f"GET /dashboard HTTP/1.1\r\nHost: x\r\nCookie: session={signed_session_cookie()}\r\n\r\n"
    busy = [socket.create_connection(("127.0.0.1", site.port)) for _ in range(20)]
    try:
        for connection in busy:
            connection.sendall(request.encode())
        wait_until_the_server_has_read_everything(site.port)
        resource.prlimit(site.process.pid, resource.RLIMIT_NOFILE, (16, 64))
        waiting = socket.create_connection(("127.0.0.1", site.port), timeout=20)
        waiting.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        site.wait_for_log("Out of file descriptors: not accepting connections for a second")
        assert all(c.makefile("rb").readline().startswith(b"HTTP/1.1 503") for c in busy), "none was closed"
    finally:
        for connection in busy:
            connection.close()
    with waiting, black_hole:
        assert waiting.makefile("rb").readline().startswith(b"HTTP/1.1 200")
    assert site.stop() == 0
    assert sum("Out of file descriptors" in line for line in site.log) == 1


def test_slow_bodies_cannot_hold_the_connection_cap_against_real_requests(started):
    # 64 files: at most 48 connections. Each slow body has sent its headers and a few bytes, and waits.
    site = started("--body-timeout=60", preexec_fn=open_files_limit(64, 64))
    site.wait_for_log("Serving on")
    slow = []
    try:
        for _ in range(60):
            connection = socket.create_connection(("127.0.0.1", site.port))
            connection.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nusername=")
            slow.append(connection)
        statuses = [site.get("/")[0] for _ in range(20)]
    finally:
        for connection in slow:
            connection.close()
    assert statuses == [200] * 20
    assert site.stop() == 0
    assert sum("the most allowed: closing the longest idle or slowest" in line for line in site.log) == 1


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


class Visitor:
    """A browser's cookie jar over urllib. Cookies do not depend on the port,
    so one visitor carries its session between two sites on 127.0.0.1."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects())

    def get(self, url: str) -> tuple[int, str]:
        return self.open(url)

    def post(self, url: str, form: dict, xsrf_from: str) -> int:
        token = re.search(r'name="_xsrf" value="([^"]+)"', self.get(xsrf_from)[1]).group(1)
        return self.open(url, urllib.parse.urlencode({**form, "_xsrf": token}).encode())[0]

    def open(self, url: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(url, data, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self, site: Site) -> str:
        """Log in through the form; the session cookie, as a Cookie header."""
        form = {"username": "demo", "password": "demo-password"}
        assert self.post(site.url + "/login", form, xsrf_from=site.url + "/login") == 303
        return next(f"session={cookie.value}" for cookie in self.cookies if cookie.name == "session")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


@pytest.fixture
def database_url(real_mongodb_url):
    """A database of the test's own on the real server, dropped afterwards."""
    name = f"tornado_sessions_test_{uuid.uuid4().hex[:8]}"
    yield urllib.parse.urlsplit(real_mongodb_url)._replace(path="/" + name).geturl()
    with MongoClient(real_mongodb_url) as client:
        client.drop_database(name)


@pytest.mark.parametrize("driver", ["motor", "pymongo"])
def test_a_login_and_a_logout_in_one_process_are_seen_by_another(started, database_url, driver):
    first, second = (started(f"--session-store={database_url}", f"--mongodb-driver={driver}") for _ in range(2))
    first.wait_for_log(f"through {driver}")
    first.wait_for_log("Serving on")
    second.wait_for_log("Serving on")
    visitor = Visitor()
    session = visitor.sign_in(first)
    status, page = visitor.get(second.url + "/dashboard")
    assert status == 200 and "Hello, Demo User" in page
    assert visitor.post(second.url + "/logout", {}, xsrf_from=second.url + "/dashboard") == 303
    assert first.get("/dashboard", cookie=session)[0] == 302, "signed out on both"
    assert first.stop() == 0 and second.stop() == 0


@pytest.mark.parametrize("driver", ["motor", "pymongo"])
def test_the_site_starts_while_mongodb_is_down_and_serves_sessions_once_it_is_up(
    started, stoppable_wire_server, driver
):
    stoppable_wire_server.stop()
    url = stoppable_wire_server.url()
    site = started(f"--session-store={url}", "--store-timeout=0.5", f"--mongodb-driver={driver}")
    site.wait_for_log(f"MongoDB unreachable at 127.0.0.1:{stoppable_wire_server.port} (")
    status, headers, _ = site.get("/dashboard", cookie="session=" + signed_session_cookie())
    assert (status, headers["Retry-After"]) == (503, "5")
    stoppable_wire_server.start()
    site.wait_for_log("is answering again")
    visitor = Visitor()
    visitor.sign_in(site)
    assert visitor.get(site.url + "/dashboard")[0] == 200
    with MongoClient(url) as client:
        indexes = client.get_default_database()["sessions"].index_information().values()
    assert [index.get("expireAfterSeconds") for index in indexes if index["key"] == [("expires", 1)]] == [0]
    assert site.stop() == 0
