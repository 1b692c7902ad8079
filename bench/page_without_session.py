"""The site plus one bench-only page: the dashboard with no session behind it.

PYTHONPATH=. python bench/page_without_session.py --port=8889 --cookie-secret=KEY --logging=warning

bench/load.py compares /bench/dashboard-without-session here with the real
/dashboard of `python app.py`: same template, same headers, same settings;
the difference is what sessions cost. The route lives here, never in app.py.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import tornado.options
from tornado.options import options

from app import make_app
from auth import accounts
from handlers.base import BaseHandler
from sessions import MemoryStore


class DashboardWithoutSession(BaseHandler):
    visits = 0

    async def prepare(self) -> None:
        self.current_user = "demo"

    def get(self) -> None:
        DashboardWithoutSession.visits += 1
        now = time.time()
        self.render(
            "dashboard.html",
            display_name=accounts.display_name(self.current_user),
            visits=self.visits,
            session=SimpleNamespace(created=now, last_seen=now, remember=False),
            idle_expiry=now + 30 * 60,
            absolute_expiry=now + 8 * 3600,
        )


async def main() -> None:
    tornado.options.parse_command_line()
    app = make_app(MemoryStore(), options.cookie_secret)
    app.add_handlers(r".*", [(r"/bench/dashboard-without-session", DashboardWithoutSession)])
    app.listen(options.port, options.address)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
