"""MemoryStore: sessions in this process's memory, the embedded default.

Good for one process and for development. Everything is lost on restart, and
several processes cannot share it (use MongoStore for that).
"""

from __future__ import annotations

import heapq
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from .base import SessionRecord

# One encoder for every call: json.dumps() with options builds a new one each time.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


class MemoryStore:
    def __init__(self, max_entries: int = 100_000, max_accounts: int = 100_000) -> None:
        self.max_entries = max_entries
        self.max_accounts = max_accounts
        # key -> [data as JSON text, user, created, last_seen, expires, client, remember]
        # Lists and JSON text keep 100 000 sessions small, and callers never
        # share a mutable object with the store.
        self._records: OrderedDict[str, list[Any]] = OrderedDict()
        # One (time to check, key) entry per record, soonest first. A record
        # whose expiry moved on is pushed back when its entry comes up, so a
        # sweep costs time in proportion to what is due, not to the store's size.
        self._expiry_heap: list[tuple[float, str]] = []
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    async def load(self, key: str, now: float) -> SessionRecord | None:
        self.sweep(now)
        row = self._records.get(key)
        if row is None or row[4] <= now:
            return None
        self._records.move_to_end(key)
        return SessionRecord(json.loads(row[0]), *row[1:])

    async def create(self, key: str, record: SessionRecord) -> bool:
        if key in self._records:
            return False
        self._records[key] = [
            _compact_json(record.data),
            record.user,
            record.created,
            record.last_seen,
            record.expires,
            record.client,
            record.remember,
        ]
        heapq.heappush(self._expiry_heap, (record.expires, key))
        while len(self._records) > self.max_entries:
            self._records.popitem(last=False)
        return True

    async def update(
        self,
        key: str,
        set_data: Mapping[str, Any],
        unset_data: Iterable[str],
        fields: Mapping[str, Any],
    ) -> bool:
        row = self._records.get(key)
        if row is None:
            return False
        if set_data or unset_data:
            data = json.loads(row[0])
            data.update(set_data)
            for name in unset_data:
                data.pop(name, None)
            row[0] = _compact_json(data)
        for name, value in fields.items():
            row[_FIELD_INDEX[name]] = value
        self._records.move_to_end(key)
        return True

    async def delete(self, key: str) -> None:
        self._records.pop(key, None)

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        # A scan: fine for a development store; MongoStore uses an index.
        return {
            key: SessionRecord(json.loads(row[0]), *row[1:])
            for key, row in self._records.items()
            if row[1] == user and row[4] > now
        }

    def sweep(self, now: float) -> int:
        """Delete expired records; returns how many went."""
        removed = 0
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            row = self._records.get(key)
            if row is None:
                continue
            if row[4] <= now:
                del self._records[key]
                removed += 1
            else:
                heapq.heappush(heap, (row[4], key))
        return removed

    async def login_failures(self, account: str) -> tuple[int, float]:
        return self._failures.get(account, (0, 0.0))

    async def add_login_failure(self, account: str, now: float) -> tuple[int, float]:
        count, _ = self._failures.pop(account, (0, 0.0))
        self._failures[account] = (count + 1, now)
        while len(self._failures) > self.max_accounts:
            self._failures.popitem(last=False)
        return count + 1, now

    async def clear_login_failures(self, account: str) -> None:
        self._failures.pop(account, None)


_FIELD_INDEX = {"user": 1, "created": 2, "last_seen": 3, "expires": 4, "client": 5, "remember": 6}
