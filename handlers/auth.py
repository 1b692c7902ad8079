"""Log in and log out: where a session changes hands."""

from __future__ import annotations

import urllib.parse

import accounts
from handlers.base import BaseHandler

LOGIN_FAILED = "Wrong username or password."


def local_path(next_url: str, default: str = "/dashboard") -> str:
    """Only a path on this site; anything that could leave it gives the default."""
    if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x21 or c == "\\" for c in next_url):
        return default
    parts = urllib.parse.urlsplit(next_url)
    if parts.scheme or parts.netloc:
        return default
    return next_url


class LoginHandler(BaseHandler):
    def get(self) -> None:
        if self.current_user:
            self.redirect(local_path(self.get_argument("next", "")))
            return
        self.render("login.html", username="", next_url=self.get_argument("next", ""))

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        next_url = self.get_body_argument("next", "")
        account = await accounts.authenticate(username, password)
        if account is None:
            self.session.flash(LOGIN_FAILED, "error")
            self.render("login.html", username=username, next_url=next_url)
            return
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
