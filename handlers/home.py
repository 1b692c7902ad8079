import tornado.web

from handlers.base import BaseHandler


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render("home.html")


class NotFoundHandler(BaseHandler):
    def check_xsrf_cookie(self) -> None:
        raise tornado.web.HTTPError(404)  # nothing here to take a form, whatever the method

    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)
