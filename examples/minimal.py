"""The Express article's app in Tornado: python examples/minimal.py [--port=8888], then open /."""

import asyncio
import secrets
import sys
from pathlib import Path

import tornado.web
from tornado.options import define, options, parse_command_line

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the sessions package, one folder up
from sessions import MemoryStore, SessionConfig, SessionMixin  # noqa: E402


class BaseHandler(SessionMixin):
    async def prepare(self):
        await self.load_session()  # what express-session's middleware does before every route

    def write_error(self, status_code, **kwargs):  # a page that says why, not Tornado's bare "403: Forbidden"
        why = getattr(kwargs.get("exc_info", (None,) * 3)[1], "log_message", None)  # e.g. "'_xsrf' argument missing"
        self.render("error.html", status=f"{status_code} {self._reason}", why=why)


class HomeHandler(BaseHandler):
    def get(self):
        self.render("home.html", name=self.session.user)


class LoginHandler(BaseHandler):
    def get(self):
        self.render("login.html")

    def post(self):
        self.session.regenerate(keep=())  # req.session.regenerate(): a new ID, so one planted before is useless
        self.session.user = self.get_body_argument("name").strip() or None  # req.session.userId = ...
        self.redirect("/dashboard", status=303)


class DashboardHandler(BaseHandler):
    async def get(self):
        if not self.session.user:  # if (!req.session.userId): the article sends "Unauthorized" (a 200)
            return self.redirect("/login")
        visits = await self.session.increment("visits")  # stored at once and atomically: two tabs both count
        self.render("dashboard.html", name=self.session.user, visits=visits)


class LogoutHandler(BaseHandler):
    def post(self):  # a POST with the form's XSRF token: any site could make a browser GET /logout
        self.session.destroy()  # req.session.destroy(): the record is deleted, the cookie cleared
        self.redirect("/login", status=303)


def make_app():
    routes = [
        ("/", HomeHandler),
        ("/login", LoginHandler),
        ("/dashboard", DashboardHandler),
        ("/logout", LogoutHandler),
    ]
    # app.use(session({ secret, store, resave: false, saveUninitialized: false })) in Tornado:
    session = dict(cookie_secret=secrets.token_urlsafe(32), session_store=MemoryStore(), session_config=SessionConfig())
    return tornado.web.Application(routes, **session, xsrf_cookies=True, template_path=HERE / "templates")


async def main():
    define("port", default=8888, help="port to listen on")  # here: importing this file (the tests do) adds no option
    parse_command_line()
    make_app().listen(options.port, "127.0.0.1", max_body_size=64 * 1024, idle_connection_timeout=10, body_timeout=5)
    print(f"Listening on http://127.0.0.1:{options.port}/ (Ctrl+C stops)", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
