"""Active sessions: see where you are signed in, and end any other session.

Pages and forms name a session by a handle, a short digest of its store key:
never the session ID, which would let anyone who saw the page use it.
A handle is looked up only among the signed-in user's own sessions.
"""

from __future__ import annotations

import hashlib

import tornado.web

from handlers.base import BaseHandler


def handle(key: str) -> str:
    return hashlib.sha256(b"handle:" + key.encode()).hexdigest()[:20]


def ago(seconds: float) -> str:
    # Whole units only: a session that only reads is written once per touch_after.
    for unit, size in ("day", 86400), ("hour", 3600), ("minute", 60):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "less than a minute ago"


class ActiveSessionsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        others = sorted((await self.session.other_sessions()).items(), key=lambda item: -item[1].last_seen)
        now = self.session_config.clock()
        others = [(handle(key), record, ago(now - record.last_seen)) for key, record in others]
        self.render("sessions.html", current=self.session, others=others)


class RevokeSessionHandler(BaseHandler):
    @tornado.web.authenticated
    async def post(self, session_handle: str) -> None:
        keys = [key for key in await self.session.other_sessions() if handle(key) == session_handle]
        if not keys:
            raise tornado.web.HTTPError(404, reason="No such session")
        await self.session_store.delete(keys[0])
        self.session.flash("That session has ended. Its next request will need to log in again.", "success")
        self.redirect("/sessions", status=303)


class RevokeOtherSessionsHandler(BaseHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        ended = await self.session.end_other_sessions()
        sessions = f"{ended} other session{'' if ended == 1 else 's'}"
        self.session.flash(f"Signed out {sessions}. Only this one is still signed in.", "success")
        self.redirect("/sessions", status=303)
