"""SessionConfig: every session setting in one place, with its default."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Literal


def new_session_id() -> str:
    """256 random bits, URL-safe: 43 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(32)


@dataclasses.dataclass(frozen=True)
class SessionConfig:
    """Every session setting, read afresh at each request: a change reaches
    existing sessions. Put it in the application settings as session_config."""

    cookie_name: str = "session"
    cookie_path: str = "/"
    cookie_domain: str | None = None
    same_site: Literal["Lax", "Strict", "None"] = "Lax"
    # "auto": Secure (and the __Host- name prefix) when the request came over
    # HTTPS, as Tornado sees it; run with xheaders=True behind a TLS proxy.
    secure: Literal["auto"] | bool = "auto"
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=8)
    # A "remember me" session gets a persistent cookie and lives this long
    # from login, in place of the idle and absolute timeouts.
    remember_timeout: timedelta = timedelta(days=14)
    save_uninitialized: bool = False
    # An unmodified session is written at most once per touch_after, to move
    # its idle expiry on.
    touch_after: timedelta = timedelta(minutes=1)
    # For tests: deterministic IDs (43 URL-safe characters, like
    # new_session_id; others are refused when they come back) and a clock.
    id_factory: Callable[[], str] = new_session_id
    clock: Callable[[], float] = time.time

    # Expiry is computed from the timeouts configured now, not frozen into
    # the session when it was created.
    def idle_expiry(self, last_seen: float, remember: bool) -> float:
        return last_seen + (self.remember_timeout if remember else self.idle_timeout).total_seconds()

    def absolute_expiry(self, created: float, remember: bool) -> float:
        return created + (self.remember_timeout if remember else self.absolute_timeout).total_seconds()

    def expires(self, created: float, last_seen: float, remember: bool) -> float:
        return min(self.idle_expiry(last_seen, remember), self.absolute_expiry(created, remember))

    def cookie_max_age_days(self) -> float:
        """Signatures older than the longest possible session are refused."""
        longest = max(self.absolute_timeout, self.remember_timeout)
        return longest.total_seconds() / 86400
