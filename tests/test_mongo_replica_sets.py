"""Replica sets, as far as one machine without mongod can show them.

A `replicaSet=` that never answers is a likely mistake in the URL, and is
reported as one (once, at ERROR, with advice) after a while, where it was
an outage for ever. And a write cut off by a step-down is retried once by
the driver (retryable writes), counted once.

The server is nx-27017 (the tests' wire-protocol server, not mongod):
as it comes, it answers as a standalone server, as a mongod started
without --replSet does; started with --replica-set it answers as the
primary of a one-member replica set, so that the drivers treat it as one
(retryable writes included). Step-downs are its failCommand fail point.
What only a real replica set can show runs against MONGODB_URL (see
docs/mongodb-testing.md)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import uuid

import pytest
from mongo_wire_server import WireServer
from pymongo import monitoring
from test_stores import record

from serving.storage import (
    REPLICA_SET_PATIENCE_SECONDS,
    close_store,
    create_indexes,
    open_client,
    open_login_failures,
    open_store,
)
from sessions import Changes, MongoStore, StoreUnavailable

# Real processes and the drivers' own waits (seconds each): left out of the quick run.
pytestmark = [pytest.mark.gen_test(timeout=60), pytest.mark.slow]

STEP = REPLICA_SET_PATIENCE_SECONDS / 2


@pytest.fixture(scope="module")
def replica_set(tmp_path_factory):
    """nx-27017 answering as the primary of replica set rs0."""
    server = WireServer(tmp_path_factory.mktemp("rs0"), replica_set="rs0").start()
    yield server
    server.stop()


@pytest.fixture
def fail_point(replica_set):
    yield replica_set.fail
    replica_set.fail([], "off")


async def run_index_loop_until(caplog, url: str, failures_seen: int, stop=None) -> list[str]:
    """create_indexes() as the site runs it, with a clock that moves STEP
    seconds at each failed attempt, until it has failed `failures_seen`
    times; then the app's ERROR lines. `stop`: a WireServer to stop once
    the loop has made its indexes."""
    store = open_store(url, timeout=0.3)
    ticks = itertools.count(0, STEP)
    calls = 0

    def clock() -> float:
        nonlocal calls
        calls += 1
        return next(ticks)

    indexing = create_indexes(store, open_login_failures(store), recheck_every=0, retry_every=0, clock=clock)
    loop = asyncio.create_task(indexing)
    try:
        if stop is not None:
            while len(await store.collection.index_information()) < 3:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(stop.stop)
        while calls < failures_seen:
            await asyncio.sleep(0.05)
            assert not loop.done(), loop
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await close_store(store)
        # A call given up on at its timeout is cancelled, but PyMongo ends it only at its next
        # step: let it end before the test's loop closes, or it is destroyed still pending.
        if pending := asyncio.all_tasks() - {asyncio.current_task()}:
            await asyncio.wait(pending, timeout=10)
    return [r.getMessage() for r in caplog.records if r.name == "app" and r.levelno >= logging.ERROR]


async def test_a_replica_set_name_given_to_a_standalone_server_is_reported_once_with_advice(wire_server, caplog):
    errors = await run_index_loop_until(caplog, wire_server.url() + "?replicaSet=rs0", failures_seen=6)
    assert len(errors) == 1, errors
    assert f"no member of replica set 'rs0' has answered at 127.0.0.1:{wire_server.port} for 60 s" in errors[0]
    assert f"(127.0.0.1:{wire_server.port} is a standalone server, in no replica set)" in errors[0]
    assert "Most likely the URL is wrong: replicaSet= must be the set's name" in errors[0]


async def test_a_replica_set_that_never_answers_at_all_is_reported_once_as_a_likely_mistake(caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"mongodb://127.0.0.1:{closed.getsockname()[1]}/x?replicaSet=rs0"
        errors = await run_index_loop_until(caplog, url, failures_seen=6)
    assert len(errors) == 1 and "no member of replica set 'rs0' has answered" in errors[0], errors
    assert "Most likely the URL is wrong" in errors[0]


async def test_before_the_patience_runs_out_it_is_an_outage_not_a_mistake(wire_server, caplog):
    # Failures at 0 and STEP seconds: under REPLICA_SET_PATIENCE_SECONDS.
    assert await run_index_loop_until(caplog, wire_server.url() + "?replicaSet=rs0", failures_seen=2) == []
    assert any("MongoDB unreachable at" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_a_server_that_is_down_without_a_replica_set_in_the_url_stays_an_outage(caplog):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        errors = await run_index_loop_until(caplog, f"mongodb://127.0.0.1:{closed.getsockname()[1]}/x", 6)
    assert errors == []


async def test_a_replica_set_of_another_name_is_reported_with_the_name_the_server_gave(replica_set, caplog):
    errors = await run_index_loop_until(caplog, replica_set.url() + "?replicaSet=rs1", failures_seen=6)
    assert len(errors) == 1 and "no member of replica set 'rs1' has answered" in errors[0], errors
    assert f"(127.0.0.1:{replica_set.port} is a member of replica set 'rs0')" in errors[0]


async def test_a_replica_set_that_answered_and_then_went_down_stays_an_outage(tmp_path, caplog):
    server = WireServer(tmp_path / "rs0", replica_set="rs0").start()
    try:
        errors = await run_index_loop_until(caplog, server.url() + "?replicaSet=rs0", failures_seen=6, stop=server)
    finally:
        server.stop()
    assert errors == []
    assert any("MongoDB unreachable at" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


class Writes(monitoring.CommandListener):
    """The transaction number of each write sent: a retried write carries its first one."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "delete", "findAndModify"):
            self.sent.append((event.command_name, event.command.get("txnNumber")))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture(params=["pymongo", "motor"], ids=["pymongo-nx-27017-as-rs0", "motor-nx-27017-as-rs0"])
def writes_and_store(request, replica_set, io_loop):
    writes = Writes()
    url = replica_set.url(f"retry_{uuid.uuid4().hex}") + "?replicaSet=rs0"
    client = open_client(url, timeout=3, driver=request.param, event_listeners=[writes])
    store = MongoStore(client.get_default_database()["sessions"])
    yield writes, store

    async def drop_and_close():
        await client.drop_database(store.collection.database.name)
        await close_store(store)

    io_loop.run_sync(drop_and_close)


NOT_WRITABLE_PRIMARY = 10107


async def test_an_increment_cut_off_by_a_step_down_is_retried_once_and_counted_once(writes_and_store, fail_point):
    writes, store = writes_and_store
    assert await store.create("k", record(data={"visits": 1}))
    fail_point(["findAndModify"], {"times": 1}, errorCode=NOT_WRITABLE_PRIMARY)
    assert await store.update("k", Changes(increment={"visits": 1})) == {"visits": 2}
    assert (await store.load("k", record().created)).data == {"visits": 2}
    increments = [number for command, number in writes.sent if command == "findAndModify"]
    assert len(increments) == 2 and increments[0] == increments[1] is not None, "one retryable write, sent twice"


async def test_a_step_down_that_outlasts_the_retry_is_a_503_and_changes_nothing(writes_and_store, fail_point):
    _, store = writes_and_store
    assert await store.create("k", record(data={"visits": 1}))
    fail_point(["findAndModify", "update"], {"times": 2}, errorCode=NOT_WRITABLE_PRIMARY)
    with pytest.raises(StoreUnavailable):
        await store.update("k", Changes(increment={"visits": 1}))
    assert (await store.load("k", record().created)).data == {"visits": 1}
