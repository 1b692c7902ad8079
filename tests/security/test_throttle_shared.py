"""The login throttle holds across processes: its counts live in MongoDB
with the sessions, so guesses spread over two servers still add up."""

from __future__ import annotations

import pytest
import tornado.httpserver
import tornado.testing
from conftest import COOKIE_SECRET, Browser

from app import make_app
from auth import throttle
from sessions import MongoStore

pytestmark = pytest.mark.gen_test


@pytest.fixture
def store(shared_database):
    return MongoStore(shared_database["sessions"])


async def test_failures_on_one_server_throttle_the_other(http_client, base_url, session_config, shared_database, clock):
    second_app = make_app(MongoStore(shared_database["sessions"]), COOKIE_SECRET, session_config=session_config)
    sock, port = tornado.testing.bind_unused_port()
    second_server = tornado.httpserver.HTTPServer(second_app)
    second_server.add_sockets([sock])
    try:
        for n in range(throttle.FREE_ATTEMPTS):
            server = base_url if n % 2 else f"http://127.0.0.1:{port}"
            assert (await Browser(http_client, server).login(password="wrong")).code == 200
        assert (await Browser(http_client, base_url).login()).code == 429
        assert (await Browser(http_client, f"http://127.0.0.1:{port}").login()).code == 429
        clock.advance(throttle.FIRST_WAIT)
        assert (await Browser(http_client, f"http://127.0.0.1:{port}").login()).code == 303
        assert (await Browser(http_client, base_url).login(password="wrong")).code == 200, "the count was reset"
    finally:
        second_server.stop()
        await second_server.close_all_connections()
