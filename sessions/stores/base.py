"""The store contract: six async methods over session records.

A store never sees a session ID, only its key: the SHA-256 digest that
``sessions.store_key`` makes of it. Writing a store for another
database means implementing these six methods with the guarantees below;
``tests/test_stores.py`` is the suite that checks them.

``now`` is the caller's clock (``SessionConfig.clock``), in seconds since the
epoch. Stores use it only to leave out records whose ``expires`` is at or
before it; they never consult a clock of their own to decide what a caller
sees, so every process and every test agrees on what has expired. A store
may delete expired records whenever it likes (a TTL index, a sweep); a TTL
deletes by the database server's clock, so keep the clocks of the web and
database servers in step (NTP), or sessions end early or late.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

RECORD_FIELDS = ("user", "remember", "last_seen", "expires")


def exact(value: str) -> str:
    """``value``, checked to be a plain str, for a store query or key: never
    an object such as {"$ne": null}, a number or a list made into one."""
    if type(value) is not str:
        raise TypeError(f"expected a str, got {type(value).__name__}")
    return value


class StoreError(Exception):
    """The store could not do what was asked. The site answers 503."""


class StoreUnavailable(StoreError):
    """Could not be reached, or did not answer in time: try again shortly.

    It must never look like a logout: the session stays as it was.
    """


class StoreMisconfigured(StoreError):
    """An error that retrying will not cure: bad credentials, missing
    privileges, an index that conflicts. Logged once, at ERROR, with the cause."""


@dataclasses.dataclass(slots=True)
class SessionRecord:
    """One stored session. Times are seconds since the epoch."""

    data: dict[str, Any]
    user: str | None
    created: float
    last_seen: float
    expires: float
    client: str = ""
    remember: bool = False


@dataclasses.dataclass(slots=True)
class Changes:
    """What one update writes: only what changed, so two requests that change
    different keys of one session both keep their change."""

    set: dict[str, Any] = dataclasses.field(default_factory=dict)
    unset: list[str] = dataclasses.field(default_factory=list)
    # Applied by the store itself, atomically: N concurrent increments of
    # one key add exactly N. A missing key counts as 0 (increment) or [] (append).
    increment: dict[str, int | float] = dataclasses.field(default_factory=dict)
    append: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Record fields to set: any of RECORD_FIELDS.
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)


class SessionStore(Protocol):
    async def load(self, key: str, now: float) -> SessionRecord | None:
        """The record, or None when it is missing, expired (``expires <= now``)
        or cannot be read. The caller owns what is returned: changing it
        changes nothing in the store."""

    async def create(self, key: str, record: SessionRecord) -> bool:
        """Insert a new record. If the key is taken, change nothing and return
        False (the caller draws another ID)."""

    async def update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        """Apply ``changes`` to an existing record, as one atomic step.

        Never creates a record: if the key is missing (a logout deleted it
        meanwhile), change nothing and return None. Otherwise return the
        values, after the change, of the keys in ``changes.increment`` and
        ``changes.append`` (an empty dict when there are none). A change the
        store cannot make (a stored value that is not a number, or not a
        list; a sum past 64-bit integers) raises TypeError or ValueError and
        changes nothing. ``fields["user"] = None`` clears the user.
        """

    async def delete(self, key: str) -> None:
        """Delete the record; a missing key is not an error."""

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        """The live records whose ``user`` is ``user``, by key."""

    async def delete_by_user(self, user: str, keep: str | None = None) -> int:
        """Delete every record of ``user`` except the one under ``keep``;
        return how many went ("sign out everywhere else")."""
