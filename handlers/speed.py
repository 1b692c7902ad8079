"""Speed work, kept here so that base.py reads as the lesson: Tornado's
cookie reading and static URLs made cheaper, and stencils, a template
rendered once and filled in on each request (the dashboard's). Nothing here
changes what a browser receives; each piece stays because callgrind shows
it pays (bench/instructions.py, docs/performance.md).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

import tornado.web
from tornado import httputil
from tornado.escape import xhtml_escape

# A per-request value's slot as the template printed it: escaped (&amp;) or raw (&).
_SLOT = re.compile(rb"\x00(\w+)(&amp;|&)\x00")
STENCILS_KEPT = 256


class FastCookies(tornado.web.RequestHandler):
    _cookie_values: dict[str, str] | None = None

    def get_cookie(self, name: str, default: str | None = None) -> str | None:
        # Tornado makes an http.cookies.Morsel of every cookie to read one
        # value; the plain dict that its own parser returns is enough.
        if self._cookie_values is None:
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
        namespace["static_url"] = self.template_static_url()
        return namespace

    def template_static_url(self) -> Any:
        # Without the hash cache (debug mode) Tornado rereads each file to
        # see it changed: so does every page then.
        if not self.settings.get("static_hash_cache", True):
            return self.static_url
        urls = self.application.__dict__.get("_static_urls")
        if urls is None:
            urls = self.application.__dict__["_static_urls"] = StaticURLs(self.settings)
        return urls.__getitem__


def slot(name: str) -> str:
    return f"\x00{name}&\x00"


class Stencil:
    """A page rendered once with a slot for each per-request value, cut at the slots."""

    def __init__(self, page: bytes) -> None:
        parts = _SLOT.split(page)
        self.text = parts[0::3]
        self.slots = [
            (name.decode(), escaped == b"&amp;") for name, escaped in zip(parts[1::3], parts[2::3], strict=True)
        ]

    def fill(self, values: dict[str, Any]) -> bytes:
        page = [self.text[0]]
        for (name, escaped), text in zip(self.slots, self.text[1:], strict=True):
            value = values[name]
            value = value() if callable(value) else value
            value = value.decode() if isinstance(value, bytes) else str(value)
            page += [(xhtml_escape(value) if escaped else value).encode(), text]
        return b"".join(page)


class Stencils(FastTemplates):
    """``render_stencil(name, shape, values)`` answers what ``render(name,
    **shape, **values)`` would, byte for byte, but renders the template once
    per shape: ``values`` change on every request and are only printed by
    the template, never tested or computed on; ``shape`` holds what its
    ``{% if %}``s and loops test. The stencil's render sees those names, the
    layout's (``layout_names()``), ``static_url`` and ``xsrf_form_html`` only,
    so a template that reaches for anything else fails at once.
    tests/test_stencils.py holds each page to Tornado's own render."""

    def layout_names(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {}  # the layout's shape and values: the site's base handler says

    def render_stencil(self, template_name: str, shape: dict[str, Any], values: dict[str, Any]) -> Awaitable[None]:
        return self.finish(self.stencil_page(template_name, shape, values))

    def stencil_page(self, template_name: str, shape: dict[str, Any], values: dict[str, Any]) -> bytes:
        layout_shape, layout_values = self.layout_names()
        shape, values = {**layout_shape, **shape}, {**layout_values, **values, "xsrf_form_html": self.xsrf_form_html}
        if not self.settings.get("compiled_template_cache", True):  # debug mode: templates reload
            return self.render_string(template_name, **shape, **values)
        stencils = self.application.__dict__.setdefault("_stencils", {})
        key = (template_name, *shape.items())
        stencil = stencils.get(key)
        if stencil is None:
            if len(stencils) >= STENCILS_KEPT:
                stencils.clear()
            stencil = stencils[key] = Stencil(self.render_once(template_name, shape, values))
        return stencil.fill(values)

    def render_once(self, template_name: str, shape: dict[str, Any], values: dict[str, Any]) -> bytes:
        loaders = self.application.__dict__.setdefault("_stencil_loaders", {})
        path = self.get_template_path()
        if path not in loaders:
            loaders[path] = self.create_template_loader(path)
        namespace = {name: slot(name) for name in values}
        namespace.update(shape, static_url=self.template_static_url())
        namespace["xsrf_form_html"] = lambda: slot("xsrf_form_html")
        return loaders[path].load(template_name).generate(**namespace)
