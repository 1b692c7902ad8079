"""BaseHandler: every page loads its session first and shares one layout.
Static files and error pages carry the same security headers."""

from __future__ import annotations

import functools
import http
import time
import urllib.parse
from typing import Any

import tornado.web

from auth import accounts
from handlers import speed
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
    413: "That was far more than any form on this site sends. Go back and try again.",
    429: "Too many attempts. Wait a little and try again.",
    431: "Your browser sent too much with this request, usually too many or too large cookies. "
    "Delete this site's cookies and try again.",
    503: "The session store is not answering. Nothing was lost; try again in a few seconds.",
}
BUSY_ADVICE = "The server is receiving many forms right now. Nothing was sent; try again in a few seconds."


def format_time(timestamp: float) -> str:
    return format_second(int(timestamp))


@functools.lru_cache(maxsize=1024)  # pages show the same few seconds again and again; strftime is slow
def format_second(second: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(second))


class PageMixin(speed.FastCookies, speed.Stencils):
    """What every response shares, pages and static files alike: the
    security headers, and errors answered with the site's error page."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")

    def allowed_methods(self) -> list[str]:
        # Tornado's RequestHandler answers 405 with one stub for every method.
        unimplemented = tornado.web.RequestHandler.get
        reads = ["GET", "HEAD"] if type(self).get is not unimplemented else []
        writes = ["POST"] if type(self).post is not unimplemented else []
        return [*reads, *writes, "OPTIONS"]

    def check_xsrf_cookie(self) -> None:
        # A method this address does not take is a 405, whatever the form's token.
        if self.request.method not in self.allowed_methods():
            raise tornado.web.HTTPError(405)
        super().check_xsrf_cookie()

    def options(self, *args: Any) -> None:
        self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_status(204)

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        # Tornado sets the _xsrf cookie with one set of settings for HTTP and
        # HTTPS alike: over HTTPS (behind the proxy too, with --xheaders) it is Secure.
        if name == self.settings.get("xsrf_cookie_name", "_xsrf") and self.request.protocol == "https":
            kwargs["secure"] = True
        super().set_cookie(name, value, *args, **kwargs)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace["format_time"] = format_time
        shape, values = self.layout_names()
        namespace.update(shape, **values)
        return namespace

    def layout_names(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """What base.html shows of this request: what its {% if %}s and loops
        test, and the values it only prints."""
        user = self.current_user
        shape = {"signed_in": bool(user), "path": self.request.path, "flash_messages": tuple(self.flashes())}
        return shape, {"user_name": accounts.display_name(user) if user else ""}

    def flashes(self) -> list[tuple[str, str]]:
        return []  # pages with a session show theirs

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        # A store failure in a handler (throttle counts, the sessions list) is
        # the same 503 as one while loading or saving the session.
        if isinstance(error, StoreError):
            status_code = 503
            self.set_status(503)
        advice = ERROR_ADVICE.get(status_code, "Something went wrong on our side. Try again later.")
        if isinstance(error, accounts.TooManyLogins):
            advice = "Many logins are being checked right now. Nothing was lost; try again in a few seconds."
        advice = getattr(error, "advice", advice)
        if status_code == 503:
            self.set_header("Retry-After", "5")
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.render(
            "error.html",
            status_code=status_code,
            title=http.HTTPStatus(status_code).phrase if status_code in http.HTTPStatus._value2member_map_ else "Error",
            advice=advice,
        )


class BaseHandler(PageMixin, SessionMixin):
    async def prepare(self) -> None:
        # Tornado drops a connection whose headers pass 64 KiB without a word;
        # below that, a page says what went wrong (usually piled-up cookies).
        if sum(len(name) + len(value) for name, value in self.request.headers.get_all()) > MAX_HEADER_BYTES:
            raise tornado.web.HTTPError(431)
        await self.load_session()
        self.current_user = self.session.user

    def head(self, *args: Any) -> Any:
        # A page's headers without the page: Tornado sends no body for HEAD.
        return self.get(*args)

    def get_login_url(self) -> str:
        # The login page says why when this browser's session has ended (expired,
        # or signed out elsewhere). Tornado adds ?next= only to a URL without a query.
        url = super().get_login_url()
        if self.session.expired:
            url += "?" + urllib.parse.urlencode({"next": self.request.uri, "ended": 1})
        return url

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Pages depend on who is signed in: no shared or back-button copies.
        self.set_header("Cache-Control", "no-store")
        self.set_header("Vary", "Cookie")

    def compute_etag(self) -> None:
        return None  # no-store pages are never revalidated: hashing each one is wasted

    def check_etag_header(self) -> bool:
        return False  # no ETag, so no If-None-Match can match it

    def flashes(self) -> list[tuple[str, str]]:
        return self._session.pop_flashes() if self._session is not None else []

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, StoreUnavailable):
            self.warn_store_unavailable("session store unavailable (%s): %s", value, self.request.path)
        elif not isinstance(value, StoreError):  # StoreMisconfigured was logged once, by the store
            super().log_exception(typ, value, tb)


class StaticHandler(PageMixin, tornado.web.StaticFileHandler):
    """Tornado's static files with the site's headers and error page."""

    def parse_url_path(self, url_path: str) -> str:
        # No file name holds a NUL; the operating system would refuse it with
        # an exception, which Tornado answers with a 500.
        if "\x00" in url_path:
            raise tornado.web.HTTPError(400)
        return super().parse_url_path(url_path)


@tornado.web.stream_request_body
class BodyRefusedHandler(BaseHandler):
    """Answers as soon as a request's headers are in (streaming mode, so
    Tornado does not read the body first): 413 for a body too large for any
    form, 503 when the bodies in flight already take the memory they may.
    server.Site sends such requests here."""

    def initialize(self, status: int) -> None:
        self.status = status

    def check_xsrf_cookie(self) -> None:
        pass  # refused whatever its token, as Tornado's ErrorHandler does

    async def prepare(self) -> None:
        error = tornado.web.HTTPError(self.status)
        if self.status == 503:
            error.advice = BUSY_ADVICE
        raise error
