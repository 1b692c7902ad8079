"""Concurrent requests on one session keep every change, through the real
site on every store: 40 dashboard reloads at once add exactly 40 visits."""

from __future__ import annotations

import asyncio
import re

import pytest
from test_stores import STORE_PARAMS, store_of_kind

pytestmark = pytest.mark.gen_test


@pytest.fixture(params=STORE_PARAMS)
def store(request, io_loop):
    yield from store_of_kind(request.param, io_loop)


def visits(response) -> int:
    return int(re.search(r"viewed this page <strong>(\d+)</strong>", response.body.decode()).group(1))


async def test_forty_dashboard_requests_at_once_add_exactly_forty(browser, store, signed_in):
    browser.hold(await signed_in("demo"))
    assert visits(await browser.get("/dashboard")) == 1
    pages = await asyncio.gather(*(browser.get("/dashboard") for _ in range(40)))
    assert [page.code for page in pages] == [200] * 40
    assert sorted(visits(page) for page in pages) == list(range(2, 42)), "each request saw its own count"
    assert visits(await browser.get("/dashboard")) == 42


async def test_a_change_to_another_key_during_the_flood_is_kept(browser, store, signed_in):
    browser.hold(await signed_in("demo"))
    form = {"_xsrf": await browser.xsrf("/sessions")}
    # Revoking no one writes a flash message (another key) while the counter runs.
    flood = [browser.get("/dashboard") for _ in range(20)]
    revoke = browser.request("/sessions/revoke-others", "POST", form)
    *pages, revoked = await asyncio.gather(*flood, revoke)
    assert revoked.code == 303
    # Every page shows the flash messages waiting for it, so a dashboard that
    # loaded after the revoke shows it there; otherwise the next page does.
    pages.append(await browser.get("/sessions"))
    assert any("Signed out 0 other sessions" in page.body.decode() for page in pages), "the flash message was lost"
    assert visits(await browser.get("/dashboard")) == 21
