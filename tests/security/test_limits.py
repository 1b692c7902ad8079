"""What a request may hold and cost: bodies refused before they are read,
static files and odd paths answered with the site's page and headers, and
logins that cannot queue up without bound."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import tornado.httpclient
from conftest import Browser

from auth import accounts
from security.conftest import body, raw_request
from serving.limits import BodyBudget, Connections

pytestmark = pytest.mark.gen_test

SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def head_and_page(answer: bytes) -> tuple[dict[str, str], str]:
    head, _, page = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}, page.decode()


def assert_security_headers(headers) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert value in headers.get(name, headers.get(name.lower(), "")), f"{name} missing"


async def test_a_declared_50_mb_body_is_refused_with_a_413_page_before_any_of_it_is_sent(http_server, base_url):
    # Only the headers are sent: an answer now means the body was never waited for, let alone read.
    status, answer = await raw_request(
        base_url,
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 50000000",
    )
    assert status == 413
    headers, page = head_and_page(answer)
    assert_security_headers(headers)
    assert "far more than any form on this site sends" in page
    assert "session" not in headers.get("set-cookie", "")


async def test_a_chunked_body_past_the_limit_is_refused_with_a_413_page(http_server, base_url):
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 8192
    for _ in range(10):  # 80 KiB, and no last chunk: the body never ends
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    headers, page = head_and_page(answer)
    assert_security_headers(headers)
    assert "far more than any form on this site sends" in page


async def held_body(base_url: str, declared: int, sent: bytes) -> asyncio.StreamWriter:
    """A connection that has declared a body and sent part of it; left open."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % declared)
    assert (await asyncio.wait_for(reader.readline(), timeout=10)).startswith(b"HTTP/1.1 100"), "its headers are in"
    writer.write(sent)
    return writer


async def test_bodies_past_the_memory_budget_get_a_503_page_before_they_are_sent(app, http_server, base_url):
    app.bodies.limit = 150_000  # two almost-full forms; the site's is 32 MiB
    held = [await held_body(base_url, 65_000, b"a" * 64_000) for _ in range(2)]
    # Only the headers: the answer comes before any of the body was asked for.
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 30000"
    )
    status, answer = await raw_request(base_url, head)
    assert status == 503
    headers, page = head_and_page(answer)
    assert headers["retry-after"] == "5"
    assert "receiving many forms right now" in page
    assert_security_headers(headers)
    held[0].close()  # a client that leaves gives its share back
    await held[0].wait_closed()
    for _ in range(500):  # until the server has seen it leave
        if app.bodies.used == 65_000:
            break
        await asyncio.sleep(0.01)
    status, answer = await raw_request(base_url, head, b"x" * 30_000)
    assert status == 403, "read, and refused only for its missing _xsrf field"
    held[1].close()


async def test_a_chunked_body_past_the_memory_budget_gets_the_503_page(app, http_server, base_url):
    app.bodies.limit = 50_000
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"a" * 8192
    for _ in range(7):  # 56 KiB: under the size limit, over the budget; no last chunk
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert "receiving many forms right now" in head_and_page(answer)[1]
    assert app.bodies.used == 0


def test_the_body_budget_counts_what_each_request_holds_until_it_ends():
    budget = BodyBudget(limit=100)
    assert budget.take("a", 60) and budget.take("b", 40)
    assert not budget.take("c", 1), "full: refused, and nothing taken"
    assert budget.used == 100 and "c" not in budget.held
    budget.give_back("a")
    budget.give_back("a")  # a request ends once whichever way it is told
    assert budget.used == 40
    assert budget.take("b", 30) and budget.held["b"] == 70, "a chunked body takes more as it comes"
    assert not budget.take("c", 31)
    budget.give_back("b")
    budget.give_back("never-took")
    assert budget.used == 0 and budget.held == {}


def test_at_the_connection_cap_the_longest_waiting_then_the_longest_sending_body_gives_way():
    connections = Connections()
    for name in ("slow-body-1", "slow-body-2", "answering", "idle"):
        connections.opened(name)
    connections.headers_received("slow-body-1", body_follows=True)
    connections.headers_received("slow-body-2", body_follows=True)
    connections.headers_received("answering", body_follows=False)
    assert len(connections) == 4
    assert connections.to_close() == "idle", "a connection waiting for headers goes first"
    connections.closed("idle")
    assert connections.to_close() == "slow-body-1", "then the one sending its body the longest"
    connections.body_received("slow-body-1")  # its body is in: now it is being answered
    assert connections.to_close() == "slow-body-2"
    connections.closed("slow-body-2")
    assert connections.to_close() is None, "a request being answered is never cut off"
    connections.waiting_for_request("answering")  # answered; keep-alive waits for the next request
    assert connections.to_close() == "answering"
    connections.closed("answering")
    connections.closed("slow-body-1")
    assert len(connections) == 0
    connections.waiting_for_request("gone")  # a closed connection is not brought back
    assert "gone" not in connections


async def test_a_form_within_the_limit_is_still_read(browser):
    response = await browser.login(next="/dashboard?" + "a" * 60_000)
    assert response.code == 303, "a 60 KB form is accepted"


async def test_static_files_and_their_error_pages_carry_the_security_headers(browser):
    for path, code in [
        ("/static/site.css", 200),
        ("/static/favicon.svg", 200),
        ("/static/nowhere.css", 404),
        ("/favicon.ico", 404),
        ("/static/site.css%00", 400),
    ]:
        response = await browser.get(path)
        assert response.code == code, path
        assert_security_headers(response.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/static/site.css%00",
        "/static/%00",
        "/static/site.css%00.png",
        "/static/..%2fapp.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
        "/static/%5c..%5capp.py",
        "/static/",
        "/static/%ff",
        "/static/" + "a" * 5000,
        "/static/site.css/x",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_odd_static_paths_get_a_page_never_a_500(browser, path, method):
    response = await browser.request(path, method=method)
    assert response.code in (400, 403, 404), response.code
    assert_security_headers(response.headers)
    if method == "GET":
        assert "Back to the home page" in body(response)


async def test_logins_past_the_hashing_queue_are_answered_at_once_without_hashing(http_server, base_url, monkeypatch):
    hashing = accounts._HASHING_THREADS + accounts.MAX_WAITING_LOGINS
    gate, hashed = threading.Event(), []
    real_hash = accounts.hash_password

    def held_hash(password: str, salt: bytes) -> bytes:
        hashed.append(password)
        gate.wait(timeout=30)
        return real_hash(password, salt)

    monkeypatch.setattr(accounts, "hash_password", held_hash)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=hashing + 10)
    logins = [
        asyncio.ensure_future(Browser(client, base_url).login(username=f"user{n}", password="wrong"))
        for n in range(hashing + 2)
    ]
    try:
        answered_at_once = []
        while len(answered_at_once) < 2:
            done, _ = await asyncio.wait(
                [login for login in logins if login not in answered_at_once],
                timeout=10,
                return_when=asyncio.FIRST_COMPLETED,
            )
            assert done, "the two logins past the queue were not answered while the others waited"
            answered_at_once += done
    finally:
        gate.set()
    rest = await asyncio.gather(*(login for login in logins if login not in answered_at_once))
    client.close()
    for refused in (login.result() for login in answered_at_once):
        assert refused.code == 503
        assert refused.headers["Retry-After"] == "5"
        assert "Many logins are being checked right now" in body(refused)
        assert_security_headers(refused.headers)
        assert not any("session=" in c for c in refused.headers.get_list("Set-Cookie"))
    assert [response.code for response in rest] == [200] * hashing, "the others were checked as usual"
    assert len(hashed) == hashing, "no hashing for the logins refused"


def test_the_minimal_example_says_where_it_listens_and_refuses_a_large_body_unread():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    example = Path(__file__).parents[2] / "examples" / "minimal.py"
    process = subprocess.Popen([sys.executable, str(example), f"--port={port}"], stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, process.kill)  # a line that never comes fails the test, not the run
    watchdog.start()
    try:
        assert process.stdout.readline() == f"Listening on http://127.0.0.1:{port}/ (Ctrl+C stops)\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            # Tornado's default would read 99 MB into memory; 8 of them took the example to 1.3 GiB.
            connection.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 99000000\r\n\r\n")
            assert connection.makefile("rb").readline().startswith(b"HTTP/1.1 400")
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=20)
