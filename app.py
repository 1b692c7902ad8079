"""The demo site: options, routes, session settings, and main().

python app.py                      # in-memory sessions on http://127.0.0.1:8888
python app.py --help               # every option
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import tornado.process
import tornado.web
from tornado.options import define, options

from auth.clients import describe_client
from auth.login_failures import LoginFailures
from handlers.active_sessions import ActiveSessionsHandler, RevokeOtherSessionsHandler, RevokeSessionHandler
from handlers.auth import LoginHandler, LogoutHandler
from handlers.base import BodyTooLargeHandler, StaticHandler
from handlers.dashboard import DashboardHandler
from handlers.home import HomeHandler, NotFoundHandler
from serving import server
from serving.keys import current_key, signing_keys
from serving.storage import kept_up, open_login_failures, open_store
from sessions import SessionConfig, SessionStore

define("port", default=8888, help="port to listen on")
define("address", default="127.0.0.1", help="address to listen on")
define(
    "session_store",
    default="memory",
    help="'memory', a MongoDB URL such as mongodb://localhost:27017/tornado_sessions, or a Redis URL such as "
    "redis://localhost:6379/0 (rediss:// for TLS; redis+sentinel://, redis+cluster://: docs/persistence.md)",
)
define("cookie_secret", default=None, help="key that signs cookies (default: env COOKIE_SECRET, else a random one)")
define(
    "retired_cookie_secrets",
    default="",
    help="comma-separated older keys, still accepted and re-signed with the current one",
)
define(
    "xheaders",
    default=False,
    help="behind a TLS-terminating proxy: trust its X-Forwarded-Proto and X-Forwarded-For (last address) headers; "
    "X-Scheme and X-Real-Ip are ignored",
)
define("processes", default=1, help="worker processes (0: one per CPU); more than 1 needs MongoDB or Redis")
define("store_timeout", default=3.0, help="seconds to wait for MongoDB or Redis before a request gets the 503 page")
define("store_pool_size", default=100, help="connections per Redis server per process; more wait their turn")
define("redis_wait_replicas", default=0, help="a session write is confirmed once this many Redis replicas hold it")
define("mongodb_driver", default="motor", help="motor, or pymongo for PyMongo's AsyncMongoClient (Motor's successor)")
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
        static_handler_class=StaticHandler,
        default_handler_class=NotFoundHandler,
        # Every form here is tiny: a larger body gets a 413 page before it is read.
        max_body_bytes=64 * 1024,
        body_too_large_handler=BodyTooLargeHandler,
        login_url="/login",
        cookie_secret=cookie_secret,
        key_version=key_version,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
        cross_origin_protection=True,
        # The Tornado form of express's app.use(session({ secret, store, cookie, resave, saveUninitialized })):
        # the key is cookie_secret above; every other setting is in SessionConfig (sessions/config.py).
        session_store=session_store,
        session_config=session_config or SessionConfig(describe_client=describe_client),
        login_failures=open_login_failures(session_store) if login_failures is None else login_failures,
        **settings,
    )


async def run(sockets: list, keys: dict[int, str], current_version: int, made_up_key: bool) -> None:
    store = open_store(
        options.session_store,
        options.store_timeout,
        options.mongodb_driver,
        redis_pool_size=options.store_pool_size,
        redis_wait_replicas=options.redis_wait_replicas,
    )
    if made_up_key:  # said after open_store, so that a mistake in --session-store stays one line
        log.warning("No --cookie-secret or COOKIE_SECRET: using a random key, so sessions end when the server stops")
    failures = open_login_failures(store)
    async with kept_up(store, failures):  # MongoDB's indexes checked now and then; the client closed at the end
        app = make_app(store, keys, key_version=current_version, login_failures=failures, debug=options.debug)
        await server.serve(app, sockets, xheaders=options.xheaders, address=options.address, port=options.port)


def main() -> None:
    server.parse_command_line()  # tornado.options.parse_command_line(), one line per mistake
    if options.processes != 1 and options.session_store == "memory":
        raise SystemExit(
            "--processes needs a shared store: in-memory sessions are per process. "
            "Use --session-store=mongodb://... or redis://..."
        )
    sockets = server.bind_sockets(options.port, options.address)
    secret, made_up = current_key(options.cookie_secret)
    keys, current_version = signing_keys(secret, [key for key in options.retired_cookie_secrets.split(",") if key])
    # Workers are forked before any event loop or database client exists,
    # which is why this is not one async main().
    if options.processes != 1:
        server.fork_workers(options.processes or tornado.process.cpu_count(), sockets)
    asyncio.run(run(sockets, keys, current_version, made_up))


if __name__ == "__main__":
    main()
