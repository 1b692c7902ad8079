import tornado.web

from handlers.base import BaseHandler, format_time


class DashboardHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        session = self.session
        if self.request.method == "HEAD":  # safe: the page a GET would show, without counting it
            self.show(session.get("visits", 0) + 1)
            return
        # Express: req.session.views = (req.session.views || 0) + 1, which
        # loses a count when two requests overlap. The store adds atomically.
        visits = await session.increment("visits")
        self.show(visits)

    def show(self, visits: int) -> None:
        session, config = self.session, self.session_config
        # Idle from now on, it ends at the idle timeout or the absolute one, whichever is sooner.
        idle_end = config.expires(session.created, config.clock(), session.remember)
        latest_end = config.absolute_expiry(session.created, session.remember)
        # The hot page: rendered once per shape, then filled in (handlers/speed.py).
        self.render_stencil(
            "dashboard.html",
            shape={"one_visit": visits == 1, "ends_idle_first": idle_end < latest_end, "remember": session.remember},
            values={
                "visits": visits,
                "started": format_time(session.created),
                "ends_if_idle": format_time(idle_end),
                "ends_at_the_latest": format_time(latest_end),
            },
        )
