import tornado.web

from handlers.base import BaseHandler


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render("home.html")


class NotFoundHandler(BaseHandler):
    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)
