"""Test-only tools for the session tests: the real app (app.make_app) with a
few extra handlers for the parts of the session API the site's pages do not
use, and stores that record, slow down or hold back writes. The server, the
cookies and the library are all real."""

from __future__ import annotations

import asyncio
import datetime
import json
from http.cookies import Morsel, SimpleCookie

import tornado.httpserver
import tornado.testing
import tornado.web
from conftest import COOKIE_SECRET, Browser

from app import make_app
from handlers.base import BaseHandler
from sessions import MemoryStore, SessionConfig, StoreUnavailable


class Gate:
    """Holds a request at one point until the test opens the gate."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()

    async def wait(self) -> None:
        self.arrived.set()
        await asyncio.wait_for(self.opened.wait(), 10)


class RecordingStore:
    """A MemoryStore that lists every write, and can be made slow
    (``delay`` seconds per create/update), made to hold each update until
    ``updates_together`` updates are waiting (truly concurrent saves), made
    to serve records past their expiry (``lazy``: the server must refuse them
    itself) or made to fail (``failing``, ``failing_writes``)."""

    def __init__(self, delay: float = 0.0, updates_together: int = 1, lazy: bool = False) -> None:
        self.inner = MemoryStore()
        self.delay = delay
        self.barrier = asyncio.Barrier(updates_together)
        self.lazy = lazy
        self.failing = False
        self.failing_writes = False
        self.create_gate: Gate | None = None
        self.writes: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def __len__(self) -> int:
        return len(self.inner)

    def keys(self) -> list[str]:
        return list(self.inner._rows)

    def __contains__(self, key: str) -> bool:
        return key in self.inner._rows

    def _check_up(self) -> None:
        if self.failing:
            raise StoreUnavailable("the lab store is down")

    async def load(self, key, now):
        self._check_up()
        return await self.inner.load(key, 0 if self.lazy else now)

    async def create(self, key, record) -> bool:
        self._check_up()
        if self.create_gate:
            await self.create_gate.wait()
        await asyncio.sleep(self.delay)
        self.writes.append("create")
        return await self.inner.create(key, record)

    async def update(self, key, changes):
        self._check_up()
        if self.failing_writes:
            raise StoreUnavailable("the lab store refuses writes")
        await asyncio.wait_for(self.barrier.wait(), 10)
        await asyncio.sleep(self.delay)
        data_changed = changes.set or changes.unset or changes.increment or changes.append
        self.writes.append("update" if data_changed or {"user", "remember"} & set(changes.fields) else "touch")
        return await self.inner.update(key, changes)

    async def delete(self, key) -> None:
        self.writes.append("delete")
        await self.inner.delete(key)


class LabHandler(BaseHandler):
    def check_xsrf_cookie(self) -> None:
        """These requests come from the tests, not from a page's form."""

    def body_json(self):
        return json.loads(self.get_argument("json", "null"))

    def show(self) -> None:
        session = self.session
        self.finish({"data": dict(session), "user": session.user, "is_new": session.is_new, "repr": repr(session)})


class ShowHandler(LabHandler):
    def get(self) -> None:
        self.show()


class SetHandler(LabHandler):
    async def post(self) -> None:
        if self.get_argument("wait", ""):
            await self.settings["lab_gate"].wait()
        self.session.update(self.body_json())
        self.show()


class DeleteHandler(LabHandler):
    def post(self) -> None:
        for key in self.body_json():
            del self.session[key]
        self.show()


class AppendHandler(LabHandler):
    def post(self) -> None:
        # In place, without assigning: the session must notice anyway.
        self.session[self.get_argument("key")].append(self.body_json())
        self.show()


class RegenerateHandler(LabHandler):
    def post(self) -> None:
        self.session.regenerate()
        self.show()


class DestroyHandler(LabHandler):
    def post(self) -> None:
        self.session.destroy()
        self.show()


class ClearHandler(LabHandler):
    def post(self) -> None:
        self.session.clear()
        self.show()


class TouchHandler(LabHandler):
    def post(self) -> None:
        self.session.touch()
        self.show()


class ReloadHandler(LabHandler):
    async def post(self) -> None:
        self.session["unsaved"] = True
        await self.settings["lab_gate"].wait()
        await self.session.reload()
        self.show()


class FlashHandler(LabHandler):
    def post(self) -> None:
        self.session.flash(self.get_argument("message"), self.get_argument("category", "info"))
        self.show()


class FailHandler(LabHandler):
    def post(self) -> None:
        self.session["half_done"] = True
        raise RuntimeError("the handler failed half way")


BAD_ITEMS = {
    "datetime": ("when", datetime.datetime(2026, 1, 1)),
    "set": ("tags", {"a", "b"}),
    "bytes": ("blob", b"\x00\x01"),
    "nan": ("score", float("nan")),
    "infinity": ("score", float("inf")),
    "tuple": ("pair", (1, 2)),
    "int_over_64_bits": ("big", 2**64),
    "object": ("thing", object()),
    "nested_datetime": ("doc", {"times": [datetime.date(2026, 1, 1)]}),
    "dollar_key": ("$where", 1),
    "dotted_key": ("a.b", 1),
    "nul_key": ("a\0b", 1),
    "empty_key": ("", 1),
    "int_key": (1, 1),
    "nested_dollar_key": ("doc", {"$set": 1}),
    "nested_dotted_key": ("doc", [{"a.b": 1}]),
    "nested_int_key": ("doc", {1: "one"}),
}


class AssignBadHandler(LabHandler):
    def post(self, kind: str) -> None:
        key, value = BAD_ITEMS[kind]
        try:
            self.session[key] = value
        except (TypeError, ValueError) as e:
            self.set_status(400)
            self.finish({"error": type(e).__name__, "message": str(e)})
            return
        self.show()


class AssignFieldHandler(LabHandler):
    """Sets session.user or session.remember to a JSON value."""

    async def post(self, field: str) -> None:
        try:
            setattr(self.session, field, self.body_json())
        except TypeError as e:
            self.set_status(400)
            self.finish({"error": type(e).__name__, "message": str(e)})
            return
        self.show()


LAB_ROUTES = [
    (r"/lab/session", ShowHandler),
    (r"/lab/set", SetHandler),
    (r"/lab/delete", DeleteHandler),
    (r"/lab/append", AppendHandler),
    (r"/lab/regenerate", RegenerateHandler),
    (r"/lab/destroy", DestroyHandler),
    (r"/lab/clear", ClearHandler),
    (r"/lab/touch", TouchHandler),
    (r"/lab/reload", ReloadHandler),
    (r"/lab/flash", FlashHandler),
    (r"/lab/fail", FailHandler),
    (r"/lab/assign/(\w+)", AssignBadHandler),
    (r"/lab/field/(user|remember)", AssignFieldHandler),
]


def make_lab_app(
    store, session_config: SessionConfig, cookie_secret=COOKIE_SECRET, **settings
) -> tornado.web.Application:
    """The site's own app, with the lab's routes added to it."""
    app = make_app(store, cookie_secret, session_config=session_config, lab_gate=Gate(), **settings)
    app.add_handlers(r".*", LAB_ROUTES)
    return app


def set_cookies(response) -> dict[str, Morsel]:
    """The response's Set-Cookie headers, parsed, by cookie name."""
    cookies: dict[str, Morsel] = {}
    for header in response.headers.get_list("Set-Cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        cookies.update(parsed)
    return cookies


def body(response):
    return json.loads(response.body)


def session_id(cookie_value: str, name: str = "session", secret=COOKIE_SECRET) -> str:
    """The raw ID inside a signed session cookie, as only the server can read it."""
    return tornado.web.decode_signed_value(secret, name, cookie_value.strip('"'), min_version=2).decode()


class Servers:
    """More real servers, for apps with other settings than the ``app`` fixture."""

    def __init__(self, http_client) -> None:
        self.http_client = http_client
        self.running: list[tornado.httpserver.HTTPServer] = []

    def start(self, app: tornado.web.Application, xheaders: bool = False):
        """Serve ``app``; returns a function that makes a new Browser for it."""
        sock, port = tornado.testing.bind_unused_port()
        server = tornado.httpserver.HTTPServer(app, xheaders=xheaders)
        server.add_socket(sock)
        self.running.append(server)
        return lambda: Browser(self.http_client, f"http://127.0.0.1:{port}")

    async def stop_all(self) -> None:
        for server in self.running:
            server.stop()
            await server.close_all_connections()
