"""The login throttle's counts, on every backend: memory (bounded, and never
washed out by a flood), MongoDB on the tests' nx-27017 (a wire-protocol
server, not mongod) and on the server at MONGODB_URL when it is set, and
Redis on a real redis-server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis_server
from conftest import MONGODB_URL, TEST_NOW, fresh_database

from auth.login_failures import (
    FORGET_AFTER,
    MemoryLoginFailures,
    MongoLoginFailures,
    RedisLoginFailures,
    TooManyAccounts,
)
from sessions import MongoStore

pytestmark = pytest.mark.gen_test

NOW = TEST_NOW  # a year ahead of the real clock, so a real server's TTL index leaves the counts alone
BACKENDS = ["memory", "mongodb-nx-27017", "redis"]
if MONGODB_URL:
    BACKENDS += ["mongodb-at-MONGODB_URL"]


@pytest.fixture(params=BACKENDS)
def failures(request, io_loop):
    if request.param == "memory":
        yield MemoryLoginFailures(keep_from=5)
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
async def test_failure_documents_are_forgotten_a_day_after_the_last(failures):
    await failures.create_indexes()
    indexes = {tuple(i["key"]): i for i in (await failures.collection.index_information()).values()}
    assert indexes[(("last", 1),)]["expireAfterSeconds"] == FORGET_AFTER
    await failures.add("demo", NOW)
    assert (await failures.collection.find_one({"_id": "demo"}))["last"] == datetime.fromtimestamp(NOW, UTC)


# In Redis: one hash per account under the store's prefix, forgotten by
# Redis itself a day after the last failure.


@pytest.mark.parametrize("failures", ["redis"], indirect=True)
async def test_redis_forgets_an_account_a_day_after_its_last_failure(failures):
    await failures.add("login:demo", NOW)
    client = failures.store.client
    assert await client.hgetall("tornado_sessions:login:demo") == {b"count": b"1", b"last": repr(NOW).encode()}
    assert FORGET_AFTER - 5 < await client.ttl("tornado_sessions:login:demo") <= FORGET_AFTER
    await client.expire("tornado_sessions:login:demo", 1000)
    await failures.add("login:demo", NOW + 1)
    assert await client.ttl("tornado_sessions:login:demo") > 1000, "each failure starts the day again"


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


async def test_a_flood_of_new_accounts_never_drops_a_locked_one():
    table = MemoryLoginFailures(keep_from=5, max_accounts=100)
    for _ in range(5):
        await table.add("attacked", NOW)
    for n in range(10_000):
        await table.add(f"made-up-{n}", NOW + 1)
    assert await table.get("attacked") == (5, NOW)
    assert len(table) == 100


async def test_when_full_the_account_with_fewest_failures_goes_first():
    table = MemoryLoginFailures(keep_from=5, max_accounts=3)
    for account, times in (("three", 3), ("one", 1), ("two", 2)):
        for _ in range(times):
            await table.add(account, NOW)
    await table.add("new", NOW)
    assert (await table.get("one"), len(table)) == ((0, 0.0), 3)
    await table.add("newer", NOW)
    assert await table.get("new") == (0, 0.0), "one failure, and the oldest of those"
    assert [await table.get(name) for name in ("three", "two")] == [(3, NOW), (2, NOW)]


async def test_a_table_full_of_locked_accounts_refuses_a_new_one_and_keeps_them_all():
    table = MemoryLoginFailures(keep_from=2, max_accounts=3)
    for account in ("a", "b", "c"):
        await table.add(account, NOW)
        await table.add(account, NOW)
    with pytest.raises(TooManyAccounts):
        await table.add("new", NOW)
    assert [await table.get(name) for name in "abc"] == [(2, NOW)] * 3
    assert await table.add("a", NOW + 1) == (3, NOW + 1), "a known account is still counted"


async def test_accounts_are_forgotten_a_day_after_their_last_failure_making_room():
    table = MemoryLoginFailures(keep_from=2, max_accounts=2)
    for account in ("a", "b"):
        await table.add(account, NOW)
        await table.add(account, NOW)
    await table.add("a", NOW + 100)
    assert await table.add("new", NOW + FORGET_AFTER + 1) == (1, NOW + FORGET_AFTER + 1)
    assert await table.get("b") == (0, 0.0) and await table.get("a") == (3, NOW + 100)
