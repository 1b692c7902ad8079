"""Helpers for testing an app that uses sessions: put a signed-in session in
the app's store and get the Cookie header that carries it, without going
through a login form (and its password hashing) in every test.

    from sessions.testing import signed_in_cookie

    cookie = await signed_in_cookie(app, "alice", visits=3)
    response = await http_client.fetch(base_url + "/dashboard", headers={"Cookie": cookie})

With pytest and pytest-tornado, ``pytest_plugins = ["sessions.testing"]`` in
a conftest.py gives the ``signed_in`` fixture: ``await signed_in("alice")``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import tornado.web

from .config import SessionConfig
from .cookies import SignedCookies
from .session import Session
from .stores.base import SessionStore


async def create_session(
    store: SessionStore, config: SessionConfig, user: str | None, *, remember: bool = False, **data: Any
) -> str:
    """Store a session as a login would, and return its ID."""
    session = Session(store, config)
    session.update(data)
    session.user, session.remember = user, remember
    await session.save("Test client")
    assert session.id is not None, "a session with no user and no data is not stored"
    return session.id


def cookie_header(app: tornado.web.Application, session_id: str, *, secure: bool = False) -> str:
    """The Cookie header of a browser that holds this session, signed with
    the app's current key, by its clock. ``secure``: as sent over HTTPS (the __Host- name)."""
    settings = app.settings
    config = settings.get("session_config") or SessionConfig()
    name = config.cookie_name
    # The mixin's rule for the name: __Host- when the cookie is Secure.
    is_secure = secure if config.secure == "auto" else config.secure
    if is_secure and config.cookie_domain is None and config.cookie_path == "/":
        name = "__Host-" + name
    return f"{name}={SignedCookies(settings).sign(name, session_id, config.clock)}"


async def signed_in_cookie(
    app: tornado.web.Application, user: str, *, remember: bool = False, secure: bool = False, **data: Any
) -> str:
    """A session for ``user`` (with ``data``) in the app's store, and the
    Cookie header that carries it."""
    config = app.settings.get("session_config") or SessionConfig()
    session_id = await create_session(app.settings["session_store"], config, user, remember=remember, **data)
    return cookie_header(app, session_id, secure=secure)


try:
    import pytest
except ImportError:  # the helpers above need no pytest
    pass
else:

    @pytest.fixture
    def signed_in(app: tornado.web.Application) -> Callable[..., Awaitable[str]]:
        """``await signed_in("alice", visits=3)``: a Cookie header for a new
        session of alice in the store of the test's ``app``."""

        def sign_in(user: str, **options: Any) -> Awaitable[str]:
            return signed_in_cookie(app, user, **options)

        return sign_in
