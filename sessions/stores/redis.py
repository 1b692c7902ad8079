"""RedisStore: sessions in Redis, shared by every process of the site.

It takes a ``redis.asyncio.Redis`` client (one server, or Sentinel's
``master_for``) or a ``redis.asyncio.cluster.RedisCluster``. One hash per
session, under the store key (a digest of the session ID, never the ID):

    {prefix}session:{key}  hash   user, client, remember (1/0), created, last_seen, expires (seconds),
                                  listed (ms), data.{name} (JSON text) per session value
    {prefix}user:{user}    zset   the user's session keys, scored by the time (ms) each is listed until

Every call touches one key at a time, so each session, and each user's
index, may sit on any master of a cluster. The index is kept in step by
separate calls, ordered so that a failure between two leaves only an entry
too many (dropped when read, or when its time passes), never a live
session missing from it: "sign out everywhere" must find every one.
A session is listed until ``listed``, some minutes past its expiry, so that
most updates need not touch the index at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

from redis import exceptions as errors

from .base import Changes, SessionRecord, StoreUnavailable, exact
from .redis_errors import RedisErrors
from .redis_scripts import CREATE, DELETE, INDEX, LISTED, UPDATE, Lua

T = TypeVar("T")
_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
LISTED_AHEAD_MS = 10 * 60 * 1000


class RedisStore:
    def __init__(
        self,
        client: Any,
        prefix: str = "tornado_sessions:",
        timeout: float = 5.0,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
    ) -> None:
        """`timeout` bounds each call, in seconds, whatever the client's own timeouts.
        With `wait_replicas`, each session write is confirmed only once that many
        replicas hold it (Redis's WAIT, up to `wait_timeout`), or it is StoreUnavailable."""
        if "{" in prefix or "}" in prefix:
            raise ValueError("a Redis Cluster would put every key with a {hash tag} in its prefix on one master")
        if wait_replicas and hasattr(client, "get_node_from_key"):
            raise ValueError("wait_replicas needs a Redis client (one server or Sentinel), not a RedisCluster")
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.wait = (wait_replicas, math.ceil(wait_timeout * 1000))
        self.errors = RedisErrors()

    async def call(self, operation: Awaitable[T]) -> T:
        """The operation's result, or StoreUnavailable within `timeout`, or
        StoreMisconfigured for an error that trying again will not cure."""
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except TimeoutError:
            raise StoreUnavailable(f"Redis: no answer within {self.timeout:g} s") from None
        except (errors.RedisError, errors.RedisClusterException) as e:
            self.errors.raise_sorted(e)

    def _session(self, key: str) -> str:
        return f"{self.prefix}session:{exact(key)}"

    def _index(self, user: str) -> str:
        return f"{self.prefix}user:{exact(user)}"

    async def _run(self, script: Lua, key: str, *args: Any, wait: bool = False) -> Any:
        """EVALSHA on one key; with `wait`, confirmed by WAIT on the same connection."""
        if wait and self.wait[0]:
            return (await self._run_each(script, [key], *args))[0]
        try:
            return await self.client.execute_command("EVALSHA", script.sha, 1, key, *args)
        except errors.NoScriptError:  # a server that has not got it yet: nothing ran
            await self.client.script_load(script.text)
            return await self.client.execute_command("EVALSHA", script.sha, 1, key, *args)

    async def _run_each(self, script: Lua, keys: list[str], *args: Any) -> list[Any]:
        """The script on each key, in one pipeline (a round trip per node), then WAIT if asked."""
        results: list[Any] = [None] * len(keys)
        todo = list(range(len(keys)))
        for attempt in range(2):
            pipeline = self.client.pipeline(transaction=False)
            for j in todo:
                pipeline.execute_command("EVALSHA", script.sha, 1, keys[j], *args)
            if self.wait[0]:
                pipeline.execute_command("WAIT", *self.wait)
            replies = await pipeline.execute(raise_on_error=False)
            if self.wait[0]:
                self.errors.check_confirmed(replies.pop(), self.wait[0])
            for j, result in zip(todo, replies, strict=True):
                results[j] = result
            todo = [j for j in todo if isinstance(results[j], errors.NoScriptError)]
            if not todo or attempt:
                break
            await self.client.script_load(script.text)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _list(self, user: str, key: str, until_ms: int) -> None:
        await self._run(INDEX, self._index(user), key, until_ms)

    async def _unlist(self, user: bytes | str, keys: Iterable[str]) -> None:
        """Drop index entries after the fact; a failure only leaves entries too many."""
        with contextlib.suppress(errors.RedisError, errors.RedisClusterException):
            if keys := list(keys):
                await self.client.zrem(self._index(_text(user)), *keys)

    async def load(self, key: str, now: float) -> SessionRecord | None:
        record = _record(await self.call(self.client.hgetall(self._session(key))))
        return record if record is not None and record.expires > now else None

    async def create(self, key: str, record: SessionRecord) -> bool:
        return await self.call(self._create(key, record))

    async def _create(self, key: str, record: SessionRecord) -> bool:
        # The session first, then its entry: until the entry is written the
        # login has not answered, so no one holds the ID of an unlisted session.
        until = _ms(record.expires) + LISTED_AHEAD_MS
        fields = {"created": record.created, "client": record.client, "remember": record.remember}
        fields.update(user=record.user, last_seen=record.last_seen, expires=record.expires)
        texts = [_field(name, value) for name, value in fields.items() if value is not None]
        texts += [(f"data.{name}", _json(value)) for name, value in record.data.items()]
        if record.user is not None:
            texts.append(("listed", str(until)))
        args = (text for pair in texts for text in pair)
        outcome = await self._run(CREATE, self._session(key), _ms(record.expires), *args, wait=True)
        if outcome == 1 and record.user is not None:
            try:
                await self._list(record.user, key, until)
            except BaseException:  # a timeout too: the index call may still be on its way
                # A failed login leaves no session behind, if Redis lets us delete it.
                await self._undo_create(key)
                raise
        return bool(outcome != 0)

    async def _undo_create(self, key: str) -> None:
        # If this fails too, the session is unreachable anyway: the login answers 503, its ID goes to no one.
        with contextlib.suppress(errors.RedisError, errors.RedisClusterException, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self.client.delete(self._session(key))

    async def update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        return await self.call(self._update(key, changes))

    async def _update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        to_set = [(f"data.{name}", _json(value)) for name, value in changes.set.items()]
        to_set += [_field(name, value) for name, value in changes.fields.items() if value is not None]
        to_delete = [f"data.{name}" for name in changes.unset] + [n for n, v in changes.fields.items() if v is None]
        increments = [(f"data.{name}", _json(by)) for name, by in changes.increment.items()]
        appends = [(f"data.{name}", _json(item)) for name, item in changes.append.items()]
        expires = _ms(changes.fields["expires"]) if "expires" in changes.fields else ""
        lists: list[Any] = []
        for items in (to_set, [(name,) for name in to_delete], increments, appends):
            lists += [len(items), *(text for item in items for text in item)]
        session, listed = self._session(key), ("", "")
        for _ in range(3):  # again only if the user changes meanwhile
            reply = await self._run(UPDATE, session, expires, *listed, *lists, wait=True)
            if reply is None:  # gone, or ended now: an ordinary end, not an error
                return None
            status, who, *values = reply
            if _text(status) == "ok":
                await self._unlist(who, [key] if who else [])
                return {_text(name).removeprefix("data."): json.loads(value) for name, value in _pairs(values)}
            # Listed first, written after: a failure between leaves an entry too many.
            listed = (_text(who), str(int(values[0]) + LISTED_AHEAD_MS))
            await self._list(listed[0], key, int(listed[1]))
        raise StoreUnavailable("Redis: the session's user kept changing under the update")

    async def delete(self, key: str) -> None:
        await self.call(self._delete(key))

    async def _delete(self, key: str) -> None:
        _, user = await self._run(DELETE, self._session(key), "", wait=True)
        await self._unlist(user, [key] if user else [])

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        return await self.call(self._find_by_user(exact(user), now))

    async def _find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        # Entries listed past `now` only: the cost is the live sessions, not the history.
        keys = [_text(k) for k in await self.client.zrange(self._index(user), f"({_ms(now)}", "+inf", byscore=True)]
        pipeline = self.client.pipeline(transaction=False)
        for key in keys:
            pipeline.hgetall(self._session(key))
        found = dict(zip(keys, await pipeline.execute(), strict=True)) if keys else {}
        # A session that is gone never comes back (IDs are never reused): its entry can go.
        await self._unlist(user, [key for key, fields in found.items() if not fields])
        records = {key: _record(fields) for key, fields in found.items()}
        return {key: r for key, r in records.items() if r is not None and r.user == user and r.expires > now}

    async def delete_by_user(self, user: str, keep: str | None = None) -> int:
        return await self.call(self._delete_by_user(exact(user), "" if keep is None else exact(keep)))

    async def _delete_by_user(self, user: str, keep: str) -> int:
        keys = [k for k in map(_text, await self._run(LISTED, self._index(user))) if k != keep]
        outcomes = await self._run_each(DELETE, [self._session(key) for key in keys], user) if keys else []
        await self._unlist(
            user, [key for key, (deleted, owner) in zip(keys, outcomes, strict=True) if deleted or not owner]
        )
        return sum(deleted for deleted, _ in outcomes)


def _ms(seconds: float) -> int:
    # Redis keeps a key through its expiry's millisecond; never delete it sooner.
    return math.ceil(seconds * 1000)


def _field(name: str, value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return name, "1" if value else "0"
    return name, repr(float(value)) if name in ("created", "last_seen", "expires") else value


def _pairs(items: list[Any]) -> zip[tuple[Any, Any]]:
    return zip(items[::2], items[1::2], strict=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(fields: Mapping[Any, Any]) -> SessionRecord | None:
    """The record, or None when the hash is missing or not one we can read:
    an unreadable session is a missing session, never a 500."""
    if not fields:
        return None
    try:
        text = {_text(name): _text(value) for name, value in fields.items()}
        data = {name[5:]: json.loads(value) for name, value in text.items() if name.startswith("data.")}
        created, last_seen, expires = (float(text[name]) for name in ("created", "last_seen", "expires"))
        remember = {"1": True, "0": False}[text["remember"]]
    except (KeyError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not all(map(math.isfinite, (created, last_seen, expires))):
        return None
    return SessionRecord(data, text.get("user"), created, last_seen, expires, text.get("client", ""), remember)
