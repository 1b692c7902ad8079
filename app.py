"""The demo site: options, routes, session settings, and main().

python app.py                      # in-memory sessions on http://127.0.0.1:8888
python app.py --help               # every option
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

import tornado.netutil
import tornado.options
import tornado.process
import tornado.web
from tornado.options import define, options

import server
from handlers.active_sessions import ActiveSessionsHandler, RevokeOtherSessionsHandler, RevokeSessionHandler
from handlers.auth import LoginHandler, LogoutHandler
from handlers.dashboard import DashboardHandler
from handlers.home import HomeHandler, NotFoundHandler
from login_failures import LoginFailures
from sessions import MongoStore, SessionConfig, SessionStore
from storage import close_store, create_indexes, open_login_failures, open_store

define("port", default=8888, help="port to listen on")
define("address", default="127.0.0.1", help="address to listen on")
define(
    "session_store",
    default="memory",
    help="'memory', a MongoDB URL such as mongodb://localhost:27017/tornado_sessions, or a Redis URL such as "
    "redis://localhost:6379/0 (rediss:// for TLS)",
)
define("cookie_secret", default=None, help="key that signs cookies (default: env COOKIE_SECRET, else a random one)")
define(
    "retired_cookie_secrets",
    default="",
    help="comma-separated older keys, still accepted and re-signed with the current one",
)
define("xheaders", default=False, help="trust X-Forwarded-Proto/-For from a TLS-terminating proxy")
define("processes", default=1, help="worker processes (0: one per CPU); more than 1 needs MongoDB or Redis")
define("mongodb_timeout", default=3.0, help="seconds to wait for MongoDB before a request gets the 503 page")
define("redis_timeout", default=3.0, help="seconds to wait for Redis before a request gets the 503 page")
define("debug", default=False, help="reload on code changes, show tracebacks")

HERE = Path(__file__).parent
log = logging.getLogger("app")


def make_app(
    session_store: SessionStore,
    cookie_secret: str | dict[int, str],
    *,
    key_version: int | None = None,
    session_config: SessionConfig | None = None,
    login_failures: LoginFailures | None = None,
    **settings,
) -> tornado.web.Application:
    return server.Site(
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
        login_failures=login_failures or open_login_failures(session_store),
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


async def run(sockets: list, cookie_secret: str | dict[int, str], key_version: int | None) -> None:
    store = open_store(options.session_store, options.mongodb_timeout, options.redis_timeout)
    failures = open_login_failures(store)
    indexing = asyncio.create_task(create_indexes(store, failures)) if isinstance(store, MongoStore) else None
    app = make_app(store, cookie_secret, key_version=key_version, login_failures=failures, debug=options.debug)
    await server.serve(app, sockets, xheaders=options.xheaders, address=options.address, port=options.port)
    if indexing is not None:
        indexing.cancel()
    await close_store(store)


def main() -> None:
    tornado.options.parse_command_line()
    if options.processes != 1 and options.session_store == "memory":
        raise SystemExit(
            "--processes needs a shared store: in-memory sessions are per process. "
            "Use --session-store=mongodb://... or redis://..."
        )
    cookie_secret, key_version = cookie_secrets()
    # Workers are forked before any event loop or database client exists,
    # which is why this is not one async main().
    sockets = tornado.netutil.bind_sockets(options.port, options.address)
    if options.processes != 1:
        server.fork_workers(options.processes or tornado.process.cpu_count(), sockets)
    asyncio.run(run(sockets, cookie_secret, key_version))


if __name__ == "__main__":
    main()
