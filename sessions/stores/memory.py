"""MemoryStore: sessions in this process's memory, the embedded default.

Good for one process and for development. Everything is lost on restart, and
several processes cannot share it (use MongoStore or RedisStore for that).

Bounded: at most ``max_entries`` records. When it is full, a new record
pushes out the least recently used anonymous one (a visitor's flash
message); a signed-in session is never pushed out to make room. When every
record is a signed-in session, a new one is refused with ``StoreFull`` (the
site answers 503) until sessions end or expire. Every index it keeps (the
expiry heap, the per-user sets) is bounded by the live records; expired
records go as new ones are written, so listing a user's sessions costs their
live sessions only.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections import OrderedDict
from typing import Any

from .base import Changes, SessionRecord, StoreUnavailable

# One encoder for every call: json.dumps() with options builds a new one each time.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


class StoreFull(StoreUnavailable):
    """Every record is a signed-in session: no room for a new one."""


class _Row:
    """One record. The data is kept as JSON text: small, and callers never
    share a mutable object with the store."""

    __slots__ = ("client", "created", "data", "expires", "last_seen", "remember", "user")

    def __init__(self, record: SessionRecord) -> None:
        self.data = _compact_json(record.data)
        # Interned: 100 000 sessions of one user from one kind of browser
        # share two strings instead of holding 200 000.
        self.user = sys.intern(record.user) if record.user is not None else None
        self.client = sys.intern(record.client)
        self.created, self.last_seen, self.expires = record.created, record.last_seen, record.expires
        self.remember = record.remember

    def record(self) -> SessionRecord:
        return SessionRecord(
            json.loads(self.data), self.user, self.created, self.last_seen, self.expires, self.client, self.remember
        )


class MemoryStore:
    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._rows: dict[str, _Row] = {}
        # Anonymous records, least recently used first: the only ones that
        # may be pushed out when the store is full.
        self._anonymous: OrderedDict[str, None] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        # (time to check, key), soonest first. A record whose expiry moved on
        # is pushed back when its entry comes up, so a sweep costs time in
        # proportion to what is due, not to the store's size.
        self._expiry_heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._rows)

    async def load(self, key: str, now: float) -> SessionRecord | None:
        self.sweep(now)
        row = self._rows.get(key)
        if row is None or row.expires <= now:
            return None
        if row.user is None:
            self._anonymous.move_to_end(key)
        return row.record()

    async def create(self, key: str, record: SessionRecord) -> bool:
        # The per-user sets hold live sessions only: expired ones go as new
        # ones come, whoever reads.
        self.sweep(record.last_seen)
        if key in self._rows:
            return False
        if len(self._rows) >= self.max_entries:
            if not self._anonymous:
                raise StoreFull(f"MemoryStore: all {self.max_entries} records are signed-in sessions")
            self._remove(next(iter(self._anonymous)))
        self._rows[key] = row = _Row(record)
        self._index(key, row)
        heapq.heappush(self._expiry_heap, (row.expires, key))
        return True

    async def update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        if "user" in changes.fields:  # a login: as in create()
            self.sweep(changes.fields.get("last_seen", 0.0))
        row = self._rows.get(key)
        if row is None:
            return None
        results: dict[str, Any] = {}
        if changes.set or changes.unset or changes.increment or changes.append:
            data = json.loads(row.data)
            for name, by in changes.increment.items():
                results[name] = data[name] = _sum(data.get(name, 0), by, name)
            for name, item in changes.append.items():
                results[name] = data[name] = [*_list(data.get(name, []), name), item]
            data.update(changes.set)
            for name in changes.unset:
                data.pop(name, None)
            row.data = _compact_json(data)
        fields = changes.fields
        if "user" in fields:
            self._unindex(key, row)
            row.user = fields["user"]
            self._index(key, row)
        if "expires" in fields and fields["expires"] < row.expires:  # sooner than its heap entry says
            heapq.heappush(self._expiry_heap, (fields["expires"], key))
        for name in ("remember", "last_seen", "expires"):
            if name in fields:
                setattr(row, name, fields[name])
        return results

    async def delete(self, key: str) -> None:
        if key in self._rows:
            self._remove(key)

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        self.sweep(now)
        return {key: self._rows[key].record() for key in self._by_user.get(user, ())}

    async def delete_by_user(self, user: str, keep: str | None = None) -> int:
        doomed = [key for key in self._by_user.get(user, ()) if key != keep]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def sweep(self, now: float) -> int:
        """Delete expired records; returns how many went."""
        removed = 0
        while self._expiry_heap and self._expiry_heap[0][0] <= now:
            _, key = heapq.heappop(self._expiry_heap)
            row = self._rows.get(key)
            if row is None:
                continue
            if row.expires <= now:
                self._remove(key)
                removed += 1
            else:
                heapq.heappush(self._expiry_heap, (row.expires, key))
        return removed

    def _index(self, key: str, row: _Row) -> None:
        if row.user is None:
            self._anonymous[key] = None
        else:
            self._by_user.setdefault(row.user, set()).add(key)

    def _unindex(self, key: str, row: _Row) -> None:
        if row.user is None:
            self._anonymous.pop(key, None)
            return
        keys = self._by_user[row.user]
        keys.discard(key)
        if not keys:
            del self._by_user[row.user]

    def _remove(self, key: str) -> None:
        self._unindex(key, self._rows.pop(key))
        # Deleted records leave their heap entries behind; rebuild the heap
        # when those outnumber the live ones, so it follows the live records.
        if len(self._expiry_heap) > 2 * len(self._rows) + 64:
            self._expiry_heap = [(row.expires, key) for key, row in self._rows.items()]
            heapq.heapify(self._expiry_heap)


def _number(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"session[{name!r}] is {type(value).__name__}, not a number: cannot increment it")
    return value


def _sum(value: Any, by: int | float, name: str) -> int | float:
    total = _number(value, name) + by
    if isinstance(total, int) and not -(2**63) <= total < 2**63:
        raise ValueError(f"session[{name!r}] + {by} would pass 64 bits, which MongoDB and Redis cannot store")
    return total


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"session[{name!r}] is {type(value).__name__}, not a list: cannot append to it")
    return value
