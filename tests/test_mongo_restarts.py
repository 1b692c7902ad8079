"""MongoDB stopping, starting and being wiped under a running site: the real
app on a real socket, its store opened from a URL as `--session-store` does,
through PyMongo's AsyncMongoClient and through Motor, against a wire server
of the test's own (nx-27017, tests/mongo_wire_server.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from test_mongo import visits

from serving.storage import close_store, create_indexes, open_login_failures, open_store

pytestmark = pytest.mark.gen_test(timeout=60)

MONGODB_TIMEOUT = 0.5
# A bound on any one answer while MongoDB is down: the store's own limit
# (MONGODB_TIMEOUT + 1 s) with room for a busy machine, far below the
# driver's 30 s default that a request would otherwise wait.
ANSWER_WITHIN = 5


@pytest.fixture(params=["pymongo", "motor"])
def store(request, stoppable_wire_server, io_loop):
    """The app's store (conftest's `app` takes it)."""
    store = open_store(stoppable_wire_server.url(), MONGODB_TIMEOUT, driver=request.param)
    yield store
    io_loop.run_sync(lambda: close_store(store))


async def eventually(check, timeout: float = 20) -> None:
    """Wait until `check()` (a coroutine function) is true, as a person retrying would."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"still not true after {timeout} s: {check.__doc__}"
        await asyncio.sleep(0.1)


async def test_while_mongodb_is_stopped_a_signed_in_visit_gets_503_and_keeps_its_session(
    browser, store, stoppable_wire_server
):
    await browser.login()
    assert visits(await browser.get("/dashboard")) == "1"
    cookie = browser.cookies["session"]
    stoppable_wire_server.stop()
    for _ in range(2):
        response = await browser.get("/dashboard", request_timeout=ANSWER_WITHIN)
        assert (response.code, response.headers["Retry-After"]) == (503, "5")
        assert "try again in a few seconds" in response.body.decode()
    assert browser.cookies["session"] == cookie, "an outage is not a logout"

    stoppable_wire_server.start()

    async def served_again():
        """the dashboard is served again"""
        return (await browser.get("/dashboard", request_timeout=ANSWER_WITHIN)).code != 503

    await eventually(served_again)
    response = await browser.get("/dashboard")
    assert response.code == 200 and visits(response) == "3", "the same session, with the visit made before the outage"
    assert browser.cookies["session"] == cookie


async def test_a_database_wiped_while_the_site_runs_gets_its_indexes_back(browser, store, stoppable_wire_server):
    indexing = asyncio.create_task(create_indexes(store, open_login_failures(store), recheck_every=0.2))

    async def indexed():
        """the sessions collection has its TTL and per-user indexes"""
        indexes = {tuple(index["key"]): index for index in (await store.collection.index_information()).values()}
        ttl = indexes.get((("expires", 1),), {}).get("expireAfterSeconds") == 0
        return ttl and (("user", 1), ("expires", 1)) in indexes

    try:
        await eventually(indexed)
        await browser.login()
        await asyncio.to_thread(stoppable_wire_server.wipe)
        assert (await browser.get("/dashboard")).code == 302, "the wipe took the session with it"
        await eventually(indexed)
        assert (await browser.login()).code == 303
        assert (await browser.get("/dashboard")).code == 200
    finally:
        indexing.cancel()
