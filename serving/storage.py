"""From --session-store to a session store: 'memory', a MongoDB URL or a Redis URL."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import pymongo
import pymongo.errors
from pymongo import monitoring

from auth.login_failures import LoginFailures, MemoryLoginFailures, MongoLoginFailures, RedisLoginFailures
from auth.throttle import seconds_to_wait
from sessions import MemoryStore, MongoStore, SessionStore, StoreMisconfigured, StoreUnavailable

try:  # the [redis] extra
    from serving.redis_clients import SCHEMES as REDIS_SCHEMES
    from serving.redis_clients import close_redis, describe_redis, open_redis_client
    from sessions import RedisStore
except ImportError:
    RedisStore = None
    REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")

log = logging.getLogger("app")

# PyMongo's AsyncMongoClient by default; Motor (end of life since May 2026,
# same API) only when asked for, and only then imported.
DRIVERS = ("pymongo", "motor")
# What sessions rely on, whatever the URL says. A session read from a
# secondary may lack its last write; a login acknowledged by fewer than a
# majority may vanish in a failover; a write cut off by an election is
# retried once on the new primary (the server applies it once).
REQUIRED_URL_OPTIONS = {
    "readPreference": ("primary", "sessions are read from the primary only: a secondary may lag behind the last write"),
    "w": (
        "majority",
        "session writes wait for a majority: a login fewer members acknowledged can vanish in a failover",
    ),
    "retryWrites": ("true", "a write cut off by an election or a dropped connection is retried on the new primary"),
}
# Connections per process: PyMongo's own default, said here because a full
# pool makes a request wait (up to --store-timeout) rather than fail.
MAX_POOL_SIZE = 100
INDEX_RECHECK_SECONDS = 60
# How long a replicaSet= may go unanswered before it is reported as a likely
# mistake in the URL rather than an outage.
REPLICA_SET_PATIENCE_SECONDS = 60


# Connections to each Redis server, per process: redis-py's own default.
REDIS_POOL_SIZE = 100


def open_store(
    url: str, timeout: float = 3.0, driver: str = "pymongo", *, announce: bool = True, **redis_options: int
) -> SessionStore:
    """The store a --session-store URL names; ``announce`` logs where the sessions live."""
    if url == "memory":
        return MemoryStore()
    if url.partition("://")[0] in REDIS_SCHEMES:
        return open_redis_store(url, timeout, announce=announce, **redis_options)
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise SystemExit(
            f"--session-store: expected 'memory', a mongodb://, redis://, redis+sentinel:// or redis+cluster:// URL,"
            f" got {url!r}"
        )
    client = open_client(url, timeout, driver)
    collection = client.get_default_database("tornado_sessions")["sessions"]
    if announce:
        hosts, database = describe_hosts(client), collection.database.name
        log.info("Sessions in MongoDB at %s, database %s, through %s", hosts, database, driver)
    # One second more than the driver's timeouts, so that usually the driver
    # says what went wrong; the store's own limit catches time spent queuing.
    return MongoStore(collection, timeout=timeout + 1)


def open_client(url: str, timeout: float = 3.0, driver: str = "pymongo", **driver_options: Any) -> Any:
    client_class = mongodb_client_class(driver)
    in_url = url_options(url)
    for name, (required, why) in REQUIRED_URL_OPTIONS.items():
        given = in_url.get(name.lower(), required)
        if given.lower() != required:
            raise SystemExit(f"--session-store: {name}={given} in the MongoDB URL: {why}. Remove it from the URL")
    timeout_ms = int(timeout * 1000)
    # A request that finds every pooled connection busy waits for one, as
    # long as it would wait for the server; a URL's own pool options win.
    pool = {"maxPoolSize": MAX_POOL_SIZE, "waitQueueTimeoutMS": timeout_ms}
    settings = {name: value for name, value in pool.items() if name.lower() not in in_url}
    settings.update({name: value for name, (value, _) in REQUIRED_URL_OPTIONS.items()}, **driver_options)
    settings["event_listeners"] = [Heartbeats(), *driver_options.get("event_listeners", [])]
    try:
        return client_class(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            **settings,
        )
    except (pymongo.errors.ConfigurationError, ValueError) as e:
        raise SystemExit(f"--session-store: not a usable MongoDB URL: {e}") from None


def mongodb_client_class(driver: str) -> Any:
    if driver == "pymongo":
        return pymongo.AsyncMongoClient
    if driver != "motor":
        raise SystemExit(f"--mongodb-driver: expected one of {', '.join(DRIVERS)}, got {driver!r}")
    try:
        from motor.motor_asyncio import AsyncIOMotorClient
    except ModuleNotFoundError:
        raise SystemExit("--mongodb-driver=motor needs Motor: pip install -r requirements.txt") from None
    return AsyncIOMotorClient


def url_options(url: str) -> dict[str, str]:
    """The URL's options, names in lower case (MongoDB's are case-insensitive)."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query.replace(";", "&"))
    return {name.lower(): value for name, value in pairs}


class Heartbeats(monitoring.ServerHeartbeatListener):
    """What each server said it is when last asked: a replicaSet= naming a
    set the servers are not in is then told apart from an outage."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, int], tuple[int, str | None]] = {}

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        self.answers[event.connection_id] = (event.reply.server_type, event.reply.replica_set_name)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        self.answers.pop(event.connection_id, None)


def open_redis_store(
    url: str,
    timeout: float,
    redis_pool_size: int = REDIS_POOL_SIZE,
    redis_wait_replicas: int = 0,
    announce: bool = True,
) -> SessionStore:
    """One Redis server, the master Sentinel names, or a Redis Cluster (serving/redis_clients.py)."""
    if RedisStore is None:
        raise SystemExit("--session-store: Redis needs the redis package: pip install -r requirements.txt")
    if redis_pool_size < 1:
        raise SystemExit(f"--store-pool-size: at least 1 connection, not {redis_pool_size}")
    if redis_wait_replicas < 0:
        raise SystemExit(f"--redis-wait-replicas: a number of replicas, not {redis_wait_replicas}")
    client = open_redis_client(url, timeout, redis_pool_size)
    try:
        # WAIT's own limit well inside the store's, so that a replica that is
        # down gives the 503 page (and the log its advice), not a timeout.
        store = RedisStore(client, timeout=timeout + 1, wait_replicas=redis_wait_replicas, wait_timeout=timeout / 2)
    except ValueError as e:
        raise SystemExit(f"--redis-wait-replicas: {e}") from None
    if announce:
        log.info("Sessions in %s, at most %d connections to each server", describe_redis(client), redis_pool_size)
    return store


def open_login_failures(store: SessionStore, table_size: int = 100_000) -> LoginFailures:
    """Login-failure counts live beside the sessions: shared when they are.
    ``table_size`` bounds the accounts counted in memory."""
    if isinstance(store, MongoStore):
        return MongoLoginFailures(store)
    if RedisStore is not None and isinstance(store, RedisStore):
        return RedisLoginFailures(store)
    return MemoryLoginFailures(seconds_to_wait, table_size)


SERVER_KINDS = {
    pymongo.server_type.SERVER_TYPE.Standalone: "a standalone server, in no replica set",
    pymongo.server_type.SERVER_TYPE.Mongos: "a mongos (a sharded cluster)",
}


def describe_hosts(client: Any) -> str:
    """The servers the client tries, as host:port: never the URL, which may hold a password."""
    servers = sorted(client.topology_description.server_descriptions(), key=str)
    return ", ".join(f"{host}:{port}" if port else f"{host} (DNS SRV)" for host, port in servers)


async def create_indexes(
    store: MongoStore,
    failures: MongoLoginFailures,
    recheck_every: float = INDEX_RECHECK_SECONDS,
    retry_every: float = 1,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Runs beside the server for its whole life, so a database that is down
    does not stop the site from starting; and it checks the indexes again
    now and then, because a database restored or wiped while the site runs
    would otherwise keep its sessions without a TTL index until a restart."""
    client = store.collection.database.client
    hosts = describe_hosts(client)
    down_since: float | None = None
    ever_answered = reported = False
    while True:
        try:
            await store.create_indexes()
            await failures.create_indexes()
        except StoreUnavailable as e:
            now = clock()
            if down_since is None:
                log.warning(
                    "MongoDB unreachable at %s (%s). Serving anyway; pages that need a session answer 503", hosts, e
                )
                down_since = now
            elif not (ever_answered or reported) and now - down_since >= REPLICA_SET_PATIENCE_SECONDS:
                reported = report_replica_set_unanswered(client, hosts)
            await asyncio.sleep(retry_every)
            continue
        if down_since is not None:
            log.info("MongoDB at %s is answering again", hosts)
            down_since = None
        ever_answered = True  # from now on, no answer is an outage
        await asyncio.sleep(recheck_every)


def report_replica_set_unanswered(client: Any, hosts: str) -> bool:
    """Logs why a replicaSet= has never answered, once; False if the URL names no set."""
    set_name = client.options.replica_set_name
    if set_name is None:
        return False
    answers = next(
        (listener.answers for listener in client.options.event_listeners if isinstance(listener, Heartbeats)), {}
    )
    said = {
        f"{host}:{port} is a member of replica set {name!r}"
        if name
        else f"{host}:{port} is {SERVER_KINDS.get(kind, 'not a replica set member')}"
        for (host, port), (kind, name) in answers.items()
        if name != set_name
    }
    log.error(
        "MongoDB: no member of replica set %r has answered at %s for %d s%s. Most likely the URL is wrong: "
        "replicaSet= must be the set's name (rs.conf()._id in mongosh), and a standalone server or a mongos takes none",
        set_name,
        hosts,
        REPLICA_SET_PATIENCE_SECONDS,
        f" ({'; '.join(sorted(said))})" if said else "",
    )
    return True


async def report_unreachable_redis(store: RedisStore, retry_every: float = 1) -> None:
    """At start: a Redis that does not answer is said in one line, and once
    more when it answers. The site serves meanwhile (pages that need a
    session answer 503), as it does when Redis goes away later."""
    where = describe_redis(store.client)
    down = False
    while True:
        try:
            await store.call(store.client.ping())
        except StoreUnavailable as e:
            if not down:
                log.warning("%s unreachable (%s). Serving anyway; pages that need a session answer 503", where, e)
                down = True
            await asyncio.sleep(retry_every)
            continue
        except StoreMisconfigured:
            return  # the store has logged it, with advice
        if down:
            log.info("%s is answering again", where)
        return


@contextlib.asynccontextmanager
async def kept_up(store: SessionStore, failures: LoginFailures) -> AsyncIterator[None]:
    """While the site runs: MongoDB's indexes made and checked now and then;
    a Redis that is not there at start reported. Afterwards: the database
    client closed."""
    if isinstance(store, MongoStore):
        watching = asyncio.create_task(create_indexes(store, failures))
    elif RedisStore is not None and isinstance(store, RedisStore):
        watching = asyncio.create_task(report_unreachable_redis(store))
    else:
        watching = None
    try:
        yield
    finally:
        if watching is not None:
            watching.cancel()
        await close_store(store)


async def close_store(store: SessionStore) -> None:
    if RedisStore is not None and isinstance(store, RedisStore):
        await close_redis(store.client)
    if isinstance(store, MongoStore):
        closing = store.collection.database.client.close()
        if inspect.isawaitable(closing):  # PyMongo's AsyncMongoClient.close() is a coroutine, Motor's is not
            await closing
