"""What sessions cost: the real site under wrk, side by side with the same page
without a session, bare Tornado, express + express-session and (--peers) the
Python peers; then issue 22's targets 1-5, each with its figure and whether
it is met, and the table of ours against each peer, also written as JSON
for bench/chart.py.

.venv-bench/bin/python bench/load.py --quick --peers   # one short round, to see that it works (3 min)
.venv-bench/bin/python bench/load.py --peers           # the real run (about 14 minutes)

Needs wrk (`apt-get install wrk`), redis-server for the rows on Redis and
valgrind for the instruction counts (bench/instructions.py); the express peer
runs if `npm ci` was run in bench/express; --peers needs
`pip install -r bench/requirements.txt` (a venv of its own: bench/README.md).
Every server runs alone in its own process, with its access log off
(Tornado's --logging=warning), and every one is stopped at the end. Machines
are shared and noisy, so each row is the median of several rounds, and the
rounds interleave the rows. Every dashboard counts visits: after the run,
each one's counter is read and compared with the number of answers its page
gave.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import tornado

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECRET = "bench-cookie-secret-not-for-production"
LOGIN_FORM = {"username": "demo", "password": "demo-password"}
FLOOD = 50_000
CONNECTIONS = 100
# Below the throttle's five attempts in flight per account: parallel logins
# to one account beyond that are refused with 429, by design.
LOGIN_CONNECTIONS = 4
DASHBOARD = "(a) dashboard, logged in"
HELLO = "(f) bare Tornado writing a constant string"
REDIS_DASHBOARD = "(a) on Redis: the same, sessions in redis-server (its CPU included)"
REDIS_DASHBOARD_2 = "(a) on Redis, --processes=2"
REDIS_SERVER, REDIS_SERVER_2 = "site on Redis", "site on Redis, 2 processes"
# Target 5: the counter stays exact with this many clients on two processes.
MANY_CLIENTS = 200
ENCRYPTED_COOKIE = "encrypted cookie"
PEER = "express + express-session, plain-text dashboard"
PARALLEL = "(e) dashboard while logins run"
PARALLEL_LOGINS = "(e) the logins beside it"
VISITS = re.compile(r"viewed this page (?:<strong>)?(\d+)")
# Where a counted run's connections turn once its time is up (see wrk.lua): a 404 that counts nothing.
UNCOUNTED_PATH = "/bench-uncounted"
DRAIN_LIMIT = 10  # seconds a counted run may wait for its last answers (wrk's --timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early: {process.args}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"server did not listen on {port}: {process.args}")


def process_cpu_seconds(pid: int) -> float:
    """User + system time of one process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]


class Server:
    def __init__(
        self,
        args: list[str],
        port: int,
        env: dict | None = None,
        helpers: tuple[Server, ...] = (),
        start_timeout: float = 15,
    ) -> None:
        self.port = port
        self.helpers = helpers  # servers it uses whose CPU time is its own (its Redis)
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_port(port, self.process, start_timeout)
        except SystemExit:
            self.log.seek(0)
            sys.stderr.write(self.log.read().decode(errors="replace")[-2000:])
            self.stop()
            raise

    def rss(self, field: str = "VmRSS") -> int:
        """Resident memory now (VmRSS), or at its peak so far (VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) * 1024

    def cpu_seconds(self) -> float:
        """User + system time of the process with its children (gunicorn's worker) and of its helpers."""
        seconds = 0.0
        for pid in self.family():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                seconds += process_cpu_seconds(pid)
        return seconds + sum(helper.cpu_seconds() for helper in self.helpers)

    def family(self) -> list[int]:
        """The process and its children (app.py's workers, gunicorn's worker), as they are now."""
        pids, left = [], [self.process.pid]
        while left:
            pid = left.pop()
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                left += children(pid)
                pids.append(pid)
        return pids

    def stop(self) -> None:
        family = self.family()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in family[1:]:  # a child that outlived its parent (none should)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


def stop_all(servers: dict[str, Server]) -> list[int]:
    """Stops every server started, and returns the processes still running after it: none."""
    family = [pid for server in servers.values() for pid in server.family()]
    for server in servers.values():
        server.stop()
    deadline = time.monotonic() + 5
    while (alive := [pid for pid in family if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie's parent, this script, has not waited for it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def request(port: int, method: str, path: str, cookies: dict[str, str], form: dict | None = None):
    """One request, no redirects followed; the jar takes the Set-Cookie headers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    body = urllib.parse.urlencode(form) if form is not None else None
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode()
    for header in response.msg.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        if value in ('""', ""):
            cookies.pop(name, None)
        else:
            cookies[name] = value
    connection.close()
    return response.status, text


def log_in(port: int) -> tuple[dict[str, str], str, dict[str, str]]:
    """A browser's login: its cookies after it, and for wrk the login form
    body with the cookies that go with it."""
    cookies: dict[str, str] = {}
    status, page = request(port, "GET", "/login", cookies)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    login_body = urllib.parse.urlencode({"_xsrf": xsrf, **LOGIN_FORM})
    login_cookies = dict(cookies)
    status, _ = request(port, "POST", "/login", cookies, {"_xsrf": xsrf, **LOGIN_FORM})
    assert status == 303 and "session" in cookies, f"login failed: {status}"
    status, page = request(port, "GET", "/dashboard", cookies)
    assert status == 200 and "Hello, Demo User" in page, f"dashboard: {status}"
    return cookies, login_body, login_cookies


def cookie_header(cookies: dict[str, str]) -> list[str]:
    return ["-H", "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())] if cookies else []


def wrk(
    url: str,
    seconds: float,
    *,
    server: Server | None = None,
    connections: int = CONNECTIONS,
    cookies: dict | None = None,
    expect: int = 200,
    form_body: str | None = None,
    stop_after: int = 0,
    background: bool = False,
    env_extra: dict | None = None,
    counted: bool = False,
):
    """One wrk run; with a server, also that server's CPU time per request. A counted
    run leaves no request for the page in flight when it ends (see wrk.lua)."""
    env = {**os.environ, "EXPECT_STATUS": str(expect), "STOP_AFTER": str(stop_after), **(env_extra or {})}
    if form_body:
        env["FORM_BODY"] = form_body
    if counted:
        env |= {"COUNT_FOR_MS": str(seconds * 1000), "TAIL_PATH": UNCOUNTED_PATH}
        seconds += DRAIN_LIMIT
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout=10s", "-s", str(BENCH / "wrk.lua")]
    cpu_before = server.cpu_seconds() if server else 0.0
    process = subprocess.Popen([*args, *cookie_header(cookies or {}), url], env=env, stdout=subprocess.PIPE, text=True)
    if background:
        return process
    result = wrk_result(process)
    if server:
        result["cpu_us"] = (server.cpu_seconds() - cpu_before) / max(result["requests"], 1) * 1e6
    return result


def wrk_result(process: subprocess.Popen) -> dict:
    summary = None
    for line in process.stdout:
        if line.startswith("WRK_DRAINED"):
            process.send_signal(signal.SIGINT)  # wrk would wait out its -d; interrupted, it prints its summary
        elif line.startswith("WRK_JSON "):
            summary = line.removeprefix("WRK_JSON ")
    process.wait()
    if summary is None:
        raise SystemExit(f"wrk printed no summary: {process.args}")
    result = json.loads(summary)
    if result["counted_us"]:
        result["rps"] = result["page_answers_in_time"] / (result["counted_us"] / 1e6)
    else:
        result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = result["unexpected"] + result["connect"] + result["read"] + result["write"] + result["timeout"]
    result["cookies"] = dict(pair.split("=", 1) for pair in result.pop("cookie").split("; ") if pair)
    return result


class VisitCount:
    """One session's dashboard under wrk: every 200 answer its page gave,
    from every run, should have added exactly one visit to its counter."""

    def __init__(self, port: int, cookies: dict[str, str], answers: int) -> None:
        self.port, self.cookies, self.answers, self.unanswered = port, cookies, answers, 0

    def wrk(self, seconds: int, server: Server | None = None, connections: int = CONNECTIONS) -> dict:
        url = f"http://127.0.0.1:{self.port}/dashboard"
        result = wrk(url, seconds, server=server, connections=connections, cookies=self.cookies, counted=True)
        self.answers += result["page_ok"]
        self.unanswered += result["page_sent"] - result["page_answers"]
        self.cookies = result["cookies"]  # the cookie of the last answer: a cookie session's latest state
        return result

    def check(self) -> dict:
        """One more visit, whose page shows the count."""
        status, page = request(self.port, "GET", "/dashboard", self.cookies)
        assert status == 200, f"logged out during the benchmark: {status}"
        self.answers += 1
        return {"answers": self.answers, "page": int(VISITS.search(page).group(1)), "unanswered": self.unanswered}


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", cpuinfo)
    return (
        f"{os.cpu_count()} CPUs ({model.group(1) if model else platform.machine()}), "
        f"Python {platform.python_version()}, Tornado {tornado.version}"
    )


def median(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def row(name: str, rounds: list[dict]) -> str:
    cpu = f"{median(rounds, 'cpu_us'):,.0f}" if all("cpu_us" in r for r in rounds) else "-"
    return (
        f"| {name} | {median(rounds, 'rps'):,.0f} | {median(rounds, 'p50_us') / 1000:.1f} | "
        f"{median(rounds, 'p99_us') / 1000:.1f} | {cpu} | {sum(r['errors'] for r in rounds)} |"
    )


def ratios(top: list[dict], bottom: list[dict], key: str) -> tuple[float, str]:
    """The median of per-round ratios (rows of one round ran a few seconds apart), and each round's."""
    each = [x[key] / y[key] for x, y in zip(top, bottom, strict=True)]
    return statistics.median(each), ", ".join(f"{r:.2f}" for r in each)


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def counter(visits: dict) -> str:
    seen = f"{visits['answers']:,} answers, page says {visits['page']:,}"
    if visits["unanswered"]:
        # Sent, never answered (a socket error): the server may or may not have counted them.
        return f"unknown, {visits['unanswered']} requests unanswered: {seen}"
    return f"{'yes' if visits['page'] == visits['answers'] else 'no'}: {seen}"


def report_peers(a: list[dict], results: dict, peers: list[dict]) -> None:
    print(
        "\nPeers: the same page (a template; the user and a visit counter from the session), one process each, "
        "access logs off. Ours: our dashboard's requests/s over the peer's (median of the rounds' ratios). "
        "Counter exact: the count its page shows at the end against every 200 answer it gave that session.\n"
    )
    print("| Peer | Session kept in | Requests/s | Ours | Counter exact |")
    print("|---|---|---:|---:|---|")
    for peer in peers:
        rounds = results[peer["name"]]
        peer["ours"], _ = ratios(a, rounds, "rps")
        where = f"{peer['kept']} ({'server' if peer['on_server'] else 'client'})"
        print(
            f"| {peer['name'].removeprefix('peer: ')} | {where} | {median(rounds, 'rps'):,.0f} | "
            f"{peer['ours']:.2f}x | {counter(peer['visits'])} |"
        )
    print()

    def names(chosen: list[dict]) -> str:
        return "; ".join(f"{p['name'].removeprefix('peer: ')} ({p['ours']:.2f}x)" for p in chosen) or "none"

    # The express seed has its own target line above; this one is about the Python peers.
    on_server = [peer for peer in peers if peer["on_server"] and peer["name"] != PEER]
    print(
        f"- Ahead of every Python peer that keeps its session on the server: "
        f"{verdict(all(p['ours'] >= 1 for p in on_server))}, ours over theirs: {names(on_server)}."
    )
    in_cookie = [peer for peer in peers if not peer["on_server"]]
    faster = [peer for peer in in_cookie if peer["ours"] < 1]
    print(
        f"- Faster than our dashboard, with the whole session in a cookie: {names(faster)}. What a cookie session "
        "gives up for it (4 KB, no revoking, an old cookie replayed, lost counts): bench/README.md."
    )
    lost = [peer for peer in in_cookie if peer["visits"]["page"] != peer["visits"]["answers"]]
    if lost:
        print(
            f"- A cookie session cannot count exactly under concurrency: {names(lost)}. Every request in flight "
            "carries the cookie of an earlier answer, and the answer that comes last sets the count: the visits "
            f"that overlapped it are lost (wrk keeps one cookie jar for its {CONNECTIONS} connections, as a browser "
            "does for its tabs)."
        )
    lost = [peer for peer in on_server if peer["visits"]["page"] != peer["visits"]["answers"]]
    if lost:
        print(
            f"- Kept on the server but counted wrong: {names(lost)}. The session is loaded and saved whole, so "
            "requests that overlap overwrite each other's count (a lost update)."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8, help="length of each row's run in each round")
    parser.add_argument("--soak", type=int, default=30, help="length of the -c100 error check")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s, 5 s error check")
    parser.add_argument("--peers", action="store_true", help="also the Python peers of bench/peers")
    parser.add_argument("--no-instructions", action="store_true", help="skip the callgrind count (about 2 minutes)")
    parser.add_argument(
        "--json",
        default=str(BENCH / "results" / f"load-{datetime.date.today()}.json"),
        help="where to write the table and the targets for bench/chart.py ('' for nowhere)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.soak = 1, 3, 5
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    started = time.monotonic()
    results = measure_servers(args)
    results["store"] = {
        mode: json.loads(
            subprocess.run(
                [sys.executable, str(BENCH / "store_at_scale.py"), mode],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                check=True,
            ).stdout
        )
        for mode in ("memory", "tracemalloc", "sweep")
    }
    instructions = None
    if not args.no_instructions and shutil.which("valgrind"):
        import instructions as counting  # bench/instructions.py

        print("instructions per request (callgrind)", file=sys.stderr)
        pages = [*counting.PAGES, *([counting.ON_REDIS] if shutil.which("redis-server") else [])]
        instructions = counting.measure(pages, counting.REQUESTS)
    report(args, results, time.monotonic() - started, instructions)


def start_servers(servers: dict[str, Server]) -> None:
    """Our servers, into `servers` as each starts, so that a failure part way still stops those started."""
    # The logins rows sign demo in thousands of times: past the per-user limit they would end
    # the sessions whose visit counters are checked at the end.
    python = sys.executable
    flags = [f"--cookie-secret={SECRET}", "--logging=warning", "--max-sessions-per-user=1000000"]
    servers["site"] = Server([python, "app.py", f"--port={(port := free_port())}", *flags], port)
    servers["bare"] = Server(
        [python, "bench/page_without_session.py", f"--port={(port := free_port())}", *flags],
        port,
        env={"PYTHONPATH": str(ROOT)},
    )
    servers["hello"] = Server([python, "bench/hello.py", f"--port={(port := free_port())}", "--logging=warning"], port)
    if shutil.which("node") and (BENCH / "express/node_modules").is_dir():
        servers["express"] = Server(
            ["node", "bench/express/server.js", str(port := free_port()), SECRET], port, env={"NODE_ENV": "production"}
        )
    else:
        print("express peer skipped: run `npm ci` in bench/express", file=sys.stderr)
    if not shutil.which("redis-server"):
        print("Redis rows skipped: apt-get install redis-server", file=sys.stderr)
        return
    # One redis-server for every row on Redis, ours and aiohttp-session's: each row's CPU per answer
    # counts what redis-server spent during that row's run (the rows run one at a time).
    port = free_port()  # no --dir: with --save "" it writes nothing
    redis = servers["redis"] = Server(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], port
    )
    store = f"--session-store=redis://127.0.0.1:{port}/0"
    for name, processes in ((REDIS_SERVER, 1), (REDIS_SERVER_2, 2)):
        command = [python, "app.py", f"--port={(port := free_port())}", store, f"--processes={processes}", *flags]
        servers[name] = Server(command, port, helpers=(redis,))


@dataclass
class Peer:
    name: str  # with the versions
    kept: str  # where the session lives
    on_server: bool
    server: Server
    short: str  # for the chart
    visits: VisitCount | None = None


PEER_MODULES = ("starlette", "uvicorn", "aiohttp", "aiohttp_session", "aiohttp_jinja2", "flask", "flask_session")


def start_peers(servers: dict[str, Server], scratch: Path) -> list[Peer]:
    """The Python peers of bench/peers, one process each; servers gets them too, to be stopped."""
    missing = [name for name in PEER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"--peers needs {', '.join(missing)}: pip install -r bench/requirements.txt")
    if not shutil.which("redis-server"):
        raise SystemExit("--peers needs redis-server: apt-get install redis-server")
    v = importlib.metadata.version
    redis_version = re.search(r"v=(\S+)", subprocess.check_output(["redis-server", "--version"], text=True)).group(1)
    redis = servers["redis"]  # the one our rows on Redis use
    # A single process each, access logs off: uvicorn on asyncio's loop with h11 (uvloop and httptools
    # are uvicorn[standard]'s, not installed), gunicorn with one sync worker (one request at a time).
    uvicorn = [sys.executable, "-m", "uvicorn", "starlette_peer:app", "--app-dir", "bench/peers", "--port", "{port}"]
    uvicorn += ["--log-level", "warning", "--no-access-log", "--loop", "asyncio", "--http", "h11"]
    gunicorn = [sys.executable, "-m", "gunicorn", "flask_peer:app", "--chdir", "bench/peers", "--workers", "1"]
    gunicorn += ["--worker-class", "sync", "--bind", "127.0.0.1:{port}", "--log-level", "warning"]
    aiohttp = [sys.executable, "bench/peers/aiohttp_peer.py", "{port}"]
    on_aiohttp = f"aiohttp {v('aiohttp')} + aiohttp-session {v('aiohttp-session')}"
    on_gunicorn = f"gunicorn {v('gunicorn')}, 1 sync worker"
    starlette = f"Starlette {v('starlette')} + SessionMiddleware, uvicorn {v('uvicorn')}"
    flask = f"Flask {v('flask')}, {on_gunicorn}"
    flask_session = f"Flask {v('flask')} + Flask-Session {v('flask-session')} (cachelib), {on_gunicorn}"
    aiohttp_redis = f"{on_aiohttp} RedisStorage, redis-server {redis_version}"
    files = {"PEER_SESSION_DIR": str(scratch / "flask-session")}
    specs = [  # name, short name, where the session is kept, on the server?, command, environment, servers it uses
        (starlette, "Starlette SessionMiddleware", "signed cookie", False, uvicorn, {}, ()),
        (f"{on_aiohttp} EncryptedCookieStorage", "aiohttp-session", "encrypted cookie", False, aiohttp, {}, ()),
        (aiohttp_redis, "aiohttp-session", "Redis", True, [*aiohttp, f"redis://127.0.0.1:{redis.port}"], {}, (redis,)),
        (flask, "Flask's own session", "signed cookie", False, gunicorn, {}, ()),
        (flask_session, "Flask-Session", "files", True, gunicorn, files, ()),
    ]
    peers = []
    for number, (name, short, kept, on_server, command, env, helpers) in enumerate(specs):
        port = free_port()
        server = Server(
            [arg.format(port=port) for arg in command], port, env={"PEER_SECRET": SECRET, **env}, helpers=helpers
        )
        servers[f"peer {number}"] = server
        peers.append(Peer(f"peer: {name}", kept, on_server, server, short))
    return peers


def log_in_to_peer(port: int) -> dict[str, str]:
    """A peer's login as the express peer's: a form with a username, answered 303; then its dashboard once."""
    cookies: dict[str, str] = {}
    status, _ = request(port, "POST", "/login", cookies, {"username": "demo"})
    assert status == 303 and cookies, f"peer login failed: {status}"
    status, page = request(port, "GET", "/dashboard", cookies)
    assert status == 200 and VISITS.search(page).group(1) == "1", f"peer dashboard: {status}"
    return cookies


def measure_servers(args: argparse.Namespace) -> dict:
    servers: dict[str, Server] = {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        start_servers(servers)
        site, bare, express = servers["site"], servers["bare"], servers.get("express")
        peers = start_peers(servers, scratch) if args.peers else []
        site_url = f"http://127.0.0.1:{site.port}"
        cookies, login_body, login_cookies = log_in(site.port)
        visits = VisitCount(site.port, cookies, answers=1)  # log_in() saw the dashboard once

        def logins(seconds: float, background: bool = False):
            return wrk(
                site_url + "/login",
                seconds,
                server=None if background else site,
                connections=LOGIN_CONNECTIONS,
                cookies=login_cookies,
                expect=303,
                form_body=login_body,
                background=background,
            )

        rows = {
            "(b) same page, no session": lambda s: wrk(
                f"http://127.0.0.1:{bare.port}/bench/dashboard-without-session", s, server=bare, cookies=cookies
            ),
            "(c) home page, anonymous": lambda s: wrk(site_url + "/", s, server=site),
            HELLO: lambda s: wrk(f"http://127.0.0.1:{servers['hello'].port}/", s, server=servers["hello"]),
            f"(d) logins (scrypt), -c{LOGIN_CONNECTIONS}": logins,
        }
        if express:
            peers.insert(0, Peer(PEER, "MemoryStore", True, express, "express-session, plain text"))
        for peer in peers:
            peer.visits = VisitCount(peer.server.port, log_in_to_peer(peer.server.port), answers=1)
            rows[peer.name] = lambda s, peer=peer: peer.visits.wrk(s, server=peer.server)
        if REDIS_SERVER in servers:
            on_redis, on_redis_2 = servers[REDIS_SERVER], servers[REDIS_SERVER_2]
            redis_visits = VisitCount(on_redis.port, log_in(on_redis.port)[0], answers=1)
            rows[REDIS_DASHBOARD] = lambda s: redis_visits.wrk(s, server=on_redis)
            two_visits = VisitCount(on_redis_2.port, log_in(on_redis_2.port)[0], answers=1)
            rows[REDIS_DASHBOARD_2] = lambda s: two_visits.wrk(s, server=on_redis_2)
        # Last, so that (e) runs right after it and noise on the machine hits both alike.
        rows[DASHBOARD] = lambda s: visits.wrk(s, server=site)

        # Every page once warm (templates compiled, threads started) before memory is measured.
        warm = {name: run(2) for name, run in rows.items()}
        anonymous: dict[str, str] = {}
        request(site.port, "GET", "/", anonymous)
        assert "session" not in anonymous, "an anonymous visit made a session"
        rss_before = site.rss()
        flood = {"requests": 0, "errors": 0, "rss_before": rss_before}
        while flood["requests"] < FLOOD:
            # wrk runs for its whole duration even once stopped: give it about enough.
            left = FLOOD - flood["requests"]
            run = wrk(site_url + "/", round(left / warm["(c) home page, anonymous"]["rps"]) + 1, stop_after=left)
            flood["requests"] += run["requests"]
            flood["errors"] += run["errors"]
        flood["rss_after"] = site.rss()

        results: dict = {name: [] for name in (DASHBOARD, *rows, PARALLEL, PARALLEL_LOGINS)}
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}", file=sys.stderr)
            for name, run in rows.items():
                results[name].append(run(args.seconds))
            beside = logins(args.seconds + 2, background=True)
            time.sleep(1)  # the dashboard run starts with logins already in flight
            results[PARALLEL].append(visits.wrk(args.seconds))
            results[PARALLEL_LOGINS].append(wrk_result(beside))
        results["soak"] = [visits.wrk(args.soak, server=site)]
        if REDIS_SERVER in servers:
            results["many clients"] = [two_visits.wrk(args.seconds, server=on_redis_2, connections=MANY_CLIENTS)]
            results["two processes visits"] = two_visits.check()
        results["flood"] = flood
        results["visits"] = visits.check()
        results["peers"] = [
            {
                "name": peer.name,
                "short": peer.short,
                "kept": peer.kept,
                "on_server": peer.on_server,
                "visits": peer.visits.check(),
            }
            for peer in peers
        ]
        return results
    finally:
        alive = stop_all(servers)
        shutil.rmtree(scratch, ignore_errors=True)
        # Issue 22: a redis-server was once left running, and the next run's took its place.
        print(
            f"still running after the stop: {alive}" if alive else "every server started was stopped", file=sys.stderr
        )


def cpu_ratio(peer: list[dict], ours: list[dict]) -> float:
    """The peer's server CPU per answer over ours (above 1: we use less), the median of the rounds' ratios."""
    return ratios(peer, ours, "cpu_us")[0]


def versus_table(results: dict, peers: list[dict], instructions: dict | None) -> list[dict]:
    """Issue 22's table: our dashboard against each peer, by CPU per answer and, where counted, by instructions."""
    a = results[DASHBOARD]
    # Their count over the dashboard's, as the CPU column reads (above 1: we run fewer).
    by_instructions = {page: count / instructions["dashboard"] for page, count in (instructions or {}).items()}
    table = [
        {
            "peer": "same page without a session",
            "cpu": cpu_ratio(results["(b) same page, no session"], a),
            "instructions": by_instructions.get("page without a session"),
        },
        {
            "peer": "bare Tornado writing a string",
            "cpu": cpu_ratio(results[HELLO], a),
            "instructions": by_instructions.get("bare Tornado"),
        },
    ]
    for peer in peers:
        rounds, name = results[peer["name"]], f"{peer['short']} ({peer['kept']})"
        if peer["kept"] == "Redis":  # against ours on the same redis-server, each with redis-server's CPU
            if REDIS_DASHBOARD in results:
                table.append({"peer": f"ours on Redis ÷ {name}", "cpu": cpu_ratio(rounds, results[REDIS_DASHBOARD])})
        else:
            table.append({"peer": name, "cpu": cpu_ratio(rounds, a)})
    return table


def issue_targets(
    results: dict, peers: list[dict], instructions: dict | None, crowd: list[dict] | None, two_visits: dict | None
) -> list[dict]:
    """Issue 22's targets 1-5, each with its figure and whether it is met (None: not measured in this run)."""
    a = results[DASHBOARD]
    targets = []

    def target(number: int, text: str, figure: str, met: bool | None) -> None:
        targets.append({"number": number, "target": text, "figure": figure, "met": met})

    text = "Dashboard at or above the express seed's CPU per answer (one process, memory store)"
    if PEER in results:
        ratio, each = ratios(results[PEER], a, "cpu_us")
        target(1, text, f"{ratio:.2f}x (express's CPU per answer over ours; rounds {each})", ratio >= 1)
    else:
        target(1, text, "not measured: run `npm ci` in bench/express", None)
    text = "Ours on Redis at or above aiohttp-session on Redis, by CPU per answer (same redis-server)"
    on_redis = [peer for peer in peers if peer["kept"] == "Redis"]
    if on_redis and REDIS_DASHBOARD in results:
        ratio, each = ratios(results[on_redis[0]["name"]], results[REDIS_DASHBOARD], "cpu_us")
        figure = f"{ratio:.2f}x (theirs over ours; rounds {each})"
        if instructions and "dashboard on Redis" in instructions:
            figure += (
                f"; our site's own instructions a request: {instructions['dashboard on Redis'] / 1000:,.0f}k "
                f"on Redis, {instructions['dashboard'] / 1000:,.0f}k in memory"
            )
        target(2, text, figure, ratio >= 1)
    else:
        target(2, text, "not measured: needs --peers and redis-server", None)
    text = "--processes=2 serves at least 1.3x one process on Redis (requests/s)"
    if REDIS_DASHBOARD_2 in results:
        ratio, each = ratios(results[REDIS_DASHBOARD_2], results[REDIS_DASHBOARD], "rps")
        target(3, text, f"{ratio:.2f}x (rounds {each})", ratio >= 1.3)
    else:
        target(3, text, "not measured: needs redis-server", None)
    text = "Dashboard at 0.75x bare Tornado's instructions per request or better, session overhead within 10%"
    if instructions:
        dashboard, bare, plain = (instructions[p] for p in ("dashboard", "bare Tornado", "page without a session"))
        floor, overhead = bare / dashboard, plain / dashboard
        figure = (
            f"{floor:.2f}x bare Tornado ({dashboard / 1000:,.0f}k against {bare / 1000:,.0f}k), "
            f"{overhead:.2f}x the page without a session ({plain / 1000:,.0f}k)"
        )
        if small_reads := instructions.get("bare Tornado, 4 KiB reads"):
            figure += f"; bare Tornado reading 4 KiB at a time, as our server does: {small_reads / 1000:,.0f}k, "
            figure += f"{small_reads / dashboard:.2f}x"
        target(4, text, figure, floor >= 0.75 and overhead >= 0.9)
    else:
        target(4, text, "not measured: needs valgrind (or --no-instructions was given)", None)
    text = f"The counter stays exact under {MANY_CLIENTS} clients on two processes (Redis)"
    if crowd and two_visits:
        exact = not two_visits["unanswered"] and two_visits["page"] == two_visits["answers"]
        run = crowd[0]
        kinds = ("unexpected_3xx", "unexpected_4xx", "unexpected_5xx", "connect", "read", "write", "timeout")
        kinds = ", ".join(f"{run[kind]} {kind.removeprefix('unexpected_')}" for kind in kinds)
        target(5, text, f"{counter(two_visits)}; at -c{MANY_CLIENTS}: {kinds}", exact)
    else:
        target(5, text, "not measured: needs redis-server", None)
    return targets


def report_versus(table: list[dict], targets: list[dict]) -> None:
    print("\n| Ours ÷ peer (above 1: we use less per answer) | by CPU | by instructions |\n|---|---:|---:|")
    for line in table:
        counted = f"{line['instructions']:.2f}" if line.get("instructions") else "-"
        print(f"| {line['peer']} | {line['cpu']:.2f} | {counted} |")
    print("\n| Target (issue 22) | Measured | Result |\n|---|---|---|")
    for t in targets:
        result = {True: "**met**", False: "**missed**", None: "not measured"}[t["met"]]
        print(f"| {t['number']}. {t['target']} | {t['figure']} | {result} |")


def report(args: argparse.Namespace, results: dict, elapsed: float, instructions: dict | None) -> None:
    a, b, e = results[DASHBOARD], results["(b) same page, no session"], results[PARALLEL]
    flood, store, soak = results.pop("flood"), results.pop("store"), results.pop("soak")
    visits, peers = results.pop("visits"), results.pop("peers")
    crowd, two_visits = results.pop("many clients", None), results.pop("two processes visits", None)
    print(f"\n{datetime.date.today()}: {machine()}.")
    print(
        f"{args.rounds} rounds of {args.seconds} s, medians; wrk -t1 -c{CONNECTIONS} unless noted; "
        "Tornado servers run with --logging=warning (no access log).\n"
    )
    print("| Run | Requests/s | p50 ms | p99 ms | Server CPU µs/request | Errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rounds in results.items():
        print(row(name, rounds))
    print(row(f"(a) again, -c{CONNECTIONS} for {args.soak} s", soak))
    print(
        "\nErrors: answers other than 200 (303 for logins) plus socket errors (connect, read, write, timeout). "
        "Dashboards (ours and the peers') run counted: requests/s over their time, then wrk turns to a 404 "
        "until every request for the page has its answer (any 404s answered meanwhile are in the CPU and latency).\n"
    )

    overhead, each = ratios(a, b, "rps")
    cpu_overhead, cpu_each = ratios(b, a, "cpu_us")
    print(
        f"- Logged-in dashboard at >= 90% of the same page without a session: {verdict(overhead >= 0.9)}, "
        f"{overhead:.0%} of its requests/s (rounds: {each}); "
        f"by server CPU per request, {cpu_overhead:.0%} ({cpu_each})."
    )
    grown = (flood["rss_after"] - flood["rss_before"]) / 2**20
    print(
        f"- {flood['requests']:,} cookie-less requests grow RSS < 5 MB: {verdict(grown < 5 * 10**6 / 2**20)}, "
        f"{flood['rss_before'] / 2**20:.1f} -> {flood['rss_after'] / 2**20:.1f} MiB ({grown:+.2f} MiB), "
        f"{flood['errors']} errors, no session cookie for an anonymous visit."
    )
    memory, traced = store["memory"], store["tracemalloc"]
    print(
        f"- MemoryStore holds {memory['sessions']:,} sessions in < 100 MB: "
        f"{verdict(memory['total_bytes'] < 100 * 10**6)}, {memory['total_bytes'] / 10**6:.1f} MB RSS, "
        f"{memory['per_session']:.0f} B a session (tracemalloc: {traced['per_session']:.0f} B); "
        "each a logged-in session with a visit counter and two flashes."
    )
    small, large, many = store["sweep"]["sweeps"]
    by_size = large["median_sweep_s"] / small["median_sweep_s"]
    by_expired = many["median_sweep_s"] / large["median_sweep_s"]
    # A scan would take 10x as long in the 10x store; the expiry heap pays only log(size) more.
    print(
        f"- Sweeps cost what expired, not the store's size: {verdict(by_size < 3 and by_expired > 5)}, "
        f"{small['expired']:,} expired of {small['size']:,}: {small['median_sweep_s'] * 1000:.1f} ms, "
        f"of {large['size']:,}: {large['median_sweep_s'] * 1000:.1f} ms ({by_size:.1f}x for a 10x store); "
        f"{many['expired']:,} of {many['size']:,}: {many['median_sweep_s'] * 1000:.1f} ms ({by_expired:.1f}x for 10x "
        f"expired); nothing due: {large['median_sweep_nothing_due_s'] * 1e6:.1f} µs (every load() checks)."
    )
    stall, each = ratios(e, a, "p99_us")
    print(
        f"- Dashboard p99 with logins in parallel within 2x of without: {verdict(stall <= 2)}, "
        f"{stall:.2f}x (rounds: {each})."
    )
    errors = sum(r["errors"] for rounds in results.values() for r in rounds)
    print(
        f"- Zero errors under {CONNECTIONS} connections for {args.soak} s: {verdict(soak[0]['errors'] == 0)}, "
        f"{soak[0]['errors']} errors in {soak[0]['requests']:,} requests ({errors} in all other runs)."
    )
    if REDIS_DASHBOARD in results:
        versus, each = ratios(results[REDIS_DASHBOARD], a, "rps")
        print(
            f"- The dashboard with sessions in Redis: {versus:.0%} of its requests/s with sessions in memory "
            f"(rounds: {each}); its CPU column includes redis-server's."
        )
    floor, each = ratios(a, results[HELLO], "rps")
    by_cpu, _ = ratios(results[HELLO], a, "cpu_us")
    print(
        f"- Dashboard at >= 0.75x bare Tornado writing a constant string: {verdict(floor >= 0.75)}, "
        f"{floor:.2f}x of its requests/s (rounds: {each}); by server CPU per request {by_cpu:.2f}x."
    )
    if PEER in results:
        versus, each = ratios(a, results[PEER], "rps")
        print(
            f"- Our HTML dashboard at least as fast as express-session's plain-text one: {verdict(versus >= 1)}, "
            f"{versus:.0%} of its requests/s (rounds: {each})."
        )
    print(
        f"- After the run, the dashboard's counter equals its answers: "
        f"{verdict(not visits['unanswered'] and visits['page'] == visits['answers'])}, "
        f"counter exact: {visits['answers']:,} answers, page says {visits['page']:,}"
        + (
            f" ({visits['unanswered']} requests unanswered, which it may have counted)."
            if visits["unanswered"]
            else "."
        )
    )
    if peers:
        report_peers(a, results, peers)
    table = versus_table(results, peers, instructions)
    targets = issue_targets(results, peers, instructions, crowd, two_visits)
    report_versus(table, targets)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "date": str(datetime.date.today()),
                    "machine": machine(),
                    "runs": f"{args.rounds} round{'s' if args.rounds > 1 else ''} of {args.seconds} s, medians",
                    "table": table,
                    "targets": targets,
                }
            )
        )
        print(f"\nThe table and the targets as JSON: {args.json} (a chart of it: bench/chart.py {args.json})")
    print(f"\nWhole run: {elapsed / 60:.1f} min.")


if __name__ == "__main__":
    main()
