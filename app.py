"""The demo site: options, routes, session settings, and main().

python app.py                      # in-memory sessions on http://127.0.0.1:8888
python app.py --help               # every option
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

import tornado.process
import tornado.web
from tornado.options import define, options

from auth.clients import describe_client
from auth.login_failures import LoginFailures
from handlers.active_sessions import ActiveSessionsHandler, RevokeOtherSessionsHandler, RevokeSessionHandler
from handlers.auth import LoginHandler, LogoutHandler
from handlers.base import BodyRefusedHandler, StaticHandler
from handlers.dashboard import DashboardHandler
from handlers.home import HomeHandler, NotFoundHandler
from serving import command_line, server, workers
from serving.keys import current_key, key_warning, signing_keys
from serving.storage import close_store, kept_up, open_login_failures, open_store
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
define("retired_cookie_secrets", default="", help="comma-separated older keys, still accepted and re-signed")
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
define("mongodb_driver", default="pymongo", help="pymongo (PyMongo's AsyncMongoClient) or motor (end of life)")
define("login_failure_table", default=100_000, help="accounts whose failed logins memory counts (430 bytes each)")
define("max_sessions_per_user", default=100, help="sessions one user may hold; a login past it ends the oldest")
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
        body_refused_handler=BodyRefusedHandler,
        login_url="/login",
        cookie_secret=cookie_secret,
        key_version=key_version,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
        cross_origin_protection=True,
        # The Tornado form of express's app.use(session({ secret, store, cookie, resave, saveUninitialized })):
        # the key is cookie_secret above; every other setting is in SessionConfig (sessions/config.py).
        session_store=session_store,
        session_config=session_config
        or SessionConfig(describe_client=describe_client, max_sessions_per_user=options.max_sessions_per_user),
        login_failures=open_login_failures(session_store) if login_failures is None else login_failures,
        **settings,
    )


async def run(keys: dict[int, str], current_version: int, made_up_key: bool, sockets: list | None) -> None:
    store = open_configured_store()
    failures = open_login_failures(store, options.login_failure_table)
    async with kept_up(store, failures):  # MongoDB's indexes checked now and then; the client closed at the end
        # A worker has its sockets already; one process takes the port once the store's URL is known good.
        sockets = sockets or command_line.bind_sockets(options.port, options.address)
        if warning := key_warning(keys[current_version], made_up_key):  # once the port is taken: a mistake is one line
            log.warning(warning)
        # With --xheaders the client's address is known: logins share the hashing queue fairly.
        settings = dict(body_memory_bytes=options.body_memory * 2**20, xheaders=options.xheaders, debug=options.debug)
        app = make_app(store, keys, key_version=current_version, login_failures=failures, **settings)
        timeouts = dict(idle_timeout=options.idle_timeout, body_timeout=options.body_timeout)
        await server.serve(app, sockets, xheaders=options.xheaders, **timeouts)


async def check_store() -> None:
    """Open the store and close it, connecting to nothing: a mistake in its URL is found before the port is taken."""
    await close_store(open_configured_store(announce=False))


def open_configured_store(announce: bool = True) -> SessionStore:
    redis = dict(redis_pool_size=options.store_pool_size, redis_wait_replicas=options.redis_wait_replicas)
    return open_store(options.session_store, options.store_timeout, options.mongodb_driver, announce=announce, **redis)


def main() -> None:
    command_line.parse_command_line()  # one line per mistake; --help to standard output
    if options.processes != 1 and options.session_store == "memory":
        raise SystemExit(
            "--processes needs a shared store: in-memory sessions are per process. "
            "Use --session-store=mongodb://... or redis://..."
        )
    if options.login_failure_table < 1:  # 0 would count no account, and lock none
        raise SystemExit(f"--login-failure-table={options.login_failure_table}: at least 1 account")
    secret, made_up = current_key(options.cookie_secret)
    keys, current_version = signing_keys(secret, [key for key in options.retired_cookie_secrets.split(",") if key])
    sockets = None
    # Workers are forked before any event loop or database client exists,
    # which is why this is not one async main(). Each one listens on a socket of its own.
    if options.processes != 1:
        asyncio.run(check_store())
        backoff = functools.partial(workers.Backoff, first=options.worker_restart_wait)
        sockets = workers.fork_workers(
            options.processes or tornado.process.cpu_count(), options.port, options.address, backoff
        )
    asyncio.run(run(keys, current_version, made_up, sockets))


if __name__ == "__main__":
    main()
