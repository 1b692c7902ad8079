"""SessionConfig: every session setting in one place, with its default."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from tornado.httputil import HTTPServerRequest


def new_session_id() -> str:
    """256 random bits, URL-safe: 43 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(32)


@dataclasses.dataclass(frozen=True)
class SessionConfig:
    """Every session setting, read afresh at each request: a change reaches
    existing sessions. Put it in the application settings as session_config.
    The comments name each setting's express-session counterpart."""

    cookie_name: str = "session"  # name (default "connect.sid")
    cookie_path: str = "/"  # cookie.path
    cookie_domain: str | None = None  # cookie.domain
    same_site: Literal["Lax", "Strict", "None"] = "Lax"  # cookie.sameSite (express: unset)
    # cookie.secure. "auto": Secure (and the __Host- name prefix) when the
    # request came over HTTPS as Tornado sees it: behind a TLS proxy run the
    # server with xheaders=True (express: "proxy").
    secure: Literal["auto"] | bool = "auto"
    # No express counterpart: express-session has only the cookie's maxAge,
    # which the browser enforces, not the server.
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=8)
    # cookie.maxAge, for "remember me" sessions only: a persistent cookie,
    # and this long from login in place of the idle and absolute timeouts.
    remember_timeout: timedelta = timedelta(days=14)
    save_uninitialized: bool = False  # saveUninitialized (express default: true)
    # connect-mongo's touchAfter; with express-session's resave=false. An
    # unmodified session is written at most once per touch_after, to move
    # its idle expiry on.
    touch_after: timedelta = timedelta(minutes=1)
    # No express counterpart. A login past it ends that user's oldest
    # sessions, so the "active sessions" page and logout cost at most this many.
    max_sessions_per_user: int = 100
    # genid, for tests: deterministic IDs (43 URL-safe characters, like
    # new_session_id; others are refused when they come back). And a clock.
    id_factory: Callable[[], str] = new_session_id
    clock: Callable[[], float] = time.time
    # What a new session records about where it is used, for an "active
    # sessions" page. None stores nothing: what to keep about a client (an
    # address is personal data) is the site's decision, not the library's.
    describe_client: Callable[[HTTPServerRequest], str] | None = None

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
