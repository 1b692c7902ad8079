"""MongoStore tells an outage (try again: 503) from an error that retrying
will not cure (bad credentials, missing privileges, a conflicting index, a
document over 16 MB): those are logged once, at ERROR, with what to do."""

from __future__ import annotations

import logging
import secrets

import pytest
import tornado.web
from conftest import COOKIE_SECRET, TEST_NOW
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect, DocumentTooLarge, NotPrimaryError, OperationFailure

from sessions import Changes, MongoStore, StoreMisconfigured, StoreUnavailable

pytestmark = pytest.mark.gen_test


def sign_session_cookie() -> str:
    """What a browser that logged in before the trouble still sends."""
    session_id = secrets.token_urlsafe(32)
    return tornado.web.create_signed_value(
        COOKIE_SECRET, "session", session_id, version=2, clock=lambda: TEST_NOW
    ).decode()


class FailingCollection:
    """A real mongomock-motor collection whose chosen methods raise an error
    of the driver's, as a real server would answer."""

    def __init__(self, collection, errors: dict[str, Exception]) -> None:
        self.collection = collection
        self.errors = errors

    def __getattr__(self, name: str):
        if name not in self.errors:
            return getattr(self.collection, name)

        async def fail(*args, **kwargs):
            raise self.errors[name]

        return fail


def store_failing(errors: dict[str, Exception]) -> MongoStore:
    return MongoStore(FailingCollection(AsyncMongoMockClient(tz_aware=True)["tests"]["sessions"], errors))


UNAUTHORIZED = OperationFailure("not authorized on tornado_sessions to execute command", code=13)
AUTH_FAILED = OperationFailure("Authentication failed.", code=18)
INDEX_CONFLICT = OperationFailure("Index with name: expires_1 already exists with different options", code=85)


@pytest.mark.parametrize(
    "error",
    [AutoReconnect("connection closed"), NotPrimaryError("not primary"), OperationFailure("stepping down", code=189)],
    ids=["lost-connection", "not-primary", "primary-stepped-down"],
)
async def test_an_outage_is_store_unavailable(error):
    with pytest.raises(StoreUnavailable):
        await store_failing({"find_one": error}).load("k", 0.0)


@pytest.mark.parametrize(
    "error,advice",
    [
        (AUTH_FAILED, "check the user and password in the MongoDB URL"),
        (UNAUTHORIZED, "grant readWrite on the session database"),
        (DocumentTooLarge("BSON document too large"), "retrying will not help"),
    ],
    ids=["authentication", "privileges", "document-too-large"],
)
async def test_a_permanent_error_is_misconfigured_and_logged_once_with_advice(caplog, error, advice):
    store = store_failing({"find_one": error, "insert_one": error})
    for _ in range(3):
        with pytest.raises(StoreMisconfigured) as raised:
            await store.load("k", 0.0)
        assert advice in str(raised.value)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "sessions"]
    assert len(errors) == 1 and advice in errors[0].getMessage()
    assert not isinstance(raised.value, StoreUnavailable), "not reported as an outage"


async def test_a_conflicting_index_is_reported_and_the_other_index_still_made(caplog):
    store = store_failing({})
    real_create_index = store.collection.collection.create_index

    async def create_index(keys, **options):
        if keys == "expires":
            raise INDEX_CONFLICT
        return await real_create_index(keys, **options)

    store.collection.create_index = create_index
    await store.create_indexes()
    indexes = {tuple(i["key"]) for i in (await store.collection.collection.index_information()).values()}
    assert (("user", 1),) in indexes
    assert any("drop it, and the site creates the right one" in r.getMessage() for r in caplog.records)


async def test_a_wrong_type_under_increment_is_a_type_error_not_an_outage():
    error = OperationFailure("Cannot apply $inc to a value of non-numeric type", code=14)
    with pytest.raises(TypeError):
        await store_failing({"find_one_and_update": error}).update("k", Changes(increment={"visits": 1}))


@pytest.fixture
def store():
    return store_failing({"find_one": AUTH_FAILED})


async def test_the_site_answers_a_permanent_error_with_the_503_page_and_logs_it_once(browser, caplog):
    browser.cookies["session"] = sign_session_cookie()
    for _ in range(3):
        response = await browser.get("/")
        assert response.code == 503 and "try again" in response.body.decode().lower()
        assert "Authentication" not in response.body.decode(), "no database detail on the page"
    logged = [r for r in caplog.records if r.name == "sessions"]
    assert len(logged) == 1 and "check the user and password" in logged[0].getMessage()
    assert not any(r.exc_info for r in caplog.records), "no traceback"
