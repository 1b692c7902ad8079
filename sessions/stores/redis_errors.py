"""Redis's errors sorted by their kind, for RedisStore.

What ends when the server, the cluster or an operator acts is
StoreUnavailable (the site answers 503 with Retry-After); what retrying will
not cure is StoreMisconfigured. Where an operator must act, the advice is
logged once per thing to fix, never once per request.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from redis import exceptions as errors

from .base import StoreMisconfigured, StoreUnavailable

log = logging.getLogger("sessions")

TRANSIENT = (
    errors.ConnectionError,  # refused, reset, LOADING, a full pool
    errors.TimeoutError,
    errors.ClusterError,  # CLUSTERDOWN, MASTERDOWN
    errors.TryAgainError,  # a slot being migrated
    errors.AskError,  # MOVED or ASK past the cluster client's retries
    errors.RedisClusterException,  # a slot with no master, no node reachable
    errors.OutOfMemoryError,
    errors.ReadOnlyError,
)
_TRANSIENT_CODES = ("MISCONF", "NOREPLICAS")
_TYPE_ERRORS = {"NOTANUMBER": "not a number: cannot increment it", "NOTALIST": "not a list: cannot append to it"}
_ADVICE = {
    "AuthenticationError": "check the user and password in the Redis URL (redis://user:password@host:port/db)",
    "AuthenticationWrongNumberOfArgsError": "check the user and password in the Redis URL",
    "NoPermissionError": "the Redis user needs read, write and scripting commands on the store's keys",
    "DB": "the database number in the Redis URL is beyond the server's 'databases' setting (16 by default)",
    "WRONGTYPE": "another program keeps keys under this prefix: give the store another prefix or database",
    "OutOfMemoryError": "Redis reached maxmemory: raise it, or use maxmemory-policy volatile-ttl",
    "ReadOnlyError": "Redis answered as a read-only replica: point the URL at the primary, or use Sentinel",
    "MISCONF": "Redis cannot write its snapshot to disk and refuses writes: see the Redis log",
    "NOREPLICAS": "the master has fewer good replicas than min-replicas-to-write: see INFO replication",
    "WAIT": "fewer replicas than wait_replicas acknowledged a write: see the replicas' links (INFO replication)",
}


class RedisErrors:
    def __init__(self) -> None:
        self._reported: set[str] = set()

    def raise_sorted(self, error: Exception) -> NoReturn:
        """Raise what `error` means for the caller; call it in an except block."""
        if isinstance(error, errors.AuthenticationError | errors.AuthorizationError):
            raise self._misconfigured(error) from error
        code, _, field = str(error).partition(" ")
        if isinstance(error, TRANSIENT) or code in _TRANSIENT_CODES:
            self._advise(code if code in _TRANSIENT_CODES else type(error).__name__, error, logging.WARNING)
            raise StoreUnavailable(f"Redis: {type(error).__name__}: {error}") from error
        name = field.removeprefix("data.")
        if code in _TYPE_ERRORS:
            raise TypeError(f"session[{name!r}] is {_TYPE_ERRORS[code]}") from None
        if code == "OVERFLOW":
            raise ValueError(f"session[{name!r}] would pass 64 bits") from None
        raise self._misconfigured(error) from error

    def check_confirmed(self, replicas: int | Exception, wanted: int) -> None:
        """WAIT's answer: how many replicas hold the connection's writes."""
        if isinstance(replicas, Exception):
            raise replicas
        if replicas < wanted:
            self._advise("WAIT", errors.RedisError(f"{replicas} of {wanted}"), logging.WARNING)
            raise StoreUnavailable(f"Redis: {replicas} of {wanted} replicas confirmed the write")

    def _advise(self, kind: str, error: Exception, level: int) -> str:
        advice = _ADVICE.get(kind) or _ADVICE.get(str(error).split(" ", 1)[0])
        message = f"Redis: {type(error).__name__}: {error}; {advice or 'retrying will not help; see the cause'}"
        # A missing permission fails each command with its own message: one line for it.
        if (level == logging.ERROR or advice) and (advice or message) not in self._reported:
            self._reported.add(advice or message)
            log.log(level, "Session store: %s", message)
        return message

    def _misconfigured(self, error: Exception) -> StoreMisconfigured:
        return StoreMisconfigured(self._advise(type(error).__name__, error, logging.ERROR))
