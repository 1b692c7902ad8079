"""SessionMixin gives a RequestHandler ``self.session``. The life of a request:

1. Cookie:  prepare() calls ``await self.load_session()``, which reads the
            signed cookie (cookies.py: Tornado's signature, version 2 only).
2. Load:    the store is asked for the record under a digest of the ID. An
            unknown or expired ID gets a new, empty session, never the ID
            offered (express-session's "strict mode" is always on).
3. Handler: the handler reads and writes ``self.session`` like a dict.
4. Finish:  ``render()`` and ``redirect()`` end in ``finish()``, which this
            mixin overrides: the response is held back...
5. Save:    ...until the store has acknowledged what changed. Tornado's
            ``on_finish()`` runs after the response is sent, too late: a
            browser that follows the login redirect at once must find its
            session saved.
6. Set-Cookie: a new session's cookie is set, a destroyed one's cleared.
7. Send:    Tornado's own ``finish()`` sends the response.

Whatever fails from step 5 on ends the request with the error page (503 for
the store, else 500): redirect() and render() drop finish()'s future, so
nobody else would.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from typing import Any

import tornado.iostream
import tornado.web

from .config import SessionConfig
from .cookies import SignedCookies
from .repeated_warnings import RepeatedWarning
from .session import Session
from .stores.base import SessionStore, StoreError, StoreUnavailable

log = logging.getLogger("sessions")

# One per application: its secret checked once, its verified cookies remembered.
_signed_cookies: weakref.WeakKeyDictionary[tornado.web.Application, SignedCookies] = weakref.WeakKeyDictionary()
# During an outage every request fails: one line per application every so often.
STORE_WARNING_EVERY = 10.0
_store_warnings: weakref.WeakKeyDictionary[tornado.web.Application, RepeatedWarning] = weakref.WeakKeyDictionary()


class SessionMixin(tornado.web.RequestHandler):
    """The application settings supply ``session_store`` (a SessionStore),
    ``cookie_secret`` and, optionally, ``session_config`` (a SessionConfig).
    Call ``await self.load_session()`` in ``prepare()``."""

    _session: Session | None = None
    _session_saving: asyncio.Future[None] | None = None
    _session_cookie_stale = False

    @property
    def session_store(self) -> SessionStore:
        store: SessionStore = self.application.settings["session_store"]
        return store

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

    @property
    def signed_cookies(self) -> SignedCookies:
        """Raises CookieSecretError, saying what to set, when the application's
        cookie_secret cannot sign cookies."""
        cookies = _signed_cookies.get(self.application)
        if cookies is None:
            cookies = _signed_cookies[self.application] = SignedCookies(self.application.settings)
        return cookies

    async def load_session(self) -> Session:
        """Steps 1 and 2. A store failure is a 503, never a silent logout."""
        name, config, cookies = self.session_cookie_name, self.session_config, self.signed_cookies
        cookie = self.get_cookie(name)
        session_id = cookies.session_id(name, cookie, config.cookie_max_age_days(), config.clock) if cookie else None
        try:
            self._session = session = await Session.load(self.session_store, config, session_id)
        except StoreError as e:
            if isinstance(e, StoreUnavailable):  # StoreMisconfigured was logged once, by the store
                self.warn_store_unavailable("session store unavailable while loading a session: %s", e)
            raise tornado.web.HTTPError(503, reason="Session store unavailable") from None
        # A live session's cookie is sent again, with today's attributes, at
        # most once per touch_after: signing it on every response would cost
        # more than anything else the session does.
        self._session_cookie_stale = session.record is not None and (
            config.clock() - session.record.last_seen >= config.touch_after.total_seconds()
        )
        # A cookie naming a session we no longer hold is left alone: clearing
        # it by name could delete the cookie a login in another tab just set.
        # Only a dict of several keys has retired ones.
        if (
            not session.is_new
            and isinstance(cookies.secret, dict)
            and len(cookies.secret) > 1
            and self.get_signed_cookie_key_version(name) != cookies.key_version
        ):
            self._set_session_cookie()  # signed with a retired key: re-sign with the current one
        return session

    def warn_store_unavailable(self, message: str, *args: object) -> None:
        """A warning on the ``sessions`` logger, at most one every
        STORE_WARNING_EVERY seconds per application by SessionConfig.clock;
        the next one logged counts those held back."""
        warnings = _store_warnings.get(self.application)
        if warnings is None:
            warnings = _store_warnings[self.application] = RepeatedWarning(log, STORE_WARNING_EVERY)
        warnings.warning(self.session_config.clock(), message, *args)

    def _session_cookie_attributes(self) -> dict[str, Any]:
        # Taken from the configuration at each response, so a change of
        # settings reaches existing sessions the next time their cookie is sent.
        config = self.session_config
        return {
            "path": config.cookie_path,
            "domain": config.cookie_domain,
            "httponly": True,
            "secure": self.session_cookie_secure,
            "samesite": config.same_site,
        }

    def clear_session_cookie(self) -> None:
        self.clear_cookie(self.session_cookie_name, **self._session_cookie_attributes())

    def _set_session_cookie(self) -> None:
        session, config, name = self.session, self.session_config, self.session_cookie_name
        assert session.id is not None and session.created is not None, "only a stored session has a cookie"
        self.set_cookie(
            name,
            self.signed_cookies.sign(name, session.id, config.clock),
            # A browser-session cookie unless the user asked to be remembered.
            expires=config.absolute_expiry(session.created, True) if session.remember else None,
            **self._session_cookie_attributes(),
        )

    def finish(self, chunk: Any = None) -> asyncio.Future[None]:
        """Steps 4 to 7."""
        # Tornado may call finish() again after redirect() or render() did;
        # the second call waits for the same save.
        if self._session_saving is None:
            session = self._session
            # A request that failed on the server keeps none of its changes,
            # nor does a HEAD: it is safe (RFC 9110), so it must not pop a
            # flash message or move the idle expiry on.
            if session is None or self.request.method == "HEAD" or self.get_status() >= 500 or not session.save_due():
                if session is not None and self._session_cookie_stale and session.id and not session.expired:
                    self._set_session_cookie()
                return super().finish(chunk)
            self._session_saving = asyncio.ensure_future(self._save_session_then_finish(chunk))
        return self._session_saving

    async def _save_session_then_finish(self, chunk: Any) -> None:
        session = self.session
        # Only a session being created stores where it is used.
        describe = self.session_config.describe_client
        client = describe(self.request) if describe is not None and session.is_new else ""
        try:
            outcome = await session.save(client)
            if outcome == "ended":
                self.clear_session_cookie()
            elif outcome == "created" or (outcome == "updated" and self._session_cookie_stale):
                self._set_session_cookie()
            await super().finish(chunk)
        except tornado.iostream.StreamClosedError:
            pass  # the browser left while we saved; the session is stored all the same
        except Exception as e:
            if isinstance(e, StoreUnavailable):
                self.warn_store_unavailable("session store unavailable while saving a session: %s", e)
            elif not isinstance(e, StoreError):  # StoreMisconfigured was logged by the store
                log.exception("could not save a session and send the response")
            self._session = None
            self._session_saving = None
            self.send_error(503 if isinstance(e, StoreError) else 500, exc_info=sys.exc_info())


_DEFAULT_CONFIG = SessionConfig()
