"""RedisStore: sessions in Redis, shared by every process of the site.

It takes a ``redis.asyncio.Redis`` client. One hash per session, under the
store key (a digest of the session ID, never the ID), one field per value:

    {prefix}session:{key}  hash   user, client, remember (1/0), created, last_seen,
                                  expires (seconds), data.{name} (JSON text) per session value
    {prefix}user:{user}    zset   the user's session keys, scored by expiry (ms)

Redis deletes a session at its ``expires`` (PEXPIREAT), and a user's set when
the last of its sessions has expired; reads still check ``expires``.
Every write is one Lua script, so it is atomic and one round trip: an update
of a missing key changes nothing (a logout stays a logout), and a failed
check (increment of a string) comes before any write, since Redis does not
roll a script back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from redis import exceptions as errors

from . import redis_scripts as scripts
from .base import Changes, SessionRecord, StoreMisconfigured, StoreUnavailable, exact

log = logging.getLogger("sessions")
T = TypeVar("T")
_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_TYPE_ERRORS = {"NOTANUMBER": "not a number: cannot increment it", "NOTALIST": "not a list: cannot append to it"}
_ADVICE = {
    "AuthenticationError": "check the user and password in the Redis URL (redis://user:password@host:port/db)",
    "AuthenticationWrongNumberOfArgsError": "check the user and password in the Redis URL",
    "NoPermissionError": "the Redis user needs read, write and scripting commands on the store's keys",
    "DB": "the database number in the Redis URL is beyond the server's 'databases' setting (16 by default)",
    "WRONGTYPE": "another program keeps keys under this prefix: give the store another prefix or database",
    "OutOfMemoryError": "Redis reached maxmemory: raise it, or use maxmemory-policy volatile-ttl",
    "ReadOnlyError": "the Redis URL names a read-only replica: point it at the primary",
    "MISCONF": "Redis cannot write its snapshot to disk and refuses writes: see the Redis log",
}


class RedisStore:
    def __init__(self, client: Any, prefix: str = "tornado_sessions:", timeout: float = 5.0) -> None:
        """`timeout` bounds each call, in seconds, whatever the client's own timeouts."""
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self._reported: set[str] = set()
        self._create = client.register_script(scripts.INDEX + scripts.CREATE)
        self._update = client.register_script(scripts.INDEX + scripts.UPDATE)
        self._delete = client.register_script(scripts.INDEX + scripts.DELETE)
        self._find = client.register_script(scripts.FIND)
        self._delete_by_user = client.register_script(scripts.DELETE_BY_USER)

    async def call(self, operation: Awaitable[T]) -> T:
        """The operation's result, or StoreUnavailable within `timeout`, or
        StoreMisconfigured for an error that trying again will not cure."""
        try:
            async with asyncio.timeout(self.timeout):
                return await operation
        except TimeoutError:
            raise StoreUnavailable(f"Redis: no answer within {self.timeout:g} s") from None
        except (errors.AuthenticationError, errors.AuthorizationError) as e:
            raise self._misconfigured(e) from e
        except (errors.ConnectionError, errors.TimeoutError, errors.TryAgainError, errors.ClusterDownError) as e:
            raise StoreUnavailable(f"Redis: {type(e).__name__}: {e}") from e
        except errors.ResponseError as e:
            code, _, field = str(e).partition(" ")
            if code in _TYPE_ERRORS:
                raise TypeError(f"session[{field.removeprefix('data.')!r}] is {_TYPE_ERRORS[code]}") from None
            if code == "OVERFLOW":
                raise ValueError(f"session[{field.removeprefix('data.')!r}] would pass 64 bits") from None
            raise self._misconfigured(e) from e
        except errors.RedisError as e:
            raise self._misconfigured(e) from e

    def _misconfigured(self, error: errors.RedisError) -> StoreMisconfigured:
        advice = _ADVICE.get(type(error).__name__) or _ADVICE.get(str(error).split(" ", 1)[0])
        message = f"Redis: {type(error).__name__}: {error}; {advice or 'retrying will not help; see the cause'}"
        # Once per thing to fix: a missing permission fails each command with its own message.
        if (advice or message) not in self._reported:
            self._reported.add(advice or message)
            log.error("Session store: %s", message)
        return StoreMisconfigured(message)

    def _session(self, key: str) -> str:
        return f"{self.prefix}session:{exact(key)}"

    def _index(self, user: str) -> str:
        return f"{self.prefix}user:{exact(user)}"

    async def load(self, key: str, now: float) -> SessionRecord | None:
        record = _record(await self.call(self.client.hgetall(self._session(key))))
        return record if record is not None and record.expires > now else None

    async def create(self, key: str, record: SessionRecord) -> bool:
        fields = {"created": record.created, "client": record.client, "remember": record.remember}
        fields.update(user=record.user, last_seen=record.last_seen, expires=record.expires)
        texts = [_field(name, value) for name, value in fields.items() if value is not None]
        texts += [(f"data.{name}", _json(value)) for name, value in record.data.items()]
        args = [self.prefix, key, _ms(record.expires), *(text for pair in texts for text in pair)]
        return bool(await self.call(self._create(keys=[self._session(key)], args=args)))

    async def update(self, key: str, changes: Changes) -> dict[str, Any] | None:
        to_set = [(f"data.{name}", _json(value)) for name, value in changes.set.items()]
        to_set += [_field(name, value) for name, value in changes.fields.items() if value is not None]
        to_delete = [f"data.{name}" for name in changes.unset] + [n for n, v in changes.fields.items() if v is None]
        increments = [(f"data.{name}", _json(by)) for name, by in changes.increment.items()]
        appends = [(f"data.{name}", _json(item)) for name, item in changes.append.items()]
        expires = _ms(changes.fields["expires"]) if "expires" in changes.fields else ""
        args: list[Any] = [self.prefix, key, expires]
        for items in (to_set, [(name,) for name in to_delete], increments, appends):
            args += [len(items), *(text for item in items for text in item)]
        values = await self.call(self._update(keys=[self._session(key)], args=args))
        if values is None:
            return None
        return {_text(name).removeprefix("data."): json.loads(value) for name, value in _pairs(values)}

    async def delete(self, key: str) -> None:
        await self.call(self._delete(keys=[self._session(key)], args=[self.prefix, key]))

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        found = await self.call(self._find(keys=[self._index(user)], args=[self.prefix]))
        records = {_text(key): _record(dict(_pairs(fields))) for key, fields in _pairs(found)}
        return {key: r for key, r in records.items() if r is not None and r.user == user and r.expires > now}

    async def delete_by_user(self, user: str, keep: str | None = None) -> int:
        keep = "" if keep is None else exact(keep)
        return await self.call(self._delete_by_user(keys=[self._index(user)], args=[self.prefix, keep]))


def _ms(seconds: float) -> int:
    # Redis keeps a key through its expiry's millisecond; never delete it sooner.
    return math.ceil(seconds * 1000)


def _field(name: str, value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return name, "1" if value else "0"
    return name, repr(float(value)) if name in ("created", "last_seen", "expires") else value


def _pairs(items: list[Any]) -> zip:
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
        times = [float(text[name]) for name in ("created", "last_seen", "expires")]
        remember = {"1": True, "0": False}[text["remember"]]
    except (KeyError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not all(map(math.isfinite, times)):
        return None
    return SessionRecord(data, text.get("user"), *times, client=text.get("client", ""), remember=remember)
