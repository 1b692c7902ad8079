"""MongoStore: sessions in MongoDB, shared by every process of the site.

It takes a collection from PyMongo's ``AsyncMongoClient`` or from Motor's
``AsyncIOMotorClient`` (its predecessor, with the same async collection API).
One document per session, ``_id`` being the store key: a digest of the
session ID, never the ID:

    {_id, data: {...}, user, created, last_seen, expires, client, remember}

Times are BSON dates, so a TTL index on ``expires`` deletes expired sessions;
reads check ``expires`` as well, because the TTL monitor runs only once a
minute. An index on ``(user, expires)`` makes a user's live sessions cheap to
find. Saves are ``$set``/``$unset`` of the changed keys and
``$inc``/``$push`` for increment() and append(), never an upsert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson.errors import InvalidDocument
from pymongo import ReturnDocument
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from .base import Changes, SessionRecord, StoreMisconfigured, StoreUnavailable, exact

log = logging.getLogger("sessions")
T = TypeVar("T")
_TIME_FIELDS = ("created", "last_seen", "expires")
# Server error codes that mean "not now" rather than "never": no writable
# primary (an election, a step-down, a shutdown), a lost host, a time limit,
# a write conflict, a mongos that cannot reach a shard's primary.
_TRANSIENT_CODES = {6, 7, 50, 89, 91, 112, 133, 134, 189, 202, 262, 9001, 10058, 10107, 11600, 11602, 13435, 13436}
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError", "SystemOverloadedError")
# $inc on a string, $push onto a non-array.
_TYPE_MISMATCH_CODES = {2, 14}
_ADVICE = {
    13: "the user in the MongoDB URL lacks privileges: grant readWrite on the session database",
    18: "authentication failed: check the user and password in the MongoDB URL",
    85: "an index exists with other options: drop it, and the site creates the right one",
    86: "an index exists with another key: drop it, and the site creates the right one",
}
_TOO_LARGE = "a session passed MongoDB's 16 MB limit for a document: keep less in it"
_INDEXES: list[tuple[Any, dict[str, Any]]] = [
    ("expires", {"expireAfterSeconds": 0}),
    ([("user", 1), ("expires", 1)], {}),
]


class MongoStore:
    def __init__(self, collection: Any, timeout: float = 5.0) -> None:
        """`timeout` bounds each call, in seconds, whatever the driver's own timeouts."""
        self.collection = collection
        self.timeout = timeout
        self._reported: set[str] = set()

    async def call(self, operation: Awaitable[T]) -> T:
        """The operation's result, or StoreUnavailable within `timeout`, or
        StoreMisconfigured for an error that trying again will not cure."""
        task = asyncio.ensure_future(operation)
        # Motor queues operations for its threads, and no driver setting limits
        # that wait; a cancelled PyMongo operation may not stop at once either.
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout)
        finally:
            if not task.done():  # timed out, or whoever waited was cancelled
                task.cancel()
                task.add_done_callback(_ignore_outcome)
        if not done:
            raise StoreUnavailable(f"MongoDB: no answer within {self.timeout:g} s")
        try:
            return task.result()
        except DuplicateKeyError:
            raise
        except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as e:  # the last two are OperationFailures
            raise StoreUnavailable(f"MongoDB: {type(e).__name__}") from e
        except OperationFailure as e:
            if e.code in _TYPE_MISMATCH_CODES:
                raise TypeError(f"MongoDB refused the change: {e.details.get('errmsg', e) if e.details else e}") from e
            if e.code in _TRANSIENT_CODES or any(map(e.has_error_label, _TRANSIENT_LABELS)):
                raise StoreUnavailable(f"MongoDB: {type(e).__name__} {e.code}") from e
            raise self._misconfigured(e) from e
        except (PyMongoError, InvalidDocument) as e:  # InvalidDocument: over 16 MB, say
            raise self._misconfigured(e) from e

    def _misconfigured(self, error: Exception) -> StoreMisconfigured:
        code: int | None = getattr(error, "code", None)
        too_large = isinstance(error, DocumentTooLarge) or code in (10334, 17419)
        advice = _TOO_LARGE if too_large else _ADVICE.get(code or 0, "retrying will not help; see the cause")
        details = getattr(error, "details", None) or {}
        message = f"MongoDB: {type(error).__name__} ({code}): {details.get('errmsg', error)}; {advice}"
        # Once per kind: the text varies (a document's size, a server's timestamps).
        if (kind := f"{type(error).__name__} {code}") not in self._reported:
            self._reported.add(kind)
            log.error("Session store: %s", message)
        return StoreMisconfigured(message)

    async def create_indexes(self) -> None:
        """Idempotent: creating an index that exists already changes nothing.
        An index that cannot be made (a conflicting one exists) is logged and
        the others are still made; an outage raises StoreUnavailable."""
        for keys, options in _INDEXES:
            try:
                await self.call(self.collection.create_index(keys, **options))
            except StoreMisconfigured:
                continue

    async def load(self, key: str, now: float) -> SessionRecord | None:
        query = {"_id": exact(key), "expires": {"$gt": to_date(now)}}
        document = await self.call(self.collection.find_one(query))
        return _record(document) if document else None

    async def create(self, key: str, record: SessionRecord) -> bool:
        document: dict[str, Any] = {"_id": exact(key), "data": record.data, "user": record.user}
        document.update(
            client=record.client,
            remember=record.remember,
            **{name: to_date(getattr(record, name)) for name in _TIME_FIELDS},
        )
        try:
            await self.call(self.collection.insert_one(document))
        except DuplicateKeyError:
            return False
        return True

    async def update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        to_set = {f"data.{name}": value for name, value in changes.set.items()}
        to_set.update(
            (name, to_date(value) if name in _TIME_FIELDS else value) for name, value in changes.fields.items()
        )
        operators = {
            "$set": to_set,
            "$unset": {f"data.{name}": "" for name in changes.unset},
            "$inc": {f"data.{name}": by for name, by in changes.increment.items()},
            "$push": {f"data.{name}": item for name, item in changes.append.items()},
        }
        update = {operator: value for operator, value in operators.items() if value}
        where = {"_id": exact(key)}
        # No upsert: a session deleted meanwhile (a logout) stays deleted.
        if changes.increment or changes.append:
            wanted = [*changes.increment, *changes.append]
            projection = {f"data.{name}": 1 for name in wanted}
            after = self.collection.find_one_and_update(
                where, update, projection=projection, return_document=ReturnDocument.AFTER
            )
            document = await self.call(after)
            return None if document is None else {name: document["data"][name] for name in wanted}
        if not update:
            return {} if await self.call(self.collection.count_documents(where, limit=1)) else None
        result = await self.call(self.collection.update_one(where, update))
        return {} if result.matched_count else None

    async def delete(self, key: str) -> None:
        await self.call(self.collection.delete_one({"_id": exact(key)}))

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        # The (user, expires) index reads live sessions only, not the expired ones the TTL monitor has yet to delete.
        query = {"user": exact(user), "expires": {"$gt": to_date(now)}}
        documents = await self.call(self.collection.find(query).to_list(None))
        records = {document["_id"]: _record(document) for document in documents}
        return {key: record for key, record in records.items() if record is not None}

    async def delete_by_user(self, user: str, keep: str | None = None) -> int:
        query: dict[str, Any] = {"user": exact(user)}
        if keep is not None:
            query["_id"] = {"$ne": exact(keep)}
        deleted: int = (await self.call(self.collection.delete_many(query))).deleted_count
        return deleted


def _ignore_outcome(task: asyncio.Future[Any]) -> None:
    # Given up on: its result or error no longer matters, and is not logged.
    if not task.cancelled():
        task.exception()


def to_date(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def from_date(date: datetime) -> float:
    # A client made without tz_aware=True returns naive datetimes, in UTC.
    return (date if date.tzinfo else date.replace(tzinfo=UTC)).timestamp()


def _record(document: Mapping[str, Any]) -> SessionRecord | None:
    """The record, or None when the document is not one we can read: an
    unreadable session is a missing session, never a 500."""
    try:
        record = SessionRecord(
            data=document["data"],
            user=document["user"],
            created=from_date(document["created"]),
            last_seen=from_date(document["last_seen"]),
            expires=from_date(document["expires"]),
            client=document.get("client", ""),
            remember=document.get("remember", False),
        )
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return None
    if not isinstance(record.data, dict) or not isinstance(record.user, str | None):
        return None
    return record if isinstance(record.client, str) and isinstance(record.remember, bool) else None
