"""One test suite for every session store: MemoryStore, RedisStore on a real
redis-server, MongoStore through PyMongo's AsyncMongoClient and through Motor
on nx-27017 (the tests' MongoDB wire-protocol server, not mongod), and on the
server at MONGODB_URL when it is set. The test IDs say which store ran, e.g.
test_create_then_load[MongoStore-pymongo-nx-27017]."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import redis_server
from conftest import MONGODB_URL, TEST_NOW, FakeClock, fresh_database, shared_wire_server
from pymongo import AsyncMongoClient

from sessions import Changes, MemoryStore, MongoStore, Session, SessionConfig, SessionRecord, store_key

pytestmark = pytest.mark.gen_test

# A year ahead of the real clock: a real server's TTL index (MongoDB) or
# expiry (Redis) deletes by its own clock, and would take records stamped in
# the past at once.
NOW = TEST_NOW
STORES = ["MemoryStore", "MongoStore-pymongo-nx-27017", "MongoStore-motor-nx-27017", "RedisStore", "RedisStore-cluster"]
if MONGODB_URL:
    STORES += ["MongoStore-pymongo-at-MONGODB_URL", "MongoStore-motor-at-MONGODB_URL"]


def store_of_kind(kind: str, io_loop):
    if kind == "MemoryStore":
        yield MemoryStore()
        return
    if kind == "RedisStore":
        yield from redis_server.store(io_loop)
        return
    if kind == "RedisStore-cluster":
        from test_redis_cluster import cluster_store

        yield from cluster_store(io_loop)
        return
    _, driver, server = kind.split("-", 2)
    url = MONGODB_URL if server == "at-MONGODB_URL" else shared_wire_server().url()
    for database in fresh_database(url, io_loop, driver):
        store = MongoStore(database["sessions"])
        io_loop.run_sync(store.create_indexes)
        yield store


# A cluster is six redis-servers: its runs are in the slow set.
STORE_PARAMS = [pytest.param(kind, marks=pytest.mark.slow) if kind.endswith("cluster") else kind for kind in STORES]


@pytest.fixture(params=STORE_PARAMS)
def any_store(request, io_loop):
    yield from store_of_kind(request.param, io_loop)


def record(user: str | None = "demo", data: dict | None = None, **times) -> SessionRecord:
    times = {"created": NOW, "last_seen": NOW, "expires": NOW + 1800, **times}
    return SessionRecord(data={"visits": 1} if data is None else data, user=user, client="Firefox on Linux", **times)


def key(n: int = 0) -> str:
    return store_key(f"session-{n}")


async def test_create_then_load_gives_the_record_back(any_store):
    stored = record(data={"visits": 3, "cart": ["tea", {"cups": 2}], "name": "Zoë \"quoted\" 'x'"}, remember=True)
    assert await any_store.create(key(), stored)
    assert await any_store.load(key(), NOW) == stored


async def test_every_kind_of_json_value_comes_back_the_same(any_store):
    data = {
        "widest": 2**63 - 1,
        "lowest": -(2**63),
        "float": 0.1,
        "flags": [True, False, None, 0, 1],
        "nested": {"list": [1, {"deeper": [[]]}], "empty": {}},
        "text": "日本語 \u0000 <b>&amp;</b>",
    }
    await any_store.create(key(), record(data=data))
    loaded = (await any_store.load(key(), NOW)).data
    assert loaded == data
    assert [type(value) for value in loaded["flags"]] == [bool, bool, type(None), int, int]


async def test_times_keep_fractions_of_a_second_to_the_millisecond(any_store):
    await any_store.create(key(), record(created=NOW + 0.25, last_seen=NOW + 0.5, expires=NOW + 1800.75))
    loaded = await any_store.load(key(), NOW)
    assert (loaded.created, loaded.last_seen, loaded.expires) == (NOW + 0.25, NOW + 0.5, NOW + 1800.75)


async def test_a_taken_key_is_refused_and_the_first_record_kept(any_store):
    assert await any_store.create(key(), record(user="first"))
    assert not await any_store.create(key(), record(user="second"))
    assert (await any_store.load(key(), NOW)).user == "first"


async def test_unknown_key_loads_as_none(any_store):
    assert await any_store.load(key(404), NOW) is None


async def test_an_expired_record_is_never_loaded(any_store):
    await any_store.create(key(), record(expires=NOW + 60))
    assert await any_store.load(key(), NOW + 59.999) is not None
    assert await any_store.load(key(), NOW + 60) is None
    assert await any_store.load(key(), NOW + 3600) is None


async def test_update_sets_and_removes_only_the_keys_given(any_store):
    await any_store.create(key(), record(data={"visits": 1, "theme": "dark", "flash": "hi"}))
    assert await any_store.update(key(), Changes(set={"visits": 2, "new": [1, 2]}, unset=["flash"])) == {}
    assert (await any_store.load(key(), NOW)).data == {"visits": 2, "theme": "dark", "new": [1, 2]}


async def test_update_moves_record_fields(any_store):
    await any_store.create(key(), record(user=None))
    fields = {"user": "demo", "remember": True, "last_seen": NOW + 10, "expires": NOW + 7200}
    assert await any_store.update(key(), Changes(fields=fields)) == {}
    loaded = await any_store.load(key(), NOW + 10)
    assert (loaded.user, loaded.remember, loaded.last_seen, loaded.expires) == ("demo", True, NOW + 10, NOW + 7200)
    assert loaded.created == NOW and loaded.data == {"visits": 1}


async def test_update_never_brings_back_a_deleted_record(any_store):
    await any_store.create(key(), record())
    await any_store.delete(key())
    assert await any_store.update(key(), Changes(set={"visits": 9}, fields={"last_seen": NOW})) is None
    assert await any_store.update(key(), Changes()) is None
    assert await any_store.update(key(), Changes(increment={"visits": 1}, append={"seen": "x"})) is None
    assert await any_store.load(key(), NOW) is None


async def test_concurrent_updates_of_different_keys_both_stay(any_store):
    await any_store.create(key(), record(data={}))
    await asyncio.gather(
        any_store.update(key(), Changes(set={"a": 1}, fields={"last_seen": NOW + 1})),
        any_store.update(key(), Changes(set={"b": 2}, fields={"last_seen": NOW + 2})),
    )
    assert (await any_store.load(key(), NOW)).data == {"a": 1, "b": 2}


async def test_loaded_data_is_a_copy(any_store):
    await any_store.create(key(), record(data={"items": [1]}))
    (await any_store.load(key(), NOW)).data["items"].append(2)
    assert (await any_store.load(key(), NOW)).data == {"items": [1]}


async def test_delete_removes_one_record_and_ignores_unknown_keys(any_store):
    await any_store.create(key(1), record())
    await any_store.create(key(2), record())
    await any_store.delete(key(1))
    await any_store.delete(key(404))
    assert await any_store.load(key(1), NOW) is None
    assert await any_store.load(key(2), NOW) is not None


async def test_find_by_user_lists_that_users_live_sessions_only(any_store):
    await any_store.create(key(1), record(user="demo"))
    await any_store.create(key(2), record(user="demo", expires=NOW + 10))
    await any_store.create(key(3), record(user="other"))
    await any_store.create(key(4), record(user=None))
    assert set(await any_store.find_by_user("demo", NOW)) == {key(1), key(2)}
    assert set(await any_store.find_by_user("demo", NOW + 10)) == {key(1)}
    assert (await any_store.find_by_user("other", NOW))[key(3)].user == "other"
    assert await any_store.find_by_user("nobody", NOW) == {}


async def test_increments_of_one_key_at_once_all_count(any_store):
    await any_store.create(key(), record(data={"visits": 5}))
    results = await asyncio.gather(*(any_store.update(key(), Changes(increment={"visits": 1})) for _ in range(40)))
    assert sorted(result["visits"] for result in results) == list(range(6, 46))
    assert (await any_store.load(key(), NOW)).data["visits"] == 45


async def test_increment_starts_a_missing_key_at_zero_and_takes_floats(any_store):
    await any_store.create(key(), record(data={}))
    assert await any_store.update(key(), Changes(increment={"new": 2})) == {"new": 2}
    assert await any_store.update(key(), Changes(increment={"new": 0.5})) == {"new": 2.5}
    assert await any_store.update(key(), Changes(increment={"new": -3})) == {"new": -0.5}


async def test_appends_to_one_list_at_once_all_stay(any_store):
    await any_store.create(key(), record(data={"seen": ["first"]}))
    await asyncio.gather(*(any_store.update(key(), Changes(append={"seen": n})) for n in range(20)))
    seen = (await any_store.load(key(), NOW)).data["seen"]
    assert seen[0] == "first" and sorted(seen[1:]) == list(range(20))
    assert await any_store.update(key(), Changes(append={"other": {"a": [1]}})) == {"other": [{"a": [1]}]}


async def test_an_update_returns_the_values_after_it_and_applies_everything_together(any_store):
    await any_store.create(key(), record(data={"visits": 1, "old": True}))
    changes = Changes(set={"theme": "dark"}, unset=["old"], increment={"visits": 2}, append={"log": "x"})
    changes.fields = {"last_seen": NOW + 5}
    assert await any_store.update(key(), changes) == {"visits": 3, "log": ["x"]}
    loaded = await any_store.load(key(), NOW)
    assert loaded.data == {"visits": 3, "theme": "dark", "log": ["x"]} and loaded.last_seen == NOW + 5


@pytest.mark.parametrize("operation", ["increment", "append"])
async def test_increment_or_append_onto_the_wrong_type_raises_and_changes_nothing(any_store, operation):
    await any_store.create(key(), record(data={"name": "Zoë", "visits": 1}))
    wrong_key = {"increment": "name", "append": "visits"}[operation]
    changes = Changes(**{operation: {wrong_key: 1}}, set={"theme": "dark"})
    with pytest.raises(TypeError):
        await any_store.update(key(), changes)
    assert (await any_store.load(key(), NOW)).data == {"name": "Zoë", "visits": 1}


@pytest.mark.parametrize("start,by", [(2**63 - 1, 1), (-(2**63), -1)])
async def test_an_increment_past_64_bits_raises_and_changes_nothing(any_store, start, by):
    store = any_store
    await store.create(key(), record(data={"visits": start}))
    with pytest.raises((ValueError, TypeError)):
        await store.update(key(), Changes(increment={"visits": by}))
    assert (await store.load(key(), NOW)).data == {"visits": start}


async def test_delete_by_user_ends_that_users_other_sessions_only(any_store):
    for n, user in enumerate(["demo", "demo", "demo", "other", None]):
        await any_store.create(key(n), record(user=user))
    assert await any_store.delete_by_user("demo", keep=key(1)) == 2
    assert set(await any_store.find_by_user("demo", NOW)) == {key(1)}
    assert await any_store.load(key(3), NOW) is not None and await any_store.load(key(4), NOW) is not None
    assert await any_store.delete_by_user("demo") == 1
    assert await any_store.find_by_user("demo", NOW) == {}
    assert await any_store.delete_by_user("nobody") == 0


async def test_a_changed_user_moves_the_record_between_users(any_store):
    await any_store.create(key(), record(user=None))
    await any_store.update(key(), Changes(fields={"user": "demo"}))
    assert set(await any_store.find_by_user("demo", NOW)) == {key()}
    await any_store.update(key(), Changes(fields={"user": "other"}))
    assert await any_store.find_by_user("demo", NOW) == {} and set(await any_store.find_by_user("other", NOW)) == {
        key()
    }
    assert await any_store.delete_by_user("other") == 1


# What only MongoStore promises: the document's shape, its indexes, queries
# by exact strings, and unreadable documents read as missing.

MONGO_STORES = [kind for kind in STORES if kind.startswith("MongoStore")]


@pytest.fixture(params=MONGO_STORES)
def mongo_store(request, io_loop):
    yield from store_of_kind(request.param, io_loop)


async def test_a_session_is_one_document_keyed_by_the_digest(mongo_store):
    session_id = "raw-session-id-never-stored-" + uuid.uuid4().hex
    await mongo_store.create(store_key(session_id), record(data={"visits": 1}))
    document = await mongo_store.collection.find_one({})
    assert document == {
        "_id": store_key(session_id),
        "data": {"visits": 1},
        "user": "demo",
        "client": "Firefox on Linux",
        "remember": False,
        "created": datetime.fromtimestamp(NOW, UTC),
        "last_seen": datetime.fromtimestamp(NOW, UTC),
        "expires": datetime.fromtimestamp(NOW + 1800, UTC),
    }
    assert session_id not in repr(document)


async def test_indexes_expire_sessions_and_find_users(mongo_store):
    await mongo_store.create_indexes()
    await mongo_store.create_indexes()  # again, as every start-up does
    sessions = {tuple(i["key"]): i for i in (await mongo_store.collection.index_information()).values()}
    assert sessions[(("expires", 1),)]["expireAfterSeconds"] == 0
    assert (("user", 1), ("expires", 1)) in sessions, "a user's live sessions found through the index"


@pytest.mark.parametrize("value", [{"$ne": None}, {"$gt": ""}, ["a"], 1, None, b"bytes"])
async def test_only_plain_strings_reach_a_query(mongo_store, value):
    await mongo_store.create(key(), record())
    calls = [
        mongo_store.load(value, NOW),
        mongo_store.update(value, Changes(set={"visits": 0})),
        mongo_store.delete_by_user(value),
        mongo_store.delete(value),
        mongo_store.find_by_user(value, NOW),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            await call
    assert (await mongo_store.load(key(), NOW)).data == {"visits": 1}


@pytest.mark.parametrize(
    "damage",
    [
        {"data": "not a document"},
        {"data": None},
        {"user": 42},
        {"created": "yesterday"},
        {"last_seen": None},
        {"client": ["x"]},
        {"remember": "yes"},
    ],
)
async def test_an_unreadable_document_reads_as_missing(mongo_store, damage):
    await mongo_store.create(key(), record())
    await mongo_store.collection.update_one({"_id": key()}, {"$set": damage})
    assert await mongo_store.load(key(), NOW) is None
    assert await mongo_store.find_by_user("demo", NOW) == {}


async def test_a_document_missing_fields_reads_as_missing(mongo_store):
    expires = datetime.fromtimestamp(NOW + 1800, UTC)
    await mongo_store.collection.insert_one({"_id": key(), "user": "demo", "expires": expires})
    assert await mongo_store.load(key(), NOW) is None
    assert await mongo_store.find_by_user("demo", NOW) == {}


async def test_a_client_without_tz_aware_reads_times_as_utc(wire_server):
    client = AsyncMongoClient(wire_server.url())
    store = MongoStore(client[f"test_{uuid.uuid4().hex}"]["sessions"])
    stored = record(created=NOW + 0.5)
    await store.create(key(), stored)
    assert (await store.collection.find_one({}))["created"].tzinfo is None
    assert await store.load(key(), NOW) == stored
    await client.drop_database(store.collection.database.name)
    await client.close()


async def test_a_login_past_max_sessions_per_user_ends_the_oldest(any_store):
    # The limit lives in Session, over the contract's find_by_user and delete.
    clock = FakeClock(NOW)
    config = SessionConfig(clock=clock, max_sessions_per_user=2)
    logins = []
    for _ in range(4):
        session = Session(any_store, config)
        session.user = "limited"
        assert await session.save() == "created"
        logins.append(store_key(session.id))
        clock.advance(1)
    assert set(await any_store.find_by_user("limited", clock())) == set(logins[2:])
    for ended in logins[:2]:
        assert await any_store.load(ended, clock()) is None
