"""The login throttle's counts in a shared store: guesses spread over two
servers still add up, and a login refused because the server is busy is
never counted, whichever store holds the counts."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid

import pytest
import redis_server
import tornado.httpclient
import tornado.httpserver
import tornado.testing
from conftest import COOKIE_SECRET, Browser

from app import make_app
from auth import accounts, throttle
from serving.storage import close_store, open_client
from sessions import MemoryStore, MongoStore

pytestmark = pytest.mark.gen_test


@pytest.fixture
def store(request, shared_database, io_loop):
    kind = getattr(request, "param", "shared")
    if kind == "shared":  # one nx-27017 database that both servers use
        yield MongoStore(shared_database["sessions"])
    elif kind == "memory":
        yield MemoryStore()
    elif kind == "redis":
        yield from redis_server.store(io_loop)
    else:  # MongoDB's wire protocol over a real socket, through PyMongo
        url = request.getfixturevalue("wire_server").url(f"busy_{uuid.uuid4().hex}")
        store = MongoStore(open_client(url, timeout=5, driver="pymongo").get_default_database()["sessions"])
        yield store
        io_loop.run_sync(lambda: close_store(store))


async def test_failures_on_one_server_throttle_the_other(http_client, base_url, session_config, shared_database, clock):
    second_app = make_app(MongoStore(shared_database["sessions"]), COOKIE_SECRET, session_config=session_config)
    sock, port = tornado.testing.bind_unused_port()
    second_server = tornado.httpserver.HTTPServer(second_app)
    second_server.add_sockets([sock])
    try:
        for n in range(throttle.FREE_ATTEMPTS):
            server = base_url if n % 2 else f"http://127.0.0.1:{port}"
            assert (await Browser(http_client, server).login(password="wrong")).code == 200
        assert (await Browser(http_client, base_url).login()).code == 429
        assert (await Browser(http_client, f"http://127.0.0.1:{port}").login()).code == 429
        clock.advance(throttle.FIRST_WAIT)
        assert (await Browser(http_client, f"http://127.0.0.1:{port}").login()).code == 303
        assert (await Browser(http_client, base_url).login(password="wrong")).code == 200, "the count was reset"
    finally:
        second_server.stop()
        await second_server.close_all_connections()


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("store", ["memory", "redis", "mongodb-wire-server"], indirect=True)
async def test_a_login_refused_because_the_server_is_busy_is_never_counted(app, http_server, base_url, monkeypatch):
    places = accounts._HASHING_THREADS + accounts.MAX_WAITING_LOGINS
    refused_count = 30
    gate = threading.Event()
    real_hash = accounts.hash_password

    def held_hash(password: str, salt: bytes) -> bytes:
        gate.wait(timeout=60)
        return real_hash(password, salt)

    monkeypatch.setattr(accounts, "hash_password", held_hash)
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=places + refused_count + 10)
    browsers = [Browser(client, base_url) for _ in range(places + refused_count)]
    tokens = [await b.xsrf() for b in browsers]  # first, so that the logins arrive together
    logins = [
        asyncio.ensure_future(b.request("/login", "POST", {"_xsrf": token, "username": f"user{n}", "password": "x"}))
        for n, (b, token) in enumerate(zip(browsers, tokens, strict=True))
    ]
    try:
        pending = set(logins)
        while len(pending) > places:  # the refused ones are answered while the others hash
            done, pending = await asyncio.wait(pending, timeout=60, return_when=asyncio.FIRST_COMPLETED)
            assert done, "no answer while the hashing queue was held"
    finally:
        gate.set()
    responses = await asyncio.gather(*logins)
    client.close()
    failures = app.settings["login_failures"]
    counted = [(await failures.get(throttle.account_key(f"user{n}")))[0] for n in range(len(logins))]
    outcomes = [(response.code, count) for response, count in zip(responses, counted, strict=True)]
    assert outcomes.count((503, 0)) == refused_count, outcomes
    assert outcomes.count((200, 1)) == places, outcomes


BURST = 40


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("store", ["memory", "redis", "mongodb-wire-server"], indirect=True)
async def test_a_burst_of_wrong_passwords_locks_for_the_wait_of_five_failures(app, http_server, base_url, clock):
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=BURST + 10)
    browsers = [Browser(client, base_url) for _ in range(BURST)]
    tokens = [await b.xsrf() for b in browsers]  # first, so that the guesses arrive together
    guesses = await asyncio.gather(
        *(
            b.request("/login", "POST", {"_xsrf": token, "username": "demo", "password": "wrong"})
            for b, token in zip(browsers, tokens, strict=True)
        )
    )
    assert {response.code for response in guesses} <= {200, 429, 503}
    counted = await app.settings["login_failures"].get(throttle.account_key("demo"))
    assert counted == (throttle.FREE_ATTEMPTS, clock()), "each guess past the fifth was refused, not counted"
    locked = await browsers[0].login()
    assert locked.code == 429 and locked.headers["Retry-After"] == str(int(throttle.FIRST_WAIT.total_seconds()))
    clock.advance(throttle.FIRST_WAIT)
    assert (await browsers[0].login()).code == 303, "the lock of five failures, no longer"
    client.close()


@pytest.mark.gen_test(timeout=120)
@pytest.mark.parametrize("store", ["memory", "redis", "mongodb-wire-server"], indirect=True)
async def test_an_over_long_password_is_refused_at_once_and_counted_nowhere(app, http_server, new_browser):
    with contextlib.ExitStack() as queue:  # every place in the hashing queue taken
        for _ in range(accounts._HASHING_THREADS + accounts.MAX_WAITING_LOGINS):
            queue.enter_context(accounts.hashing_turn())
        for n in range(20):  # made-up usernames, as a flood sends them
            refused = await new_browser().login(
                username=f"made-up-{n}", password="x" * (accounts.MAX_PASSWORD_BYTES + 1)
            )
            assert refused.code == 400 and "so that one cannot be right" in refused.body.decode()
    failures = app.settings["login_failures"]
    assert [await failures.get(throttle.account_key(f"made-up-{n}")) for n in range(20)] == [(0, 0.0)] * 20
