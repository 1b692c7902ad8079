"""A `replicaSet=` that never answers is a likely mistake in the URL, and is
reported as one (once, at ERROR, with advice) after a while, where it was
an outage for ever. The server is nx-27017 (the tests' wire-protocol
server, not mongod), which answers as a standalone server, as a mongod
started without --replSet does; and a port where nothing listens. What
only a real replica set can show runs against MONGODB_URL (see
docs/persistence.md)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket

import pytest

from serving.storage import REPLICA_SET_PATIENCE_SECONDS, close_store, create_indexes, open_login_failures, open_store

pytestmark = pytest.mark.gen_test(timeout=60)

STEP = REPLICA_SET_PATIENCE_SECONDS / 2


async def run_index_loop_until(caplog, url: str, failures_seen: int) -> list[str]:
    """create_indexes() as the site runs it, with a clock that moves STEP
    seconds at each failed attempt, until it has failed `failures_seen`
    times; then the app's ERROR lines."""
    store = open_store(url, timeout=0.3)
    ticks = itertools.count(0, STEP)
    calls = 0

    def clock() -> float:
        nonlocal calls
        calls += 1
        return next(ticks)

    loop = asyncio.create_task(create_indexes(store, open_login_failures(store), retry_every=0, clock=clock))
    try:
        while calls < failures_seen:
            await asyncio.sleep(0.05)
            assert not loop.done(), loop
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await close_store(store)
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
