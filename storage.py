"""From --session-store to a session store: 'memory', a MongoDB URL or a Redis URL."""

from __future__ import annotations

import asyncio
import inspect
import logging
import urllib.parse

import pymongo.errors
from motor.motor_asyncio import AsyncIOMotorClient

from login_failures import LoginFailures, MemoryLoginFailures, MongoLoginFailures, RedisLoginFailures
from sessions import MemoryStore, MongoStore, SessionStore, StoreUnavailable
from throttle import FREE_ATTEMPTS

try:  # the [redis] extra
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from sessions.stores.redis import RedisStore
except ModuleNotFoundError:
    RedisStore = None

log = logging.getLogger("app")


def open_store(url: str, mongodb_timeout: float = 3.0, redis_timeout: float = 3.0) -> SessionStore:
    if url == "memory":
        return MemoryStore()
    if url.startswith(("redis://", "rediss://")):
        return open_redis_store(url, redis_timeout)
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise SystemExit(f"--session-store: expected 'memory', a mongodb:// or a redis:// URL, got {url!r}")
    timeout_ms = int(mongodb_timeout * 1000)
    # PyMongo's own async client is a drop-in replacement for Motor (end of
    # life since May 2026): pymongo.AsyncMongoClient(url, ...same options).
    try:
        client = AsyncIOMotorClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (pymongo.errors.ConfigurationError, ValueError) as e:
        raise SystemExit(f"--session-store: not a usable MongoDB URL: {e}") from None
    # One second more than the driver's timeouts, so that usually the driver
    # says what went wrong; the store's own limit catches time spent queuing.
    collection = client.get_default_database("tornado_sessions")["sessions"]
    return MongoStore(collection, timeout=mongodb_timeout + 1)


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


def open_login_failures(store: SessionStore) -> LoginFailures:
    """Login-failure counts live beside the sessions: shared when they are."""
    if isinstance(store, MongoStore):
        return MongoLoginFailures(store, store.collection.database[f"{store.collection.name}_login_failures"])
    if RedisStore is not None and isinstance(store, RedisStore):
        return RedisLoginFailures(store)
    return MemoryLoginFailures(keep_from=FREE_ATTEMPTS)


async def create_indexes(store: MongoStore, failures: MongoLoginFailures) -> None:
    """Runs beside the server, so a database that is down does not stop the
    site from starting; it tries again until the indexes are there."""
    warned = False
    while True:
        try:
            await store.create_indexes()
            await failures.create_indexes()
        except StoreUnavailable as e:
            if not warned:
                log.warning("Session store unavailable (%s). Serving anyway; pages that need a session answer 503", e)
                warned = True
            await asyncio.sleep(10)
        else:
            if warned:
                log.info("MongoDB is answering again")
            return


async def close_store(store: SessionStore) -> None:
    if RedisStore is not None and isinstance(store, RedisStore):
        await store.client.aclose()
    if isinstance(store, MongoStore):
        closing = store.collection.database.client.close()
        if inspect.isawaitable(closing):  # PyMongo's AsyncMongoClient.close() is a coroutine, Motor's is not
            await closing
