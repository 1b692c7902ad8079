"""Log in and log out: where a session changes hands."""

from __future__ import annotations

import hashlib
import math
import urllib.parse

import tornado.web

from auth import accounts
from auth.throttle import LoginThrottle
from handlers.base import BaseHandler, format_time
from sessions import SessionStore, store_key

LOGIN_FAILED = "Wrong username or password."
PASSWORD_TOO_LONG = f"Passwords here are at most {accounts.MAX_PASSWORD_BYTES} bytes, so that one cannot be right."


def local_path(next_url: str, default: str = "/dashboard") -> str:
    """Only a path on this site; anything that could leave it gives the default."""
    if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return default
    # Browsers drop tabs and newlines and read a backslash as "/", so
    # "/<tab>/host" would be "//host". Our own paths are all printable ASCII.
    if any(not "!" <= c <= "~" or c == "\\" for c in next_url):
        return default
    parts = urllib.parse.urlsplit(next_url)
    if parts.scheme or parts.netloc:
        return default
    return next_url


def when(wait: int, at: float) -> str:
    # Rounded up, like the wait: at the second the page names, the lock is over.
    if wait < 120:
        return f"Try again in {wait} second{'s' * (wait != 1)} (at {format_time(math.ceil(at))})."
    return f"Try again in {math.ceil(wait / 60)} minutes (at {format_time(math.ceil(at))})."


class LoginHandler(BaseHandler):
    def get(self) -> None:
        if self.current_user:
            self.redirect(local_path(self.get_argument("next", "")))
            return
        self.render("login.html", username="", next_url=self.get_argument("next", ""))

    def form_field(self, name: str) -> str:
        # A repeated field could mean one thing to a proxy and another here.
        # strip=False: a password's spaces are part of it.
        values = self.get_body_arguments(name, strip=False)
        if len(values) > 1:
            raise tornado.web.HTTPError(400, reason=f"Repeated form field {name!r}")
        return values[0] if values else ""

    async def post(self) -> None:
        username = self.form_field("username").strip()
        password = self.form_field("password")
        next_url = self.form_field("next")
        if accounts.too_long(password):
            # It cannot be right: not a guess worth counting, nor a place in
            # the hashing queue. Counted, a flood of them under made-up
            # usernames filled MongoDB and Redis with failure records.
            self.set_status(400)
            self.session.flash(PASSWORD_TOO_LONG, "error")
            self.render("login.html", username=username, next_url=next_url)
            return
        throttle = LoginThrottle(self.settings["login_failures"], username)
        now = self.session_config.clock()
        try:
            # The place in the hashing queue comes first: a login refused
            # because the server is busy is never counted against the account.
            with accounts.hashing_turn(self.client_address()):
                try_again_at = await throttle.try_again_at(now)
                account = None if try_again_at else await accounts.authenticate(username, password)
            why = "Too many failed attempts for this username."
        except accounts.TooManyFromAddress as refused:
            why, try_again_at = "Too many logins from your address at once.", now + refused.retry_after
        if try_again_at is not None:
            wait = max(1, math.ceil(try_again_at - now))  # never early: the lock ends between two seconds
            self.set_status(429)
            self.set_header("Retry-After", str(wait))
            self.session.flash(f"{why} {when(wait, try_again_at)}", "error")
            self.render("login.html", username=username, next_url=next_url)
            return
        if account is None:
            self.session.flash(LOGIN_FAILED, "error")
            self.render("login.html", username=username, next_url=next_url)
            return
        await throttle.succeeded()
        # A new ID at login: an ID planted or seen before login is now
        # worthless. Nothing from before crosses over (keep=()): this browser
        # may have been signed in as someone else a moment ago.
        self.session.regenerate(keep=())
        self.session.user = account.username
        self.session.remember = self.get_body_argument("remember", "") == "on"
        self.session[LOGIN_FORM] = login_form_mark(self)
        self.clear_cookie("_xsrf")
        self.redirect(local_path(next_url), status=303)

    def client_address(self) -> str | None:
        # Behind the proxy (--xheaders) remote_ip is the client's own address;
        # without it, every login could come from the proxy's.
        return self.request.remote_ip if self.settings.get("xheaders") else None


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        if self.session.is_new:
            # Nothing to end: store nothing, set no cookie, for a visitor.
            self.redirect("/", status=303)
            return
        user, mark, mine = self.session.user, self.session.get(LOGIN_FORM), self.session.id
        self.session.destroy()
        if user and mark:
            await end_twin_logins(self.session_store, user, mark, mine, self.session_config.clock())
        self.session.flash("You have been logged out.", "success")
        self.clear_cookie("_xsrf")
        self.redirect("/", status=303)


# A login form sent twice at once (a double click) makes two sessions, and
# the browser keeps only the one whose answer came last. Both are marked with
# the form they came from, so the logout ends the one no browser holds too.
LOGIN_FORM = "_login_form"


def login_form_mark(handler: BaseHandler) -> str:
    """The same for every login sent from one login page: a digest of its XSRF cookie."""
    return hashlib.sha256(handler.get_cookie("_xsrf", "").encode()).hexdigest()[:16]


async def end_twin_logins(store: SessionStore, user: str, mark: str, mine: str | None, now: float) -> None:
    for key, record in (await store.find_by_user(user, now)).items():
        if record.data.get(LOGIN_FORM) == mark and key != store_key(mine or ""):
            await store.delete(key)
