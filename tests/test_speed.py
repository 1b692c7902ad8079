"""handlers/speed.py changes nothing a browser receives: each shortcut
answers as Tornado's own code would, on a real server."""

from __future__ import annotations

import re

import pytest
import tornado.template
import tornado.web

from handlers import speed

pytestmark = pytest.mark.gen_test

LINKS = tornado.template.DictLoader({"page.html": "<link href=\"{{ static_url('site.css') }}\">"})
# Each cookie as Tornado's get_cookie reads it, the quoted, the empty and the malformed ones included.
COOKIE_HEADER = 'plain=1; quoted="a b"; empty=; spaced = x ; eq=a=b; %41=percent; broken; last=9'


class Page(speed.FastCookies, speed.FastTemplates):
    def get(self) -> None:
        if self.get_argument("cookies", None):
            names = ["plain", "quoted", "empty", "spaced", "eq", "%41", "A", "broken", "last", "missing"]
            ours = {name: self.get_cookie(name, "-") for name in names}
            tornados = {name: tornado.web.RequestHandler.get_cookie(self, name, "-") for name in names}
            self.write({"ours": ours, "tornados": tornados})
        else:
            self.render("page.html")


def make_app(static_path, **settings) -> tornado.web.Application:
    return tornado.web.Application([(r"/", Page)], static_path=str(static_path), template_loader=LINKS, **settings)


@pytest.fixture
def static(tmp_path):
    (tmp_path / "site.css").write_text("body { color: black }")
    return tmp_path


@pytest.fixture
def app(static):  # pytest-tornado's server runs this app
    return make_app(static)


def link(response) -> str:
    return re.search(r'href="([^"]+)"', response.body.decode()).group(1)


async def test_a_cookie_reads_as_with_tornados_get_cookie(http_client, base_url):
    response = await http_client.fetch(base_url + "/?cookies=1", headers={"Cookie": COOKIE_HEADER})
    answer = tornado.escape.json_decode(response.body)
    assert answer["ours"] == answer["tornados"]
    assert answer["ours"]["quoted"] == "a b" and answer["ours"]["missing"] == "-"


async def test_a_pages_static_url_is_tornados_and_serves_the_file(http_client, base_url, app):
    url = link(await http_client.fetch(base_url + "/"))
    assert url == tornado.web.StaticFileHandler.make_static_url(app.settings, "site.css")
    assert (await http_client.fetch(base_url + url)).body == b"body { color: black }"


async def test_without_the_hash_cache_a_changed_file_gets_a_new_url(http_client, base_url, app, static):
    # Debug mode turns the hash cache off so that an edited file is fetched again: the shortcut steps aside.
    app.settings["static_hash_cache"] = False
    before = link(await http_client.fetch(base_url + "/"))
    (static / "site.css").write_text("body { color: navy }")
    assert link(await http_client.fetch(base_url + "/")) != before
