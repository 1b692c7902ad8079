import tornado.web

from auth import accounts
from handlers.base import BaseHandler


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
        self.render(
            "dashboard.html",
            display_name=accounts.display_name(self.current_user),
            visits=visits,
            session=session,
            # Idle from now on, it ends at the idle timeout or the absolute one, whichever is sooner.
            idle_expiry=config.expires(session.created, config.clock(), session.remember),
            absolute_expiry=config.absolute_expiry(session.created, session.remember),
        )
