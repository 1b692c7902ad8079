"""The store's side of a session: the key it is filed under, and its record
read, created, and kept within the number of sessions one user may hold.

A store never sees a session ID, only its key, so a copy of the store
cannot be replayed as cookies.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from .config import SessionConfig
from .stores.base import SessionRecord, SessionStore, StoreError

log = logging.getLogger("sessions")

_CREATE_ATTEMPTS = 3


def store_key(session_id: str) -> str:
    """The SHA-256 digest of a session ID: the key a store files it under."""
    return hashlib.sha256(session_id.encode()).hexdigest()


async def load_record(store: SessionStore, config: SessionConfig, session_id: str) -> SessionRecord | None:
    """The live record for an ID, or None. Timeouts are checked against the
    configuration in force now, whatever the store thinks."""
    now = config.clock()
    record = await store.load(store_key(session_id), now)
    if record is None or config.expires(record.created, record.last_seen, record.remember) <= now:
        return None
    return record


async def create_record(
    store: SessionStore,
    config: SessionConfig,
    data: Mapping[str, Any],
    user: str | None,
    remember: bool,
    client: str,
    now: float,
) -> tuple[str, SessionRecord]:
    """Store a new record under a fresh ID; returns the ID and the record."""
    expires = config.expires(now, now, remember)
    record = SessionRecord(dict(data), user, now, now, expires, client, remember)
    for _ in range(_CREATE_ATTEMPTS):
        session_id = config.id_factory()
        if await store.create(store_key(session_id), record):
            return session_id, record
    raise RuntimeError("could not find a free session ID")


async def end_oldest_sessions(store: SessionStore, config: SessionConfig, user: str, keep: str) -> int:
    """After a login: end the oldest sessions of ``user`` beyond
    max_sessions_per_user, never the one under ``keep`` (the new login).
    Returns how many ended. The login itself is stored by then: a store
    failure here is logged and only postpones the trimming to the next login."""
    try:
        others = await store.find_by_user(user, config.clock())
        others.pop(keep, None)
        excess = len(others) + 1 - config.max_sessions_per_user
        oldest = sorted(others, key=lambda key: (others[key].created, key))[: max(excess, 0)]
        for key in oldest:
            await store.delete(key)
    except StoreError as e:
        log.warning("could not end the oldest sessions past max_sessions_per_user: %s", e)
        return 0
    return len(oldest)
