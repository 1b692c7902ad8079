"""What every session store provides: a small async interface over records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time.

    Handlers turn this into a 503 page; it must never look like a logout.
    """


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


class SessionStore(Protocol):
    """Records are keyed by a digest of the session ID, never the ID itself."""

    async def load(self, key: str, now: float) -> SessionRecord | None:
        """The record, or None when it is missing, expired or unreadable."""

    async def create(self, key: str, record: SessionRecord) -> bool:
        """Insert a new record; False if the key is already taken."""

    async def update(
        self,
        key: str,
        set_data: Mapping[str, Any],
        unset_data: Iterable[str],
        fields: Mapping[str, Any],
    ) -> bool:
        """Apply only what changed: data keys to set or remove, and record
        fields (user, last_seen, expires, remember). Never creates a record,
        so a session deleted meanwhile (logout) stays deleted; returns False
        then."""

    async def delete(self, key: str) -> None: ...

    async def find_by_user(self, user: str, now: float) -> dict[str, SessionRecord]:
        """Live sessions of one user, by key."""

    async def login_failures(self, account: str) -> tuple[int, float]:
        """Consecutive failed logins for an account and the time of the last."""

    async def add_login_failure(self, account: str, now: float) -> tuple[int, float]:
        """Count one more failure; returns the new count and time."""

    async def clear_login_failures(self, account: str) -> None: ...
