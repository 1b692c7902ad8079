"""Log in and log out: where a session changes hands."""

from __future__ import annotations

import urllib.parse

import tornado.web

import accounts
from handlers.base import BaseHandler, format_time
from throttle import LoginThrottle

LOGIN_FAILED = "Wrong username or password."


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
    if wait < 120:
        return f"Try again in {wait} seconds (at {format_time(at)})."
    return f"Try again in {round(wait / 60)} minutes (at {format_time(at)})."


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
        throttle = LoginThrottle(self.session_store, username)
        now = self.session_config.clock()
        try_again_at = await throttle.try_again_at(now)
        if try_again_at is not None:
            wait = max(1, round(try_again_at - now))
            self.set_status(429)
            self.set_header("Retry-After", str(wait))
            self.session.flash(f"Too many failed attempts for this username. {when(wait, try_again_at)}", "error")
            self.render("login.html", username=username, next_url=next_url)
            return
        account = await accounts.authenticate(username, password)
        if account is None:
            self.session.flash(LOGIN_FAILED, "error")
            self.render("login.html", username=username, next_url=next_url)
            return
        await throttle.succeeded()
        # A new ID at login: an ID planted or seen before login is now worthless.
        self.session.regenerate()
        self.session.user = account.username
        self.session.remember = self.get_body_argument("remember", "") == "on"
        self.clear_cookie("_xsrf")
        self.redirect(local_path(next_url), status=303)


class LogoutHandler(BaseHandler):
    def post(self) -> None:
        self.session.destroy()
        self.session.flash("You have been logged out.", "success")
        self.clear_cookie("_xsrf")
        self.redirect("/", status=303)
