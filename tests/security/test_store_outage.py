"""The store goes down: every page that needs it says 503 and what to do,
and nothing about the database, the cookie or the code leaks out."""

from __future__ import annotations

import secrets
import socket

import pytest
from motor.motor_asyncio import AsyncIOMotorClient

from app import make_app
from security.conftest import body, sign
from sessions import MongoStore
from sessions.mixin import STORE_WARNING_EVERY

pytestmark = pytest.mark.gen_test


@pytest.fixture
def closed_port():
    """Bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def app(session_config, closed_port, io_loop):
    client = AsyncIOMotorClient(
        f"mongodb://127.0.0.1:{closed_port}/tornado_sessions", serverSelectionTimeoutMS=200, connectTimeoutMS=200
    )
    yield make_app(
        MongoStore(client.get_default_database()["sessions"]), "outage-secret", session_config=session_config
    )
    client.close()


async def test_store_outage_is_a_503_that_leaks_nothing(browser, closed_port):
    cookie = sign(secrets.token_urlsafe(32), secret="outage-secret")
    token = await browser.xsrf()
    answers = [
        await browser.get("/dashboard", headers={"Cookie": f"session={cookie}"}),
        await browser.get("/sessions", headers={"Cookie": f"session={cookie}"}),
        await browser.post("/login", {"username": "demo", "password": "demo-password", "_xsrf": token}),
    ]
    for response in answers:
        assert response.code == 503, response.code
        assert response.headers["Retry-After"] == "5"
        assert response.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Nothing was lost; try again in a few seconds." in body(response)
        page = body(response).lower()
        for secret in ("mongo", "traceback", "error:", "timeout", str(closed_port), cookie.lower()[:30]):
            assert secret not in page
        assert not any(c.startswith("session=") for c in response.headers.get_list("Set-Cookie")), (
            "an outage is not a logout"
        )


async def test_an_outage_logs_one_warning_every_10_seconds_with_the_count_held_back(browser, clock, caplog):
    cookie = {"Cookie": f"session={sign(secrets.token_urlsafe(32), secret='outage-secret')}"}
    login = {"username": "demo", "password": "wrong", "_xsrf": await browser.xsrf()}

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "session store unavailable" in r.getMessage()]

    for _ in range(3):  # loading a session fails, and so does the throttle's read at login
        assert (await browser.get("/dashboard", headers=cookie)).code == 503
        assert (await browser.request("/login", "POST", login)).code == 503
    assert len(warnings()) == 1
    clock.advance(STORE_WARNING_EVERY)
    assert (await browser.get("/dashboard", headers=cookie)).code == 503
    assert len(warnings()) == 2 and warnings()[1].endswith("(and 5 more like it in the 10 s before, not logged)")
