"""Speed work shared by every page, kept here so that base.py reads as the
lesson. Nothing here changes what a browser receives; each piece stays
because callgrind shows it pays (bench/instructions.py, docs/performance.md).
"""

from __future__ import annotations

from typing import Any

import tornado.web
from tornado import httputil


class FastCookies(tornado.web.RequestHandler):
    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        # Tornado makes an http.cookies.Morsel of every cookie to read one
        # value; the plain dict that its own parser returns is enough.
        if not hasattr(self, "_cookie_values"):
            self._cookie_values = httputil.parse_cookie(self.request.headers.get("Cookie", ""))
        return self._cookie_values.get(name, default)


class StaticURLs(dict[str, str]):
    """``static_url(path)`` for templates: each file's versioned URL, worked
    out once per process, where Tornado finds the file's hash again (a lock,
    path checks) on every call."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.settings = settings

    def __missing__(self, path: str) -> str:
        handler_class = self.settings.get("static_handler_class", tornado.web.StaticFileHandler)
        self[path] = url = handler_class.make_static_url(self.settings, path)
        return url


class FastTemplates(tornado.web.RequestHandler):
    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        # Without the hash cache (debug mode) Tornado rereads each file to
        # see it changed: so does every page then.
        if self.settings.get("static_hash_cache", True):
            urls = self.application.__dict__.get("_static_urls")
            if urls is None:
                urls = self.application.__dict__["_static_urls"] = StaticURLs(self.settings)
            namespace["static_url"] = urls.__getitem__
        return namespace
