"""The demo site: routes, settings, and a server that shuts down cleanly.

python app.py                      # in-memory sessions on http://127.0.0.1:8888
python app.py --help               # every option
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pymongo.errors
import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.process
import tornado.web
from motor.motor_asyncio import AsyncIOMotorClient
from tornado.options import define, options

from handlers.active_sessions import ActiveSessionsHandler, RevokeOtherSessionsHandler, RevokeSessionHandler
from handlers.auth import LoginHandler, LogoutHandler
from handlers.dashboard import DashboardHandler
from handlers.home import HomeHandler, NotFoundHandler
from sessions import MemoryStore, MongoStore, SessionConfig, SessionStore, StoreUnavailable

define("port", default=8888, help="port to listen on")
define("address", default="127.0.0.1", help="address to listen on")
define(
    "session_store",
    default="memory",
    help="'memory', or a MongoDB URL such as mongodb://localhost:27017/tornado_sessions",
)
define("cookie_secret", default=None, help="key that signs cookies (default: env COOKIE_SECRET, else a random one)")
define(
    "retired_cookie_secrets",
    default="",
    help="comma-separated older keys, still accepted and re-signed with the current one",
)
define("xheaders", default=False, help="trust X-Forwarded-Proto/-For from a TLS-terminating proxy")
define("processes", default=1, help="worker processes (0: one per CPU); more than 1 needs a MongoDB store")
define("mongodb_timeout", default=3.0, help="seconds to wait for MongoDB before a request gets the 503 page")
define("debug", default=False, help="reload on code changes, show tracebacks")

HERE = Path(__file__).parent
log = logging.getLogger("app")


class Site(tornado.web.Application):
    """Counts the requests in flight, so that a stop can let them finish."""

    in_flight = 0

    def get_handler_delegate(self, *args: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        return super().get_handler_delegate(*args, **kwargs)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.in_flight -= 1
        super().log_request(handler)

    async def requests_finished(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight


def make_app(
    session_store: SessionStore,
    cookie_secret: str | dict[int, str],
    *,
    key_version: int | None = None,
    session_config: SessionConfig | None = None,
    **settings,
) -> tornado.web.Application:
    return Site(
        [
            (r"/", HomeHandler),
            (r"/login", LoginHandler),
            (r"/logout", LogoutHandler),
            (r"/dashboard", DashboardHandler),
            (r"/sessions", ActiveSessionsHandler),
            (r"/sessions/revoke-others", RevokeOtherSessionsHandler),
            (r"/sessions/([0-9a-f]{1,64})/revoke", RevokeSessionHandler),
        ],
        template_path=HERE / "templates",
        static_path=HERE / "static",
        default_handler_class=NotFoundHandler,
        login_url="/login",
        cookie_secret=cookie_secret,
        key_version=key_version,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
        cross_origin_protection=True,
        session_store=session_store,
        session_config=session_config or SessionConfig(),
        **settings,
    )


def cookie_secrets() -> tuple[str | dict[int, str], int | None]:
    """The signing key, or a dict of keys by version when older ones are retired."""
    secret = options.cookie_secret or os.environ.get("COOKIE_SECRET")
    if not secret:
        log.warning("No --cookie-secret or COOKIE_SECRET: using a random key, so sessions end when the server restarts")
        secret = secrets.token_urlsafe(32)
    retired = [key for key in options.retired_cookie_secrets.split(",") if key]
    if not retired:
        return secret, None
    return {**dict(enumerate(retired)), len(retired): secret}, len(retired)


def open_store(url: str) -> SessionStore:
    if url == "memory":
        return MemoryStore()
    if not url.startswith(("mongodb://", "mongodb+srv://")):
        raise SystemExit(f"--session-store: expected 'memory' or a mongodb:// URL, got {url!r}")
    timeout_ms = int(options.mongodb_timeout * 1000)
    # PyMongo's own async client is a drop-in replacement for Motor (end of
    # life since May 2026): pymongo.AsyncMongoClient(url, ...same options).
    try:
        client = AsyncIOMotorClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (pymongo.errors.ConfigurationError, ValueError) as e:
        raise SystemExit(f"--session-store: not a usable MongoDB URL: {e}") from None
    # One second more than the driver's timeouts, so that usually the driver
    # says what went wrong; the store's own limit catches time spent queuing.
    collection = client.get_default_database("tornado_sessions")["sessions"]
    return MongoStore(collection, timeout=options.mongodb_timeout + 1)


async def create_indexes(store: MongoStore) -> None:
    """Runs beside the server, so a database that is down does not stop the
    site from starting; it tries again until the indexes are there."""
    warned = False
    while True:
        try:
            await store.create_indexes()
        except StoreUnavailable as e:
            if not warned:
                log.warning("Session store unavailable (%s). Serving anyway; pages that need a session answer 503", e)
                warned = True
            await asyncio.sleep(10)
        else:
            if warned:
                log.info("MongoDB is answering again")
            return


async def serve(sockets: list, cookie_secret: str | dict[int, str], key_version: int | None) -> None:
    store = open_store(options.session_store)
    indexing = asyncio.create_task(create_indexes(store)) if isinstance(store, MongoStore) else None
    app = make_app(store, cookie_secret, key_version=key_version, debug=options.debug)
    server = tornado.httpserver.HTTPServer(app, xheaders=options.xheaders)
    server.add_sockets(sockets)
    log.info("Serving on http://%s:%d/", options.address, options.port)
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    server.stop()
    log.info("Stopping: no new connections, letting requests in flight finish")
    if not await app.requests_finished(timeout=10):
        log.warning("Stopped with requests still in flight")
    await server.close_all_connections()
    if indexing is not None:
        indexing.cancel()
        closing = store.collection.database.client.close()
        if inspect.isawaitable(closing):  # PyMongo's AsyncMongoClient.close() is a coroutine, Motor's is not
            await closing


def fork_workers(count: int, sockets: list[socket.socket]) -> None:
    """Return in each of `count` new worker processes. The parent stays
    behind, passes SIGTERM and SIGINT on to the workers, and exits when they
    have all stopped (Tornado's fork_processes leaves them running)."""
    workers: set[int] = set()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def pass_on(signum: int, frame: object) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in previous:
        signal.signal(signum, pass_on)
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            return
        workers.add(pid)
    # Only workers listen: once they stop, new connections are refused, not left waiting.
    for sock in sockets:
        sock.close()
    log.info("Started %d worker processes", count)
    failed = False
    while workers:
        pid, status = os.wait()
        workers.discard(pid)
        failed |= os.waitstatus_to_exitcode(status) != 0
    sys.exit(1 if failed else 0)


def main() -> None:
    tornado.options.parse_command_line()
    if options.processes != 1 and options.session_store == "memory":
        raise SystemExit(
            "--processes needs a shared store: in-memory sessions are per process. Use --session-store=mongodb://..."
        )
    cookie_secret, key_version = cookie_secrets()
    # Workers are forked before any event loop or database client exists,
    # which is why this is not one async main().
    sockets = tornado.netutil.bind_sockets(options.port, options.address)
    if options.processes != 1:
        fork_workers(options.processes or tornado.process.cpu_count(), sockets)
    asyncio.run(serve(sockets, cookie_secret, key_version))


if __name__ == "__main__":
    main()
