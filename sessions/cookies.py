"""The signed cookie that carries the session ID: Tornado's signature (cookie
version 2), made and checked by the configured clock, and the application's
cookie_secret checked once, at the first session, with one clear message.

Checking a signature costs more than loading a session from memory, and a
browser sends the same cookie for minutes: SignedCookies remembers the good
ones (never the bad), each until its signature's own age limit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import tornado.web

log = logging.getLogger("sessions")

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
SHORT_SECRET_BYTES = 32


class CookieSecretError(Exception):
    """The application's cookie_secret cannot sign session cookies."""


def check_cookie_secret(settings: Mapping[str, Any]) -> None:
    """Refuse a cookie_secret that cannot sign cookies, saying what to set;
    warn about a key shorter than 32 bytes (one a machine can guess)."""
    secret, version = settings.get("cookie_secret"), settings.get("key_version")
    advice = "for example secrets.token_hex(32), kept the same across restarts"
    if isinstance(secret, dict):
        if version is None or version not in secret:
            raise CookieSecretError(
                f"cookie_secret is a dict of keys by version ({sorted(secret)!r}): set the application setting "
                f"key_version to the version that signs new cookies (now {version!r})"
            )
        keys = list(secret.values())
    else:
        keys = [secret]
    if not all(isinstance(key, str | bytes) and key for key in keys):
        raise CookieSecretError(
            f"set the application setting cookie_secret ({advice}): session cookies are signed with it"
        )
    if any(len(key.encode() if isinstance(key, str) else key) < SHORT_SECRET_BYTES for key in keys):
        log.warning("cookie_secret has a key shorter than %d bytes: use %s", SHORT_SECRET_BYTES, advice)


class SignedCookies:
    """Signs session IDs with the application's secret, and verifies them,
    remembering at most ``max_remembered`` verified cookies."""

    def __init__(self, settings: Mapping[str, Any], max_remembered: int = 10_000) -> None:
        check_cookie_secret(settings)
        self.secret = settings["cookie_secret"]
        self.key_version: int | None = settings.get("key_version")
        self.max_remembered = max_remembered
        # (cookie name, value): (session ID, when its signature's age limit passes)
        self._verified: dict[tuple[str, str], tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self._verified)

    def sign(self, name: str, session_id: str, clock: Callable[[], float]) -> str:
        value = tornado.web.create_signed_value(
            self.secret, name, session_id, version=2, clock=clock, key_version=self.key_version
        )
        return value.decode()

    def session_id(self, name: str, cookie: str, max_age_days: float, clock: Callable[[], float]) -> str | None:
        """The session ID a cookie carries, or None if it is not one we signed
        within ``max_age_days``."""
        session_id, good_until = self._verified.get((name, cookie), ("", 0.0))
        now = clock()
        if now < good_until:
            return session_id
        value = tornado.web.decode_signed_value(
            self.secret, name, cookie, max_age_days=max_age_days, clock=clock, min_version=2
        )
        session_id = value.decode("ascii", "replace") if value else ""
        if not SESSION_ID.fullmatch(session_id):
            return None
        if len(self._verified) >= self.max_remembered:
            del self._verified[next(iter(self._verified))]  # the longest remembered
        self._verified[(name, cookie)] = session_id, _signed_at(cookie) + max_age_days * 86400
        return session_id


def _signed_at(cookie: str) -> int:
    # Version 2 is "2|1:<key version>|<length>:<timestamp>|...", and this
    # one has just been verified.
    return int(cookie.split("|")[2].partition(":")[2])
