"""Where the login throttle keeps its counts: failed logins in a row per
account, and the time of the last. Memory for one process; MongoDB or
Redis so that every process and server shares them. Skip on a first read.

Accounts are named by a digest (throttle.account_key), never the username.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Protocol

from pymongo import ReturnDocument

from sessions import StoreUnavailable
from sessions.stores.base import exact
from sessions.stores.mongo import from_date, to_date

FORGET_AFTER = 24 * 3600


class LoginFailures(Protocol):
    async def get(self, account: str) -> tuple[int, float]:
        """Failures in a row and the time of the last; (0, 0.0) if none."""

    async def add(self, account: str, now: float) -> tuple[int, float]:
        """Count one more failure, atomically; returns the new count and time."""

    async def clear(self, account: str) -> None: ...


class TooManyAccounts(StoreUnavailable):
    """The memory table is full of locked accounts: no room to count a new one."""


class MemoryLoginFailures:
    """Bounded: at most ``max_accounts`` accounts. A flood of failures under
    made-up usernames must not wash out the count of an account under
    attack, so when the table is full the entry dropped is the one with the
    fewest failures (the oldest among those), and an account at ``keep_from``
    failures or more (locked) is never dropped to make room: it is forgotten
    only FORGET_AFTER its last failure. When every entry is locked, a new
    account cannot be counted and add() raises TooManyAccounts."""

    def __init__(self, keep_from: int, max_accounts: int = 100_000) -> None:
        self.keep_from = keep_from
        self.max_accounts = max_accounts
        # Every account, least recently failed first: forgetting starts here.
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        # The droppable accounts (below keep_from), by count, oldest first.
        self._droppable: dict[int, OrderedDict[str, None]] = {n: OrderedDict() for n in range(1, keep_from)}

    def __len__(self) -> int:
        return len(self._counts)

    async def get(self, account: str) -> tuple[int, float]:
        return self._counts.get(account, (0, 0.0))

    async def add(self, account: str, now: float) -> tuple[int, float]:
        self._forget(now)
        count, _ = self._counts.get(account, (0, 0.0))
        if not count and len(self._counts) >= self.max_accounts:
            self._make_room()
        self._drop(account, count)
        self._counts[account] = (count + 1, now)
        self._counts.move_to_end(account)
        if count + 1 < self.keep_from:
            self._droppable[count + 1][account] = None
        return count + 1, now

    async def clear(self, account: str) -> None:
        count, _ = self._counts.get(account, (0, 0.0))
        self._drop(account, count)

    def _drop(self, account: str, count: int) -> None:
        if count:
            del self._counts[account]
        if 0 < count < self.keep_from:
            del self._droppable[count][account]

    def _make_room(self) -> None:
        for count, accounts in self._droppable.items():
            if accounts:
                self._drop(next(iter(accounts)), count)
                return
        raise TooManyAccounts(f"{self.max_accounts} accounts locked after failed logins")

    def _forget(self, now: float) -> None:
        while self._counts:
            account, (count, last) = next(iter(self._counts.items()))
            if now - last <= FORGET_AFTER:
                return
            self._drop(account, count)


class MongoLoginFailures:
    """One small document per account, ``{_id, count, last}``; a TTL index
    forgets it a day after the last failure."""

    def __init__(self, store: Any, collection: Any) -> None:
        self.store = store  # a MongoStore: its call() bounds time and sorts errors
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.store.call(self.collection.create_index("last", expireAfterSeconds=FORGET_AFTER))

    async def get(self, account: str) -> tuple[int, float]:
        return _counted(await self.store.call(self.collection.find_one({"_id": exact(account)})))

    async def add(self, account: str, now: float) -> tuple[int, float]:
        # One atomic $inc: failures counted by several processes at once all
        # count. The document as it was tells this failure's number.
        def counting() -> Any:
            return self.collection.find_one_and_update(
                {"_id": exact(account)},
                {"$inc": {"count": 1}, "$set": {"last": to_date(now)}},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )

        try:
            before = await self.store.call(counting())
        except TypeError:  # $inc refused: the count there is not a number
            before = {}
        if before is not None and _counted(before) == (0, 0.0):  # unreadable: start again
            await self.clear(account)
            before = await self.store.call(counting())
        return _counted(before)[0] + 1, now

    async def clear(self, account: str) -> None:
        await self.store.call(self.collection.delete_one({"_id": exact(account)}))


def _counted(document: Any) -> tuple[int, float]:
    """An unreadable document counts as no failures, as an unreadable
    session counts as no session: never a 500 on every login."""
    try:
        count, last = document["count"], from_date(document["last"])
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return 0, 0.0
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return 0, 0.0
    return count, last


class RedisLoginFailures:
    """One small hash per account, ``{count, last}``, under the session
    store's prefix; Redis forgets it FORGET_AFTER the last failure, by its
    own clock (the throttle checks the time of the last failure itself)."""

    # One step on the server: failures counted by several processes at once
    # all count. An unreadable hash counts as none, as get() reads it.
    _ADD = """
    local count, last = unpack(redis.call('HMGET', KEYS[1], 'count', 'last'))
    if not (count and string.find(count, '^[1-9]%d*$') and tonumber(last)) then count = 0 end
    count = tonumber(count) + 1
    redis.call('HSET', KEYS[1], 'count', count, 'last', ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    return count
    """

    def __init__(self, store: Any) -> None:
        self.store = store  # a RedisStore: its call() bounds time and sorts errors
        self._add = store.client.register_script(self._ADD)

    def key(self, account: str) -> str:
        return self.store.prefix + exact(account)

    async def get(self, account: str) -> tuple[int, float]:
        count, last = await self.store.call(self.store.client.hmget(self.key(account), "count", "last"))
        try:
            count, last = int(count), float(last)
        except (TypeError, ValueError):
            return 0, 0.0
        return (count, last) if count >= 1 and math.isfinite(last) else (0, 0.0)

    async def add(self, account: str, now: float) -> tuple[int, float]:
        count = await self.store.call(self._add(keys=[self.key(account)], args=[repr(float(now)), FORGET_AFTER]))
        return count, now

    async def clear(self, account: str) -> None:
        await self.store.call(self.store.client.delete(self.key(account)))
