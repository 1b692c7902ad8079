"""RedisStore on a real Redis Cluster (three masters with a replica each,
from tests/redis_deployments.py): sessions spread over every master, the
user's index kept in its own slot without cross-slot scripts, a call that
fails halfway leaving nothing half-written, a failover followed by the
client. The store contract suite runs on it too
(tests/test_stores.py, [RedisStore-cluster])."""

from __future__ import annotations

import asyncio

import pytest
import redis_server
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis_deployments import Cluster, running_cluster, wait_until
from test_stores import NOW, key, record

from sessions import Changes, RedisStore, StoreUnavailable

# Far above their usual second or two: a failover waits for the cluster to agree.
# Real processes and the drivers' own waits (seconds each): left out of the quick run.
pytestmark = [pytest.mark.gen_test(timeout=60), pytest.mark.slow]

PREFIX = "tornado_sessions:"
_shared: list[Cluster] = []


def shared_cluster() -> Cluster:
    """One cluster for the whole run, stopped with the shared redis-server."""
    if not _shared:
        _shared.append(redis_server._stop_shared.enter_context(running_cluster()))
    return _shared[0]


def cluster_client(cluster: Cluster) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in cluster.startup_nodes])


def cluster_store(io_loop, **options):
    """A RedisStore on the shared cluster, every master emptied first."""
    cluster = shared_cluster()
    for node in cluster.masters():
        node.command("FLUSHALL")
    client = cluster_client(cluster)
    yield RedisStore(client, **options)
    io_loop.run_sync(client.aclose)


@pytest.fixture
def store(io_loop):
    yield from cluster_store(io_loop, timeout=1)


def session_name(digest: str) -> str:
    return f"{PREFIX}session:{digest}"


def master_of(cluster: Cluster, name: str):
    return cluster.master_of_slot(cluster.slot_of(name))


async def test_sessions_land_on_every_master_and_each_user_index_in_its_own_slot(store):
    cluster = shared_cluster()
    users = [f"user{n}" for n in range(6)]
    for n in range(60):
        assert await store.create(key(n), record(user=users[n % 6]))
    held = {node.port: node.command("KEYS", f"{PREFIX}session:*") for node in cluster.masters()}
    assert len(held) == 3 and all(len(names) >= 5 for names in held.values()), {p: len(k) for p, k in held.items()}
    for n, user in enumerate(users):
        assert set(await store.find_by_user(user, NOW)) == {key(m) for m in range(n, 60, 6)}
    assert await store.delete_by_user("user0", keep=key(0)) == 9
    assert set(await store.find_by_user("user0", NOW)) == {key(0)}


def split_key(cluster: Cluster, user: str = "demo") -> str:
    """A session key whose hash lives on another master than the user's index."""
    index_master = master_of(cluster, f"{PREFIX}user:{user}")
    return next(key(n) for n in range(100) if master_of(cluster, session_name(key(n))) is not index_master)


class writes_paused:
    """CLIENT PAUSE WRITE on the master of the user's index: its writes
    wait (the store's call times out), its reads go on."""

    def __init__(self, cluster: Cluster, user: str = "demo") -> None:
        self.node = master_of(cluster, f"{PREFIX}user:{user}")

    def __enter__(self) -> None:
        self.node.command("CLIENT", "PAUSE", 10_000, "WRITE")

    def __exit__(self, *exc) -> None:
        self.node.command("CLIENT", "UNPAUSE")


async def test_a_login_whose_index_write_fails_leaves_no_session(store):
    cluster = shared_cluster()
    session = split_key(cluster)
    with writes_paused(cluster), pytest.raises(StoreUnavailable):
        await store.create(session, record())
    assert await store.client.exists(session_name(session)) == 0, "the session was taken back"
    # The paused index write ran on UNPAUSE: its entry names a session that is gone, and goes when read.
    assert await store.find_by_user("demo", NOW) == {}
    assert await store.client.zcard(f"{PREFIX}user:demo") == 0


async def test_an_update_refused_before_its_write_counts_nothing(store):
    cluster = shared_cluster()
    session = split_key(cluster)
    await store.create(session, record(data={"visits": 1}))
    # Beyond the time listed, the index is written first: it fails, the count never happens.
    longer = Changes(increment={"visits": 1}, fields={"last_seen": NOW, "expires": NOW + 86_400})
    with writes_paused(cluster), pytest.raises(StoreUnavailable):
        await store.update(session, longer)
    assert (await store.load(session, NOW)).data == {"visits": 1}
    assert await store.update(session, longer) == {"visits": 2}
    assert set(await store.find_by_user("demo", NOW)) == {session}


async def test_a_failover_is_followed_by_the_client(store):
    cluster = shared_cluster()
    session = split_key(cluster)
    await store.create(session, record(data={"visits": 1}))
    for name in (session_name(session), f"{PREFIX}user:demo"):
        master = master_of(cluster, name)
        cluster.failover(cluster.replica_of(master))  # the replica takes over; the old master follows it
        assert master_of(cluster, name) is not master
    assert await store.update(session, Changes(increment={"visits": 1})) == {"visits": 2}
    assert set(await store.find_by_user("demo", NOW)) == {session}
    await store.delete(session)
    assert await store.find_by_user("demo", NOW) == {}


def test_wait_replicas_is_refused_on_a_cluster():
    with pytest.raises(ValueError, match="not a RedisCluster"):
        RedisStore(RedisCluster(host="127.0.0.1", port=1), wait_replicas=1)


@pytest.fixture
def own_cluster():
    """A cluster of its own, for a test that kills a node."""
    with running_cluster() as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.gen_test(timeout=120)
async def test_a_dead_master_is_503_only_until_its_replica_takes_over(own_cluster):
    client = cluster_client(own_cluster)
    store = RedisStore(client, timeout=2)
    session = split_key(own_cluster)
    await store.create(session, record(data={"visits": 0}))
    master = master_of(own_cluster, session_name(session))
    replica = own_cluster.replica_of(master)
    wait_until(lambda: replica.command("DBSIZE") >= 1, "the replica to copy the session")
    master.kill()
    outcomes = []
    async with asyncio.timeout(60):
        while not outcomes or isinstance(outcomes[-1], Exception):
            try:
                outcomes.append(await store.update(session, Changes(increment={"visits": 1})))
            except StoreUnavailable as e:
                outcomes.append(e)
                await asyncio.sleep(0.1)
    # The node asked learns of the failover by gossip, a moment after the client was redirected.
    wait_until(lambda: master_of(own_cluster, session_name(session)) is replica, "the cluster to name the replica")
    assert outcomes[-1] == {"visits": 1}, "no count lost or made twice"
    assert {type(o).__name__ for o in outcomes[:-1]} <= {"StoreUnavailable"}
    print(f"refused before the replica took over: {[str(o)[:60] for o in outcomes[:-1]]}")
    assert (await store.load(session, NOW)).data == {"visits": 1}
    await client.aclose()


async def test_counts_go_on_while_the_sessions_slot_moves_to_another_master(store):
    cluster = shared_cluster()
    slot = key_slot(session_name(key(0)).encode())
    sessions = [key(n) for n in range(200_000) if key_slot(session_name(key(n)).encode()) == slot][:5]
    for session in sessions:
        await store.create(session, record(data={"visits": 0}))
    target = next(node for node in cluster.masters() if node is not cluster.master_of_slot(slot))
    # MIGRATE one key at a time with pauses between: the slot stays half-moved (ASK, then MOVED).
    moving = asyncio.ensure_future(asyncio.to_thread(cluster.move_slots, range(slot, slot + 1), target, 0.05))
    counted = 0
    while not moving.done() or counted < 20:
        for session in sessions:
            await store.update(session, Changes(increment={"visits": 1}))
        counted += 1
    await moving
    assert cluster.master_of_slot(slot) is target
    assert {(await store.load(s, NOW)).data["visits"] for s in sessions} == {counted}
