"""BaseHandler: every page loads its session first and shares one layout."""

from __future__ import annotations

import http
import logging
import time
import urllib.parse
from typing import Any

import tornado.web

from sessions import SessionMixin, StoreError, StoreUnavailable

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_HEADER_BYTES = 16 * 1024
ERROR_ADVICE = {
    400: "The request could not be understood. Go back and try again.",
    403: "The form was out of date or came from another site. Reload the page and try again.",
    404: "There is no page at this address.",
    405: "This address does not accept that kind of request.",
    429: "Too many attempts. Wait a little and try again.",
    431: "Your browser sent too much with this request, usually too many or too large cookies. "
    "Delete this site's cookies and try again.",
    503: "The session store is not answering. Nothing was lost; try again in a few seconds.",
}


def format_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


class BaseHandler(SessionMixin):
    async def prepare(self) -> None:
        # Tornado drops a connection whose headers pass 64 KiB without a word;
        # below that, a page says what went wrong (usually piled-up cookies).
        if sum(len(name) + len(value) for name, value in self.request.headers.get_all()) > MAX_HEADER_BYTES:
            raise tornado.web.HTTPError(431)
        await self.load_session()
        self.current_user = self.session.user

    def get_login_url(self) -> str:
        # The login page says why when this browser's session has ended (expired,
        # or signed out elsewhere). Tornado adds ?next= only to a URL without a query.
        url = super().get_login_url()
        if self.session.expired:
            url += "?" + urllib.parse.urlencode({"next": self.request.uri, "ended": 1})
        return url

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        # Pages depend on who is signed in: no shared or back-button copies.
        self.set_header("Cache-Control", "no-store")
        self.set_header("Vary", "Cookie")

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["format_time"] = format_time
        return namespace

    def flashes(self) -> list[tuple[str, str]]:
        return self._session.pop_flashes() if self._session is not None else []

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StoreUnavailable):
            logging.getLogger("sessions").warning("session store unavailable (%s): %s", value, self.request.path)
        elif not isinstance(value, StoreError):  # StoreMisconfigured was logged once, by the store
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # A store failure in a handler (throttle counts, the sessions list) is
        # the same 503 as one while loading or saving the session.
        if isinstance(kwargs.get("exc_info", (None, None, None))[1], StoreError):
            status_code = 503
            self.set_status(503)
        if status_code == 503:
            self.set_header("Retry-After", "5")
        self.render(
            "error.html",
            status_code=status_code,
            title=http.HTTPStatus(status_code).phrase if status_code in http.HTTPStatus._value2member_map_ else "Error",
            advice=ERROR_ADVICE.get(status_code, "Something went wrong on our side. Try again later."),
        )
