"""A page rendered from a stencil (handlers/speed.py) is, byte for byte, the
page Tornado renders from the same template and values: no value of one
request is left in the part rendered once and shown to the next."""

from __future__ import annotations

import json

import pytest
import tornado.httpclient

from handlers import speed
from handlers.base import BaseHandler

pytestmark = pytest.mark.gen_test

# Requests as different as the dashboard's get: who, their counts and flags, flashes, and
# names that need escaping. Each renders after the ones before it, from the same stencils.
VISITS = [
    {"user": "demo", "visits": 1, "remember": False, "idle_first": True, "flashes": []},
    {"user": "<b>&'\"", "visits": 2, "remember": False, "idle_first": True, "flashes": []},
    {"user": "demo", "visits": 7, "remember": True, "idle_first": False, "flashes": [["success", "Signed <out>"]]},
    {"user": "zoë", "visits": 8, "remember": True, "idle_first": False, "flashes": []},
    {"user": "demo", "visits": 1, "remember": False, "idle_first": True, "flashes": [["error", "a & b"]]},
]


class BothWays(BaseHandler):
    """The dashboard's template, from its stencil and from Tornado's render."""

    async def prepare(self) -> None:  # the values come from the test, not a session
        self.visit = json.loads(self.get_argument("visit"))
        self.current_user = self.visit["user"]

    def flashes(self) -> list[tuple[str, str]]:
        return [tuple(flash) for flash in self.visit["flashes"]]

    def get(self) -> None:
        visit = self.visit
        shape = {
            "one_visit": visit["visits"] == 1,
            "ends_idle_first": visit["idle_first"],
            "remember": visit["remember"],
        }
        values = {"visits": visit["visits"], "started": "S<1>", "ends_if_idle": "I&2", "ends_at_the_latest": "L'3"}
        from_stencil = self.stencil_page(self.get_argument("template"), shape, values)
        # Tornado's own: render_string with the layout's names from get_template_namespace().
        full = self.render_string(self.get_argument("template"), **shape, **values)
        self.write({"stencil": from_stencil.decode(), "full": full.decode()})


@pytest.fixture
def app(app):
    app.add_handlers(r".*", [(r"/dashboard", BothWays)])  # the layout marks the dashboard's link as current
    return app


async def both(http_client, base_url, visit: dict, template: str = "dashboard.html") -> dict:
    query = tornado.httputil.url_concat(base_url + "/dashboard", {"visit": json.dumps(visit), "template": template})
    return json.loads((await http_client.fetch(query)).body)


async def test_each_request_gets_the_page_tornado_would_render(http_client, base_url):
    for visit in VISITS:
        pages = await both(http_client, base_url, visit)
        assert pages["stencil"] == pages["full"]
        assert "\x00" not in pages["stencil"]


@pytest.fixture
def templates(app, tmp_path):
    """The site's layout beside a page written for the test."""
    (tmp_path / "base.html").write_text((app.settings["template_path"] / "base.html").read_text())
    app.settings["template_path"] = tmp_path
    return tmp_path


async def test_a_template_that_computes_on_a_per_request_value_is_caught(http_client, base_url, templates):
    # The name's first letters, computed once, would be everyone's: the comparison says so.
    (templates / "leaky.html").write_text('{% extends "base.html" %}{% block body %}{{ user_name[:4] }}{% end %}')
    pages = [await both(http_client, base_url, visit, "leaky.html") for visit in VISITS[:2]]
    assert any(page["stencil"] != page["full"] for page in pages)


async def test_a_template_that_reaches_past_its_names_fails_at_once(http_client, base_url, templates):
    (templates / "reaching.html").write_text('{% extends "base.html" %}{% block body %}{{ request.uri }}{% end %}')
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await both(http_client, base_url, VISITS[0], "reaching.html")
    assert refused.value.code == 500


async def test_the_stencils_kept_are_bounded(http_client, base_url, app, monkeypatch):
    # Flash messages are part of a stencil's shape: however many differ, a few stencils are kept.
    monkeypatch.setattr(speed, "STENCILS_KEPT", 3)
    for number in range(5):
        visit = {**VISITS[0], "flashes": [["success", f"message {number}"]]}
        pages = await both(http_client, base_url, visit)
        assert pages["stencil"] == pages["full"]
        assert len(app.__dict__["_stencils"]) <= 3
