import tornado.web

import accounts
from handlers.base import BaseHandler


class DashboardHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        session, config = self.session, self.session_config
        session["visits"] = visits = session.get("visits", 0) + 1
        self.render(
            "dashboard.html",
            display_name=accounts.display_name(self.current_user),
            visits=visits,
            session=session,
            # Idle from now on, it ends at the idle timeout or the absolute one, whichever is sooner.
            idle_expiry=config.expires(session.created, config.clock(), session.remember),
            absolute_expiry=config.absolute_expiry(session.created, session.remember),
        )
