"""From --session-store to a session store: 'memory', a MongoDB URL or a Redis URL."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pymongo
import pymongo.errors
from motor.motor_asyncio import AsyncIOMotorClient

from auth.login_failures import LoginFailures, MemoryLoginFailures, MongoLoginFailures, RedisLoginFailures
from auth.throttle import FREE_ATTEMPTS
from sessions import MemoryStore, MongoStore, SessionStore, StoreMisconfigured, StoreUnavailable

try:  # the [redis] extra
    from serving.redis_clients import SCHEMES as REDIS_SCHEMES
    from serving.redis_clients import close_redis, describe_redis, open_redis_client
    from sessions.stores.redis import RedisStore
except ModuleNotFoundError:
    RedisStore = None
    REDIS_SCHEMES = ("redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")

log = logging.getLogger("app")

# Motor reached end of life in May 2026; PyMongo's own async client has the
# same API and replaces it.
DRIVERS = {"motor": AsyncIOMotorClient, "pymongo": pymongo.AsyncMongoClient}
# A login acknowledged by a majority of a replica set survives a failover; with
# w=1 (the default on some topologies, and a cluster-wide setting) it may not.
# The primary has every write acknowledged so. A URL's own ?w= or
# ?readPreference= still wins.
PINNED_URL_OPTIONS = {"w": "majority", "readPreference": "primary"}
INDEX_RECHECK_SECONDS = 60
# Connections to each Redis server, per process: redis-py's own default.
REDIS_POOL_SIZE = 100


def open_store(url: str, timeout: float = 3.0, driver: str = "motor", **redis_options: int) -> SessionStore:
    if url == "memory":
        return MemoryStore()
    if url.partition("://")[0] in REDIS_SCHEMES:
        return open_redis_store(url, timeout, **redis_options)
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise SystemExit(
            f"--session-store: expected 'memory', a mongodb://, redis://, redis+sentinel:// or redis+cluster:// URL,"
            f" got {url!r}"
        )
    client = open_client(url, timeout, driver)
    collection = client.get_default_database("tornado_sessions")["sessions"]
    log.info(
        "Sessions in MongoDB at %s, database %s, through %s", describe_hosts(client), collection.database.name, driver
    )
    # One second more than the driver's timeouts, so that usually the driver
    # says what went wrong; the store's own limit catches time spent queuing.
    return MongoStore(collection, timeout=timeout + 1)


def open_client(url: str, timeout: float = 3.0, driver: str = "motor", **driver_options: Any) -> Any:
    if driver not in DRIVERS:
        raise SystemExit(f"--mongodb-driver: expected one of {', '.join(DRIVERS)}, got {driver!r}")
    in_url = {option.split("=", 1)[0].lower() for option in re.split("[&;]", urllib.parse.urlsplit(url).query)}
    pinned = {name: value for name, value in PINNED_URL_OPTIONS.items() if name.lower() not in in_url}
    timeout_ms = int(timeout * 1000)
    try:
        return DRIVERS[driver](
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            **pinned,
            **driver_options,
        )
    except (pymongo.errors.ConfigurationError, ValueError) as e:
        raise SystemExit(f"--session-store: not a usable MongoDB URL: {e}") from None


def open_redis_store(
    url: str, timeout: float, redis_pool_size: int = REDIS_POOL_SIZE, redis_wait_replicas: int = 0
) -> SessionStore:
    """One Redis server, the master Sentinel names, or a Redis Cluster (serving/redis_clients.py)."""
    if RedisStore is None:
        raise SystemExit("--session-store: Redis needs the redis package: pip install 'tornado-sessions[redis]'")
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
    log.info("Sessions in %s, at most %d connections to each server", describe_redis(client), redis_pool_size)
    return store


def open_login_failures(store: SessionStore) -> LoginFailures:
    """Login-failure counts live beside the sessions: shared when they are."""
    if isinstance(store, MongoStore):
        return MongoLoginFailures(store, store.collection.database[f"{store.collection.name}_login_failures"])
    if RedisStore is not None and isinstance(store, RedisStore):
        return RedisLoginFailures(store)
    return MemoryLoginFailures(keep_from=FREE_ATTEMPTS)


def describe_hosts(client: Any) -> str:
    """The servers the client tries, as host:port: never the URL, which may hold a password."""
    servers = sorted(client.topology_description.server_descriptions(), key=str)
    return ", ".join(f"{host}:{port}" if port else f"{host} (DNS SRV)" for host, port in servers)


async def create_indexes(
    store: MongoStore,
    failures: MongoLoginFailures,
    recheck_every: float = INDEX_RECHECK_SECONDS,
    retry_every: float = 1,
) -> None:
    """Runs beside the server for its whole life, so a database that is down
    does not stop the site from starting; and it checks the indexes again
    now and then, because a database restored or wiped while the site runs
    would otherwise keep its sessions without a TTL index until a restart."""
    hosts = describe_hosts(store.collection.database.client)
    down = False
    while True:
        try:
            await store.create_indexes()
            await failures.create_indexes()
        except StoreUnavailable as e:
            if not down:
                log.warning(
                    "MongoDB unreachable at %s (%s). Serving anyway; pages that need a session answer 503", hosts, e
                )
                down = True
            await asyncio.sleep(retry_every)
            continue
        if down:
            log.info("MongoDB at %s is answering again", hosts)
            down = False
        await asyncio.sleep(recheck_every)


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
