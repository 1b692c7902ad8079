"""Behind the proxy (--xheaders) the site knows each client's address: one
address holds only a small share of the login hashing queue, so a flood
from a few addresses leaves room for everyone else. Real scrypt, real HTTP
through the real server, X-Forwarded-For as the proxy sets it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import urllib.parse

import pytest
import tornado.httpclient
from conftest import COOKIE_SECRET, Browser

from app import make_app
from auth import accounts

ATTACKERS = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
CONNECTIONS_EACH = 8  # 24 in all: the hashing queue has 10 places
USER = "198.51.100.7"


@pytest.fixture
def cheap_hashing():
    """Not here: the flood must cost what it costs."""


@pytest.fixture
def xheaders_setting(request) -> bool:
    """What the app is told: that the server believes X-Forwarded-For (app.py --xheaders)."""
    return getattr(request, "param", True)


@pytest.fixture
def app(store, session_config, xheaders_setting):
    return make_app(store, COOKIE_SECRET, session_config=session_config, xheaders=xheaders_setting)


async def flood(client: tornado.httpclient.AsyncHTTPClient, base_url: str, address: str, answers: list[int]) -> None:
    """One attacking connection: wrong passwords under made-up usernames, as fast as they are answered."""
    page = await client.fetch(base_url + "/login", headers={"X-Forwarded-For": address})
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.body.decode()).group(1)
    while True:
        form = {"_xsrf": token, "username": secrets.token_hex(6), "password": "wrong"}
        response = await client.fetch(
            base_url + "/login",
            method="POST",
            body=urllib.parse.urlencode(form),
            headers={"X-Forwarded-For": address, "Cookie": cookie},
            raise_error=False,
            request_timeout=60,
        )
        answers.append(response.code)


async def logins_during_a_flood(base_url: str, attempts: int) -> tuple[list[int], list[int]]:
    flooding = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=len(ATTACKERS) * CONNECTIONS_EACH)
    user_client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    flood_answers: list[int] = []
    attackers = [
        asyncio.ensure_future(flood(flooding, base_url, address, flood_answers))
        for address in ATTACKERS
        for _ in range(CONNECTIONS_EACH)
    ]
    user_answers = []
    try:
        while len(flood_answers) < 50:  # the flood is on
            await asyncio.wait(attackers, timeout=0.05, return_when=asyncio.FIRST_EXCEPTION)
            for attacker in attackers:
                if attacker.done():
                    attacker.result()  # its error, if it stopped
        for _ in range(attempts):
            user = Browser(user_client, base_url)
            response = await user.login(headers={"X-Forwarded-For": USER}, request_timeout=60)
            user_answers.append(response.code)
    finally:
        for attacker in attackers:
            attacker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*attackers, return_exceptions=True)
        flooding.close()
        user_client.close()
        for _ in range(1200):  # the logins in flight when the flood stopped finish hashing
            if accounts._logins_hashing == 0:
                break
            await asyncio.sleep(0.05)
    return user_answers, flood_answers


@pytest.mark.slow  # a real flood of scrypt logins: seconds of hashing
@pytest.mark.gen_test(timeout=300)
async def test_a_user_at_another_address_logs_in_during_a_flood_from_three_addresses(http_server, base_url):
    user_answers, flood_answers = await logins_during_a_flood(base_url, attempts=10)
    assert user_answers.count(303) >= 9, user_answers
    assert 429 in flood_answers, "each attacking address was held to its share"
    assert set(flood_answers) <= {200, 429, 503}, set(flood_answers)
    assert (accounts._logins_hashing, accounts._held_by) == (0, {}), "every place given back"


@pytest.mark.gen_test(timeout=300)
@pytest.mark.parametrize("xheaders_setting", [False], indirect=True)
async def test_without_xheaders_every_login_shares_one_queue(http_server, base_url, xheaders_setting):
    # Without the proxy's word, every address is the proxy's: no share per
    # address, so the flood takes the whole queue (why docs/security.md asks
    # the proxy to limit logins per address).
    user_answers, flood_answers = await logins_during_a_flood(base_url, attempts=3)
    assert 429 not in flood_answers
    assert 503 in user_answers + flood_answers
