"""The login throttle's counts, on every backend: memory (bounded, never
washed out by a flood, never filled against everyone), MongoDB on the tests'
nx-27017 (a wire-protocol server, not mongod) and on the server at
MONGODB_URL when it is set, and Redis on a real redis-server. Times are
passed in: the clock is the test's."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import subprocess
import time
from datetime import UTC, datetime

import pytest
import redis_server
from conftest import MONGODB_URL, TEST_NOW, fresh_database

from auth.login_failures import FORGET_AFTER, MemoryLoginFailures, MongoLoginFailures, RedisLoginFailures
from auth.throttle import FIRST_WAIT, FREE_ATTEMPTS, seconds_to_wait
from sessions import MongoStore

pytestmark = pytest.mark.gen_test

NOW = TEST_NOW  # a year ahead of the real clock, so a real server's TTL index leaves the counts alone
BACKENDS = ["memory", "mongodb-nx-27017", "redis"]
if MONGODB_URL:
    BACKENDS += ["mongodb-at-MONGODB_URL"]


@pytest.fixture(params=BACKENDS)
def failures(request, io_loop):
    if request.param == "memory":
        yield MemoryLoginFailures(seconds_to_wait)
        return
    if request.param == "redis":
        for store in redis_server.store(io_loop):
            yield RedisLoginFailures(store)
        return
    url = MONGODB_URL if request.param == "mongodb-at-MONGODB_URL" else request.getfixturevalue("wire_server").url()
    for database in fresh_database(url, io_loop):
        counts = MongoLoginFailures(MongoStore(database["sessions"]), database["sessions_login_failures"])
        io_loop.run_sync(counts.create_indexes)
        yield counts


async def test_failures_count_up_per_account_and_clear(failures):
    assert await failures.get("demo") == (0, 0.0)
    assert await failures.add("demo", NOW) == (1, NOW)
    assert await failures.add("demo", NOW + 5) == (2, NOW + 5)
    await failures.add("other", NOW)
    assert await failures.get("demo") == (2, NOW + 5)
    await failures.clear("demo")
    assert await failures.get("demo") == (0, 0.0)
    assert await failures.get("other") == (1, NOW)


async def test_failures_counted_at_once_all_count(failures):
    await asyncio.gather(*(failures.add("demo", NOW) for _ in range(10)))
    assert await failures.get("demo") == (10, NOW)


async def test_failures_counted_at_once_stop_at_the_ceiling(failures):
    counted = await asyncio.gather(*(failures.add("demo", NOW, below=FREE_ATTEMPTS) for _ in range(10)))
    assert counted.count(None) == 10 - FREE_ATTEMPTS
    assert await failures.get("demo") == (FREE_ATTEMPTS, NOW)
    assert await failures.add("demo", NOW + 1, below=FREE_ATTEMPTS + 1) == (FREE_ATTEMPTS + 1, NOW + 1)


MONGO_BACKENDS = [backend for backend in BACKENDS if backend not in ("memory", "redis")]


@pytest.mark.parametrize("value", [{"$ne": None}, ["a"], 1, None])
@pytest.mark.parametrize("failures", [*MONGO_BACKENDS, "redis"], indirect=True)
async def test_only_plain_strings_reach_a_query(failures, value):
    for call in (failures.get(value), failures.add(value, NOW), failures.clear(value)):
        with pytest.raises(TypeError):
            await call


@pytest.mark.parametrize(
    "damage", [{"count": "many"}, {"count": None}, {"count": -3}, {"last": "yesterday"}, {"last": None}]
)
@pytest.mark.parametrize("failures", MONGO_BACKENDS, indirect=True)
async def test_an_unreadable_failure_document_counts_as_none_and_starts_again(failures, damage):
    await failures.add("demo", NOW)
    await failures.collection.update_one({"_id": "demo"}, {"$set": damage})
    assert await failures.get("demo") == (0, 0.0)
    assert await failures.add("demo", NOW + 1) == (1, NOW + 1)


@pytest.mark.parametrize("failures", MONGO_BACKENDS, indirect=True)
async def test_failure_documents_are_forgotten_when_the_counting_window_ends(failures):
    await failures.create_indexes()
    indexes = {tuple(i["key"]): i for i in (await failures.collection.index_information()).values()}
    assert indexes[(("expires", 1),)]["expireAfterSeconds"] == 0
    await failures.add("demo", NOW)
    document = await failures.collection.find_one({"_id": "demo"})
    assert document["last"] == datetime.fromtimestamp(NOW, UTC)
    assert document["expires"] == datetime.fromtimestamp(NOW + FORGET_AFTER, UTC)


# In Redis: one hash per account under the store's prefix, forgotten by
# Redis itself when the counting window after the last failure ends.


@pytest.mark.parametrize("failures", ["redis"], indirect=True)
async def test_redis_forgets_an_account_when_the_counting_window_after_its_last_failure_ends(failures):
    await failures.add("login:demo", NOW)
    client = failures.store.client
    assert await client.hgetall("tornado_sessions:login:demo") == {b"count": b"1", b"last": repr(NOW).encode()}
    assert FORGET_AFTER - 5 < await client.ttl("tornado_sessions:login:demo") <= FORGET_AFTER
    await client.expire("tornado_sessions:login:demo", 1000)
    await failures.add("login:demo", NOW + 1)
    assert await client.ttl("tornado_sessions:login:demo") > 1000, "each failure starts the window again"


@pytest.mark.parametrize("damage", [{"count": "many"}, {"count": "-3"}, {"count": ""}, {"last": "yesterday"}])
@pytest.mark.parametrize("failures", ["redis"], indirect=True)
async def test_an_unreadable_failure_hash_counts_as_none_and_starts_again(failures, damage):
    await failures.add("login:demo", NOW)
    await failures.store.client.hset("tornado_sessions:login:demo", mapping=damage)
    assert await failures.get("login:demo") == (0, 0.0)
    assert await failures.add("login:demo", NOW + 1) == (1, NOW + 1)


@pytest.mark.parametrize("failures", ["redis"], indirect=True)
async def test_a_missing_field_counts_as_none(failures):
    await failures.add("login:demo", NOW)
    await failures.store.client.hdel("tornado_sessions:login:demo", "last")
    assert await failures.get("login:demo") == (0, 0.0)
    assert await failures.add("login:demo", NOW + 1) == (1, NOW + 1)


# The memory table is bounded; what it keeps when full.


def table(size: int) -> MemoryLoginFailures:
    return MemoryLoginFailures(seconds_to_wait, max_accounts=size)


async def lock(table: MemoryLoginFailures, account: str, now: float) -> None:
    for _ in range(FREE_ATTEMPTS):
        await table.add(account, now)


async def test_a_flood_of_new_accounts_never_drops_a_locked_one():
    failures = table(100)
    await lock(failures, "attacked", NOW)
    for n in range(10_000):
        await failures.add(f"made-up-{n}", NOW + 1)
    assert await failures.get("attacked") == (FREE_ATTEMPTS, NOW)
    assert len(failures) == 100


async def test_when_full_the_account_with_fewest_failures_goes_first():
    failures = table(3)
    for account, times in (("three", 3), ("one", 1), ("two", 2)):
        for _ in range(times):
            await failures.add(account, NOW)
    await failures.add("new", NOW)
    assert (await failures.get("one"), len(failures)) == ((0, 0.0), 3)
    await failures.add("newer", NOW)
    assert await failures.get("new") == (0, 0.0), "one failure, and the oldest of those"
    assert [await failures.get(name) for name in ("three", "two")] == [(3, NOW), (2, NOW)]


async def test_when_full_a_lock_that_has_ended_makes_room_and_one_still_running_does_not():
    failures = table(3)
    await lock(failures, "ended first", NOW)
    await lock(failures, "ended later", NOW + 10)
    await lock(failures, "running", NOW + 20)
    later = NOW + FIRST_WAIT.total_seconds() + 15  # the first two locks have ended, the third has not
    assert await failures.add("new", later) == (1, later)
    assert await failures.get("ended first") == (0, 0.0), "the lock that ended first"
    await failures.add("newer", later)
    assert await failures.get("new") == (0, 0.0), "below the lock goes before an ended lock"
    await lock(failures, "newer", later)
    await failures.add("newest", later)
    assert await failures.get("ended later") == (0, 0.0)
    assert await failures.get("running") == (FREE_ATTEMPTS, NOW + 20)


async def test_a_table_full_of_running_locks_counts_a_new_account_only_in_total_and_keeps_every_lock():
    failures = table(3)
    for account in "abc":
        await lock(failures, account, NOW)
    for _ in range(FREE_ATTEMPTS + 3):
        assert await failures.add("new", NOW + 1) == (1, NOW + 1), "never a count that locks"
    assert await failures.get("new") == (0, 0.0)
    assert failures.overflow == FREE_ATTEMPTS + 3
    assert [await failures.get(name) for name in "abc"] == [(FREE_ATTEMPTS, NOW)] * 3
    assert await failures.add("a", NOW + 2) == (FREE_ATTEMPTS + 1, NOW + 2), "a known account is still counted"
    # Once a lock ends, a new account is counted per account again.
    after = NOW + 2 + seconds_to_wait(FREE_ATTEMPTS + 1)
    assert await failures.add("new", after) == (1, after)
    assert await failures.add("new", after) == (2, after)


async def test_an_entry_lasts_its_counting_window_then_makes_room():
    failures = table(2)
    await lock(failures, "a", NOW)
    await lock(failures, "b", NOW)
    await failures.add("a", NOW + 100)
    assert await failures.add("new", NOW + FORGET_AFTER + 1) == (1, NOW + FORGET_AFTER + 1)
    assert await failures.get("b") == (0, 0.0) and await failures.get("a") == (FREE_ATTEMPTS + 1, NOW + 100)
    assert FORGET_AFTER < 24 * 3600


async def test_the_lock_index_stays_bounded_by_the_table():
    failures = table(10)
    for n in range(5_000):
        await failures.add(f"account-{n % 20}", NOW + n)
        await failures.clear(f"account-{(n * 7) % 20}")
    assert len(failures) <= 10
    assert len(failures._locks) <= 2 * len(failures) + 64


# On a Redis Cluster: every command and the script touch one key, so the
# counts work whichever master holds each account.


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory):
    """Three masters (no replicas), started with Debian's redis-server; ports
    at most 55535, since each node's bus listens 10000 above its port."""
    ports = []
    while len(ports) < 3:
        port = random.randrange(20_000, 55_535)
        with contextlib.suppress(OSError), socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", port))
            b.bind(("127.0.0.1", port + 10_000))
            ports.append(port)
    with contextlib.ExitStack() as stack:
        for port in ports:
            server = redis_server.RedisServer(tmp_path_factory.mktemp(f"node{port}"), "--cluster-enabled", "yes")
            server.port = port
            stack.callback(server.stop)
            server.start()
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while (
            b"cluster_state:ok"
            not in subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True).stdout
        ):
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)
        yield ports


@pytest.mark.slow  # three redis-servers started for it
async def test_counts_work_on_a_redis_cluster_across_every_master(redis_cluster):
    from redis.asyncio.cluster import RedisCluster

    from sessions import RedisStore

    client = RedisCluster(host="127.0.0.1", port=redis_cluster[0])
    failures = RedisLoginFailures(RedisStore(client))
    try:
        accounts = [f"login:{n}" for n in range(30)]
        await asyncio.gather(*(failures.add(account, NOW) for account in accounts for _ in range(3)))
        assert [await failures.get(account) for account in accounts] == [(3, NOW)] * 30
        masters = {client.get_node_from_key(failures.key(account)).port for account in accounts}
        assert masters == set(redis_cluster), "the accounts were spread over every master"
        await failures.clear("login:0")
        assert await failures.get("login:0") == (0, 0.0)
    finally:
        await client.aclose()
