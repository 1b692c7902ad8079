"""MongoStore: sessions in MongoDB, shared by every process of the site.

It takes a collection from Motor's ``AsyncIOMotorClient`` or PyMongo's
``AsyncMongoClient``; both have the same async collection API. One document
per session, ``_id`` being the store key: a digest of the session ID, never the ID:

    {_id, data: {...}, user, created, last_seen, expires, client, remember}

Times are BSON dates, so a TTL index on ``expires`` deletes expired sessions;
reads check ``expires`` as well, because the TTL monitor runs only once a
minute. Login failure counts live in a second collection and are forgotten a
day after the last failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from .base import SessionRecord, StoreUnavailable

FORGET_LOGIN_FAILURES_AFTER = 24 * 3600
_TIME_FIELDS = ("created", "last_seen", "expires")
T = TypeVar("T")


class MongoStore:
    def __init__(self, collection: Any, login_failures: Any = None, timeout: float = 5.0) -> None:
        """`timeout` bounds each call, in seconds, whatever the driver's own timeouts."""
        self.collection = collection
        self.timeout = timeout
        self.login_failures_collection = (
            login_failures if login_failures is not None else collection.database[f"{collection.name}_login_failures"]
        )

    async def _call(self, operation: Awaitable[T]) -> T:
        """The operation's result, or StoreUnavailable within `timeout`."""
        task = asyncio.ensure_future(operation)
        # Motor queues operations for its threads, and no driver setting limits
        # that wait; a cancelled PyMongo operation may not stop at once either.
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if not done:
            task.cancel()
            task.add_done_callback(_ignore_outcome)
            raise StoreUnavailable(f"MongoDB: no answer within {self.timeout:g} s")
        try:
            return task.result()
        except DuplicateKeyError:
            raise
        except PyMongoError as e:
            # Timeouts, refused connections, a primary stepping down, lost
            # credentials: to a visitor all of these mean "try again shortly".
            raise StoreUnavailable(f"MongoDB: {type(e).__name__}") from e

    async def create_indexes(self) -> None:
        """Idempotent: creating an index that exists already changes nothing."""
        await self._call(self.collection.create_index("expires", expireAfterSeconds=0))
        await self._call(self.collection.create_index("user"))
        failures = self.login_failures_collection
        await self._call(failures.create_index("last", expireAfterSeconds=FORGET_LOGIN_FAILURES_AFTER))

    async def load(self, key: str, now: float) -> SessionRecord | None:
        query = {"_id": _exact(key), "expires": {"$gt": _date(now)}}
        document = await self._call(self.collection.find_one(query))
        return _record(document) if document else None

    async def create(self, key: str, record: SessionRecord) -> bool:
        document = {"_id": _exact(key), "data": record.data, "user": record.user, "client": record.client}
        document.update(remember=record.remember, **{name: _date(getattr(record, name)) for name in _TIME_FIELDS})
        try:
            await self._call(self.collection.insert_one(document))
        except DuplicateKeyError:
            return False
        return True

    async def update(
        self,
        key: str,
        set_data: Mapping[str, Any],
        unset_data: Iterable[str],
        fields: Mapping[str, Any],
    ) -> bool:
        to_set = {f"data.{name}": value for name, value in set_data.items()}
        to_set.update((name, _date(value) if name in _TIME_FIELDS else value) for name, value in fields.items())
        to_unset = {f"data.{name}": "" for name in unset_data}
        changes = {operator: value for operator, value in (("$set", to_set), ("$unset", to_unset)) if value}
        if not changes:
            return await self._call(self.collection.count_documents({"_id": _exact(key)}, limit=1)) == 1
        # No upsert: a session deleted meanwhile (a logout) stays deleted.
        result = await self._call(self.collection.update_one({"_id": _exact(key)}, changes))
        return result.matched_count == 1

    async def delete(self, key: str) -> None:
        await self._call(self.collection.delete_one({"_id": _exact(key)}))

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        query = {"user": _exact(user), "expires": {"$gt": _date(now)}}
        documents = await self._call(self.collection.find(query).to_list(None))
        records = {document["_id"]: _record(document) for document in documents}
        return {key: record for key, record in records.items() if record is not None}

    async def login_failures(self, account: str) -> tuple[int, float]:
        return _failures(await self._call(self.login_failures_collection.find_one({"_id": _exact(account)})))

    async def add_login_failure(self, account: str, now: float) -> tuple[int, float]:
        # One atomic $inc: failures counted by several processes at once all count.
        counting = self.login_failures_collection.find_one_and_update(
            {"_id": _exact(account)},
            {"$inc": {"count": 1}, "$set": {"last": _date(now)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return _failures(await self._call(counting))

    async def clear_login_failures(self, account: str) -> None:
        await self._call(self.login_failures_collection.delete_one({"_id": _exact(account)}))


def _ignore_outcome(task: asyncio.Future) -> None:
    # Given up on: its result or error no longer matters, and is not logged.
    if not task.cancelled():
        task.exception()


def _exact(value: str) -> str:
    """Only a plain string reaches a query: never an object such as {"$ne": null}."""
    if type(value) is not str:
        raise TypeError(f"expected a str, got {type(value).__name__}")
    return value


def _date(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _seconds(date: datetime) -> float:
    # A client made without tz_aware=True returns naive datetimes, in UTC.
    return (date if date.tzinfo else date.replace(tzinfo=UTC)).timestamp()


def _record(document: Mapping[str, Any]) -> SessionRecord | None:
    """The record, or None when the document is not one we can read: an
    unreadable session is a missing session, never a 500."""
    try:
        record = SessionRecord(
            data=document["data"],
            user=document["user"],
            created=_seconds(document["created"]),
            last_seen=_seconds(document["last_seen"]),
            expires=_seconds(document["expires"]),
            client=document.get("client", ""),
            remember=document.get("remember", False),
        )
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return None
    if not isinstance(record.data, dict) or not isinstance(record.user, str | None):
        return None
    return record if isinstance(record.client, str) and isinstance(record.remember, bool) else None


def _failures(document: Mapping[str, Any] | None) -> tuple[int, float]:
    if not document:
        return 0, 0.0
    return int(document["count"]), _seconds(document["last"])
