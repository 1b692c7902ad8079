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
from auth.throttle import seconds_to_wait
from sessions import MemoryStore, MongoStore, SessionStore, StoreUnavailable

try:  # the [redis] extra
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from sessions.stores.redis import RedisStore
except ModuleNotFoundError:
    RedisStore = None

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


def open_store(url: str, timeout: float = 3.0, driver: str = "motor") -> SessionStore:
    if url == "memory":
        return MemoryStore()
    if url.startswith(("redis://", "rediss://")):
        return open_redis_store(url, timeout)
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise SystemExit(f"--session-store: expected 'memory', a mongodb:// or a redis:// URL, got {url!r}")
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


def open_redis_store(url: str, timeout: float) -> SessionStore:
    """redis://[[user]:password@]host[:port][/db], or rediss:// for TLS."""
    if RedisStore is None:
        raise SystemExit("--session-store: Redis needs the redis package: pip install 'tornado-sessions[redis]'")
    database = urllib.parse.urlsplit(url).path.strip("/")
    if database and not database.isdigit():  # redis-py would quietly use database 0
        raise SystemExit(f"--session-store: a Redis database is a number, as in redis://host:6379/0, not {database!r}")
    try:
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No retries: an increment whose answer was lost must not count twice.
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as e:
        raise SystemExit(f"--session-store: not a usable Redis URL: {e}") from None
    return RedisStore(client, timeout=timeout + 1)


def open_login_failures(store: SessionStore, table_size: int = 100_000) -> LoginFailures:
    """Login-failure counts live beside the sessions: shared when they are.
    ``table_size`` bounds the accounts counted in memory."""
    if isinstance(store, MongoStore):
        return MongoLoginFailures(store)
    if RedisStore is not None and isinstance(store, RedisStore):
        return RedisLoginFailures(store)
    return MemoryLoginFailures(seconds_to_wait, table_size)


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


@contextlib.asynccontextmanager
async def kept_up(store: SessionStore, failures: LoginFailures) -> AsyncIterator[None]:
    """While the site runs: MongoDB's indexes made and checked now and then.
    Afterwards: the database client closed."""
    indexing = asyncio.create_task(create_indexes(store, failures)) if isinstance(store, MongoStore) else None
    try:
        yield
    finally:
        if indexing is not None:
            indexing.cancel()
        await close_store(store)


async def close_store(store: SessionStore) -> None:
    if RedisStore is not None and isinstance(store, RedisStore):
        await store.client.aclose()
    if isinstance(store, MongoStore):
        closing = store.collection.database.client.close()
        if inspect.isawaitable(closing):  # PyMongo's AsyncMongoClient.close() is a coroutine, Motor's is not
            await closing
