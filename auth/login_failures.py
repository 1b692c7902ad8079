"""Where the login throttle keeps its counts: failed logins in a row per
account, and the time of the last. Memory for one process; MongoDB or
Redis so that every process and server shares them. Skip on a first read.

Accounts are named by a digest (throttle.account_key), never the username.
An account's count is forgotten FORGET_AFTER its last failure: the counting
window, longer than the longest lock (throttle.LONGEST_WAIT), so an entry
lasts as long as its lock or its window, whichever ends later.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from sessions import exact

FORGET_AFTER = 3600
log = logging.getLogger("app")


class LoginFailures(Protocol):
    async def get(self, account: str) -> tuple[int, float]:
        """Failures in a row and the time of the last; (0, 0.0) if none."""

    async def add(self, account: str, now: float, below: int | None = None) -> tuple[int, float] | None:
        """Count one more failure, atomically, if fewer than ``below`` are
        counted; returns the new count and time, or None if not counted."""

    async def clear(self, account: str) -> None: ...


class MemoryLoginFailures:
    """At most ``max_accounts`` accounts. A flood of failed logins under
    made-up usernames must neither wash out the count of an account under
    attack nor fill the table against everyone else. When it is full, a new
    account takes the place of the entry whose loss gives an attacker the
    fewest guesses back: one below the lock with the fewest failures (the
    oldest among those), else one whose lock has ended (the earliest). An
    account locked now keeps its entry until its lock ends. If every entry
    is locked now, the new account's failure is counted only in a coarse
    total, ``overflow``: it never locks anyone, so the right password of an
    account outside the table still works (guesses at such an account are
    then slowed by the hashing queue alone, see accounts.py).

    ``seconds_to_wait(count)`` is the throttle's rule: above 0, locked."""

    def __init__(self, seconds_to_wait: Callable[[int], float], max_accounts: int = 100_000) -> None:
        self.seconds_to_wait = seconds_to_wait
        self.max_accounts = max_accounts
        self.overflow = 0  # failures not counted per account, the table being full of locks
        self._full = False
        # Every account, least recently failed first: forgetting starts here.
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        # The accounts below the lock, by count, oldest first: shed first.
        self._unlocked: dict[int, OrderedDict[str, None]] = {}
        # (lock ends, account, count, last) of locked accounts; stale ones are skipped.
        self._locks: list[tuple[float, str, int, float]] = []

    def __len__(self) -> int:
        return len(self._counts)

    async def get(self, account: str) -> tuple[int, float]:
        return self._counts.get(account, (0, 0.0))

    async def add(self, account: str, now: float, below: int | None = None) -> tuple[int, float] | None:
        self._forget(now)
        count, _ = self._counts.get(account, (0, 0.0))
        if below is not None and count >= below:
            return None
        if not count and len(self._counts) >= self.max_accounts:
            if not self._make_room(now):
                self._count_in_total()
                return 1, now
            self._full = False
        self._drop(account)
        self._counts[account] = (count + 1, now)
        wait = self.seconds_to_wait(count + 1)
        if wait > 0:
            heapq.heappush(self._locks, (now + wait, account, count + 1, now))
        else:
            self._unlocked.setdefault(count + 1, OrderedDict())[account] = None
        if len(self._locks) > 2 * len(self._counts) + 64:  # stale lock entries: start the heap again
            self._locks = [lock for lock in self._locks if self._current(lock)]
            heapq.heapify(self._locks)
        return count + 1, now

    async def clear(self, account: str) -> None:
        self._drop(account)

    def _drop(self, account: str) -> None:
        count, _ = self._counts.pop(account, (0, 0.0))
        bucket = self._unlocked.get(count)
        if bucket is not None and account in bucket:
            del bucket[account]
            if not bucket:
                del self._unlocked[count]

    def _current(self, lock: tuple[float, str, int, float]) -> bool:
        _, account, count, last = lock
        return self._counts.get(account) == (count, last)

    def _make_room(self, now: float) -> bool:
        if self._unlocked:
            accounts = self._unlocked[min(self._unlocked)]
            self._drop(next(iter(accounts)))
            return True
        while self._locks and self._locks[0][0] <= now:
            lock = heapq.heappop(self._locks)
            if self._current(lock):
                self._drop(lock[1])
                return True
        return False

    def _count_in_total(self) -> None:
        if not self._full:  # said once each time it fills
            self._full = True
            log.warning(
                "The login-failure table is full of %d locked accounts: failures of other accounts are counted "
                "only in total until locks end. Raise --login-failure-table if this happens without an attack",
                self.max_accounts,
            )
        self.overflow += 1

    def _forget(self, now: float) -> None:
        while self._counts:
            account, (_, last) = next(iter(self._counts.items()))
            if now - last <= FORGET_AFTER:
                return
            self._drop(account)


# The stores' connection, prefix and call() are public (docs/api.md, "Sharing
# a store's connection"): call() bounds each operation by the store's timeout
# and turns driver errors into StoreUnavailable or StoreMisconfigured.


class MongoLoginFailures:
    """One small document per account, ``{_id, count, last, expires}``; a TTL
    index forgets it at ``expires``, FORGET_AFTER the last failure."""

    def __init__(self, store: Any, collection: Any = None) -> None:
        """By default, beside a MongoStore's collection: ``{its name}_login_failures``."""
        self.store = store
        if collection is None:
            collection = store.collection.database[f"{store.collection.name}_login_failures"]
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.store.call(self.collection.create_index("expires", expireAfterSeconds=0))

    async def get(self, account: str) -> tuple[int, float]:
        return _counted(await self.store.call(self.collection.find_one({"_id": exact(account)})))

    async def add(self, account: str, now: float, below: int | None = None) -> tuple[int, float] | None:
        # A first failure is an insert: one round trip for most logins. Then
        # one atomic $inc, only while the count is below the ceiling, so that
        # failures counted by several processes at once all count, up to it.
        # Not an upsert: it tells a document at the ceiling by a duplicate
        # key error, which not every server raises (nx-27017 does not).
        key, times = exact(account), {"last": _date(now), "expires": _date(now + FORGET_AFTER)}
        below_ceiling = {} if below is None else {"count": {"$lt": below}}
        for _ in range(3):  # made, ended or found unreadable meanwhile: again
            try:
                await self.store.call(self.collection.insert_one({"_id": key, "count": 1, **times}))
                return 1, now
            except DuplicateKeyError:
                pass
            try:
                before = await self.store.call(
                    self.collection.find_one_and_update(
                        {"_id": key, **below_ceiling}, {"$inc": {"count": 1}, "$set": times}
                    )
                )
            except TypeError:  # $inc refused: the count there is not a number
                before = {}
            count, _ = await self.get(key) if before is None else _counted(before)
            if before is not None and count:
                return count + 1, now  # the document as it was tells this failure's number
            if below is not None and count >= below:
                return None
            if not count:
                await self.clear(key)  # unreadable: start again
        return None

    async def clear(self, account: str) -> None:
        await self.store.call(self.collection.delete_one({"_id": exact(account)}))


def _date(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _counted(document: Any) -> tuple[int, float]:
    """An unreadable document counts as no failures, as an unreadable
    session counts as no session: never a 500 on every login."""
    try:
        count, last = document["count"], document["last"]
        # A client made without tz_aware=True returns naive datetimes, in UTC.
        last = (last if last.tzinfo else last.replace(tzinfo=UTC)).timestamp()
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return 0, 0.0
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return 0, 0.0
    return count, last


class RedisLoginFailures:
    """One small hash per account, ``{count, last}``, under the session
    store's prefix; Redis forgets it FORGET_AFTER the last failure, by its
    own clock (the throttle checks the time of the last failure itself).
    Each command and the script touch one key, so it works on a Redis
    Cluster as on one server."""

    # One step on the server: failures counted by several processes at once
    # all count, up to the ceiling ARGV[3] ('' for none). An unreadable hash
    # counts as none, as get() reads it.
    _ADD = """
    local count, last = unpack(redis.call('HMGET', KEYS[1], 'count', 'last'))
    if not (count and string.find(count, '^[1-9]%d*$') and tonumber(last)) then count = 0 end
    if ARGV[3] ~= '' and tonumber(count) >= tonumber(ARGV[3]) then return false end
    count = tonumber(count) + 1
    redis.call('HSET', KEYS[1], 'count', count, 'last', ARGV[1])
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    return count
    """

    def __init__(self, store: Any) -> None:
        self.store = store  # a RedisStore: the counts share its client
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

    async def add(self, account: str, now: float, below: int | None = None) -> tuple[int, float] | None:
        ceiling = "" if below is None else str(int(below))
        count = await self.store.call(
            self._add(keys=[self.key(account)], args=[repr(float(now)), FORGET_AFTER, ceiling])
        )
        return None if count is None else (count, now)

    async def clear(self, account: str) -> None:
        await self.store.call(self.store.client.delete(self.key(account)))
