"""The site plus one bench-only page: the dashboard with no session behind it.

PYTHONPATH=. python bench/page_without_session.py --port=8889 --cookie-secret=KEY --logging=warning

bench/load.py compares /bench/dashboard-without-session here with the real
/dashboard of `python app.py`: same template, same headers, same settings,
served by the same server (serving/server.py, with its timeouts); the
difference is what sessions cost. The route lives here, never in app.py.
"""

from __future__ import annotations

import asyncio
import time

import tornado.options
from tornado.options import options

from app import make_app
from handlers.base import BaseHandler, format_time
from serving import command_line, server
from sessions import MemoryStore


class DashboardWithoutSession(BaseHandler):
    visits = 0

    async def prepare(self) -> None:
        self.current_user = "demo"

    def get(self) -> None:
        DashboardWithoutSession.visits += 1
        now = time.time()
        self.render_stencil(
            "dashboard.html",
            shape={"one_visit": self.visits == 1, "ends_idle_first": True, "remember": False},
            values={
                "visits": self.visits,
                "started": format_time(now),
                "ends_if_idle": format_time(now + 30 * 60),
                "ends_at_the_latest": format_time(now + 8 * 3600),
            },
        )


async def main() -> None:
    tornado.options.parse_command_line()
    app = make_app(MemoryStore(), options.cookie_secret)
    app.add_handlers(r".*", [(r"/bench/dashboard-without-session", DashboardWithoutSession)])
    sockets = command_line.bind_sockets(options.port, options.address)
    await server.serve(
        app, sockets, xheaders=False, idle_timeout=options.idle_timeout, body_timeout=options.body_timeout
    )


if __name__ == "__main__":
    asyncio.run(main())
