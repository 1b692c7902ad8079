"""SessionMixin: load the session in prepare(), save it before the response.

The response is held until the store has acknowledged the write, so a browser
that follows the login redirect at once finds its session. Tornado's
on_finish() runs after the response is sent, which is too late for that.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import Any

import tornado.web

from .config import SessionConfig
from .session import Session, store_key
from .stores.base import SessionRecord, SessionStore, StoreUnavailable

log = logging.getLogger("sessions")

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_CREATE_ATTEMPTS = 3


def describe_client(user_agent: str) -> str:
    """ "Firefox on Linux": enough for a person to recognise a session."""
    browsers = ("Edg", "Edge"), ("OPR", "Opera"), ("Firefox", "Firefox"), ("Chrome", "Chrome"), ("Safari", "Safari")
    systems = (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS", "macOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for token, name in browsers if token in user_agent), "")
    system = next((name for token, name in systems if token in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown client"


class SessionMixin(tornado.web.RequestHandler):
    """Gives a handler ``self.session``.

    The application settings supply ``session_store`` (a SessionStore) and,
    optionally, ``session_config`` (a SessionConfig). Call
    ``await self.load_session()`` in ``prepare()``.
    """

    _session: Session | None = None
    _session_saving: asyncio.Future[None] | None = None

    @property
    def session_store(self) -> SessionStore:
        return self.application.settings["session_store"]

    @property
    def session_config(self) -> SessionConfig:
        return self.application.settings.get("session_config") or _DEFAULT_CONFIG

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("call await self.load_session() in prepare() first")
        return self._session

    @property
    def session_cookie_secure(self) -> bool:
        secure = self.session_config.secure
        return self.request.protocol == "https" if secure == "auto" else secure

    @property
    def session_cookie_name(self) -> str:
        # __Host- tells the browser the cookie is Secure, host-only and for
        # the whole site, so a sibling subdomain cannot plant or overwrite it.
        config = self.session_config
        if self.session_cookie_secure and config.cookie_domain is None and config.cookie_path == "/":
            return "__Host-" + config.cookie_name
        return config.cookie_name

    async def load_session(self) -> Session:
        """Read the session named by the signed cookie; an unknown, expired or
        badly signed ID gets a fresh, empty session (never the ID offered)."""
        config = self.session_config
        name = self.session_cookie_name
        session_id = self._session_id_from_cookie(name)
        record = None
        if session_id is not None:
            try:
                record = await self.session_store.load(store_key(session_id), config.clock())
            except StoreUnavailable:
                log.warning("session store unavailable while loading a session")
                raise tornado.web.HTTPError(503, reason="Session store unavailable") from None
            if (
                record is not None
                and config.expires(record.created, record.last_seen, record.remember) <= config.clock()
            ):
                record = None
            if record is None:
                self.clear_session_cookie()
            elif self.get_signed_cookie_key_version(name) != self.settings.get("key_version"):
                self._set_session_cookie(session_id, record)  # re-sign with the current key
        self._session = Session(self.session_store, config.clock, session_id, record)
        return self._session

    def _session_id_from_cookie(self, name: str) -> str | None:
        if name not in self.request.cookies:
            return None
        value = self.get_signed_cookie(name, max_age_days=self.session_config.cookie_max_age_days(), min_version=2)
        if value is None:
            self.clear_session_cookie()
            return None
        session_id = value.decode("ascii", "replace")
        return session_id if _SESSION_ID.fullmatch(session_id) else None

    def clear_session_cookie(self) -> None:
        config = self.session_config
        self.clear_cookie(self.session_cookie_name, path=config.cookie_path, domain=config.cookie_domain)

    def _set_session_cookie(self, session_id: str, record: SessionRecord) -> None:
        config = self.session_config
        self.set_signed_cookie(
            self.session_cookie_name,
            session_id,
            version=2,
            expires_days=None,
            # A browser-session cookie unless the user asked to be remembered.
            expires=config.absolute_expiry(record.created, True) if record.remember else None,
            path=config.cookie_path,
            domain=config.cookie_domain,
            httponly=True,
            secure=self.session_cookie_secure,
            samesite=config.same_site,
        )

    def _session_write_due(self, session: Session) -> bool:
        if session.modified or session.touched:
            return True
        if session.record is None:
            # save_uninitialized stores visitors' sessions, but not on errors.
            return self.session_config.save_uninitialized and self.get_status() < 400
        touch_after = self.session_config.touch_after.total_seconds()
        return self.session_config.clock() - session.record.last_seen >= touch_after

    def finish(self, chunk: Any = None) -> Awaitable[None]:
        # Tornado may call finish() again after redirect() or render() did;
        # the second call waits for the same save.
        if self._session_saving is not None:
            return self._session_saving
        session = self._session
        if session is None or not self._session_write_due(session):
            return super().finish(chunk)
        self._session_saving = asyncio.ensure_future(self._save_session_then_finish(session, chunk))
        return self._session_saving

    async def _save_session_then_finish(self, session: Session, chunk: Any) -> None:
        try:
            await self._save_session(session)
        except Exception as e:
            if isinstance(e, StoreUnavailable):
                log.warning("session store unavailable while saving a session")
            else:
                log.exception("could not save a session")
            self._session = None
            self._session_saving = None
            self.send_error(503 if isinstance(e, StoreUnavailable) else 500)
            return
        await super().finish(chunk)

    async def _save_session(self, session: Session) -> None:
        config = self.session_config
        store = self.session_store
        now = config.clock()
        if session.is_new:
            if session or session.user is not None or config.save_uninitialized:
                await self._create_record(session, now)
            elif session.retired_ids:
                self.clear_session_cookie()
        elif not session and session.user is None and not config.save_uninitialized:
            # Nothing left to keep (the last flash was shown): no record either.
            await store.delete(store_key(session.id))
            self.clear_session_cookie()
        else:
            record = session.record
            fields: dict[str, Any] = {
                "last_seen": now,
                "expires": config.expires(record.created, now, session.remember),
            }
            if session.fields_changed:
                fields.update(user=session.user, remember=session.remember)
            changed = {key: session[key] for key in session.changed_keys}
            if not await store.update(store_key(session.id), changed, session.removed_keys, fields):
                # Deleted meanwhile, by a logout or a revoke: it stays deleted.
                self.clear_session_cookie()
        # Old records go only once the new one is safely stored.
        for retired_id in session.retired_ids:
            await store.delete(store_key(retired_id))
        session.retired_ids.clear()

    async def _create_record(self, session: Session, now: float) -> None:
        config = self.session_config
        record = SessionRecord(
            data=dict(session),
            user=session.user,
            created=now,
            last_seen=now,
            expires=config.expires(now, now, session.remember),
            client=describe_client(self.request.headers.get("User-Agent", "")),
            remember=session.remember,
        )
        for _ in range(_CREATE_ATTEMPTS):
            session_id = config.id_factory()
            if await self.session_store.create(store_key(session_id), record):
                self._set_session_cookie(session_id, record)
                return
        raise RuntimeError("could not find a free session ID")


_DEFAULT_CONFIG = SessionConfig()
