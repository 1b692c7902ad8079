"""sessions/cookies.py on its own: the cookie_secret check, and the memory
of verified signatures (its bound, and its end at each signature's age
limit by the configured clock)."""

from __future__ import annotations

import logging
import secrets

import pytest
from conftest import FakeClock

from sessions import CookieSecretError, SignedCookies

SECRET = "a-secret-of-thirty-two-bytes-or-more"
MAX_AGE_DAYS = 14


def new_id() -> str:
    return secrets.token_urlsafe(32)


def test_a_verified_cookie_is_remembered_until_its_signatures_age_limit_by_the_configured_clock():
    clock = FakeClock()
    cookies = SignedCookies({"cookie_secret": SECRET})
    session_id = new_id()
    cookie = cookies.sign("session", session_id, clock)
    assert cookies.session_id("session", cookie, MAX_AGE_DAYS, clock) == session_id
    assert len(cookies) == 1, "remembered"
    clock.advance(MAX_AGE_DAYS * 86400 - 1)
    assert cookies.session_id("session", cookie, MAX_AGE_DAYS, clock) == session_id
    clock.advance(2)
    assert cookies.session_id("session", cookie, MAX_AGE_DAYS, clock) is None, "past the age limit"


def test_the_memory_of_verified_cookies_is_bounded():
    clock = FakeClock()
    cookies = SignedCookies({"cookie_secret": SECRET}, max_remembered=3)
    signed = [cookies.sign("session", new_id(), clock) for _ in range(10)]
    for cookie in signed:
        assert cookies.session_id("session", cookie, MAX_AGE_DAYS, clock) is not None
        assert len(cookies) <= 3
    assert len(cookies) == 3
    assert cookies.session_id("session", signed[0], MAX_AGE_DAYS, clock) is not None, "forgotten, checked again"


def test_a_bad_signature_or_another_cookies_name_is_never_remembered():
    clock = FakeClock()
    cookies = SignedCookies({"cookie_secret": SECRET})
    cookie = cookies.sign("session", new_id(), clock)
    assert cookies.session_id("session", cookie[:-1] + ("0" if cookie[-1] != "0" else "1"), 14, clock) is None
    assert cookies.session_id("other", cookie, MAX_AGE_DAYS, clock) is None
    assert cookies.session_id("session", cookies.sign("session", "not-a-session-id", clock), 14, clock) is None
    assert len(cookies) == 0


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({}, "set the application setting cookie_secret"),
        ({"cookie_secret": ""}, "set the application setting cookie_secret"),
        ({"cookie_secret": 12345}, "set the application setting cookie_secret"),
        ({"cookie_secret": {1: SECRET}}, "set the application setting key_version"),
        ({"cookie_secret": {1: SECRET}, "key_version": 2}, "set the application setting key_version"),
        ({"cookie_secret": {1: SECRET, 2: ""}, "key_version": 1}, "set the application setting cookie_secret"),
    ],
)
def test_a_secret_that_cannot_sign_is_refused_saying_what_to_set(settings, says):
    with pytest.raises(CookieSecretError, match=says):
        SignedCookies(settings)


def test_a_short_secret_is_accepted_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="sessions"):
        SignedCookies({"cookie_secret": "short"})
        SignedCookies({"cookie_secret": {1: SECRET, 2: "short"}, "key_version": 2})
        SignedCookies({"cookie_secret": SECRET})
    assert [r.getMessage() for r in caplog.records].count(
        "cookie_secret has a key shorter than 32 bytes: use for example secrets.token_hex(32), "
        "kept the same across restarts"
    ) == 2
