"""MongoStore tells an outage (try again: 503 with Retry-After) from an error
that retrying will not cure (bad credentials, missing privileges, a
conflicting index, a document over 16 MB): those are logged once, at ERROR,
with what to do.

The errors come over the wire, through the real drivers: nx-27017 (the
tests' wire-protocol server, not mongod) answers the chosen commands with
MongoDB's error codes through mongod's failCommand fail point, and the
driver raises its own error class from its own path, as it would for a
replica set's primary stepping down or a server shutting down."""

from __future__ import annotations

import logging
import secrets

import pytest
import tornado.web
from conftest import COOKIE_SECRET, TEST_NOW, fresh_database
from pymongo.errors import DocumentTooLarge, NotPrimaryError, OperationFailure, WTimeoutError
from test_stores import record

from serving.storage import close_store, open_client
from sessions import Changes, MongoStore, StoreMisconfigured, StoreUnavailable

pytestmark = pytest.mark.gen_test

DRIVERS = ["pymongo", "motor"]


@pytest.fixture(params=DRIVERS, ids=[f"{driver}-nx-27017" for driver in DRIVERS])
def driver(request) -> str:
    return request.param


@pytest.fixture
def mongo_store(wire_server, driver, io_loop):
    for database in fresh_database(wire_server.url(), io_loop, driver):
        yield MongoStore(database["sessions"])


# Codes the server answers while a replica set changes its primary or a
# member shuts down; the driver raises NotPrimaryError for each.
ELECTION_AND_SHUTDOWN = {
    "NotWritablePrimary": 10107,
    "PrimarySteppedDown": 189,
    "InterruptedDueToReplStateChange": 11602,
    "InterruptedAtShutdown": 11600,
    "ShutdownInProgress": 91,
}


@pytest.mark.parametrize(
    "code,command,call",
    [(code, "find", "load") for code in ELECTION_AND_SHUTDOWN.values()]
    + [(10107, "insert", "create"), (10107, "findAndModify", "increment")],
    ids=[f"{name}-on-find" for name in ELECTION_AND_SHUTDOWN]
    + ["NotWritablePrimary-on-insert", "NotWritablePrimary-on-findAndModify"],
)
async def test_an_election_or_a_shutdown_is_store_unavailable(mongo_store, fail_point, code, command, call):
    assert await mongo_store.create("k", record())
    fail_point([command], errorCode=code)
    calls = {
        "load": lambda: mongo_store.load("k", TEST_NOW),
        "create": lambda: mongo_store.create("k2", record()),
        "increment": lambda: mongo_store.update("k", Changes(increment={"visits": 1})),
    }
    with pytest.raises(StoreUnavailable) as raised:
        await calls[call]()
    assert isinstance(raised.value.__cause__, NotPrimaryError), "the driver's own error, from its own path"
    assert not isinstance(raised.value, StoreMisconfigured)


@pytest.mark.parametrize(
    "error",
    [
        {"errorCode": 89},
        {"errorCode": 6},
        {"errorCode": 262},
        {"errorCode": 1234, "errorLabels": ["RetryableWriteError"]},
    ],
    ids=["NetworkTimeout", "HostUnreachable", "ExceededTimeLimit", "labelled-RetryableWriteError"],
)
async def test_network_and_time_limit_errors_are_store_unavailable(mongo_store, fail_point, error):
    fail_point(["insert"], **error)
    with pytest.raises(StoreUnavailable):
        await mongo_store.create("k", record())


async def test_a_majority_that_does_not_acknowledge_in_time_is_store_unavailable(mongo_store, fail_point):
    assert await mongo_store.create("k", record())
    timed_out = {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out"}
    fail_point(["update"], writeConcernError={**timed_out, "errInfo": {"wtimeout": True}})
    with pytest.raises(StoreUnavailable) as raised:
        await mongo_store.update("k", Changes(set={"theme": "dark"}))
    assert isinstance(raised.value.__cause__, WTimeoutError)


async def test_one_step_down_during_a_read_is_retried_by_the_driver_unseen(mongo_store, fail_point):
    assert await mongo_store.create("k", record())
    fail_point(["find"], {"times": 1}, errorCode=ELECTION_AND_SHUTDOWN["NotWritablePrimary"])
    assert await mongo_store.load("k", TEST_NOW) == record()


UNAUTHORIZED = 13
INDEX_OPTIONS_CONFLICT = 85


async def test_missing_privileges_are_misconfigured_and_logged_once_with_advice(mongo_store, fail_point, caplog):
    fail_point(["find"], errorCode=UNAUTHORIZED)
    for _ in range(3):
        with pytest.raises(StoreMisconfigured) as raised:
            await mongo_store.load("k", TEST_NOW)
        assert "grant readWrite on the session database" in str(raised.value)
        assert isinstance(raised.value.__cause__, OperationFailure)
    logged_once_with(caplog, "grant readWrite on the session database")


async def test_failed_authentication_is_misconfigured_and_logged_once_with_advice(wire_server, fail_point, caplog):
    # The driver authenticates each new connection (SCRAM's saslStart) before the command.
    fail_point(["saslStart"], errorCode=18)
    client = open_client(wire_server.url("auth").replace("://", "://someone:wrong@"), timeout=3)
    store = MongoStore(client.get_default_database()["sessions"])
    for _ in range(2):
        with pytest.raises(StoreMisconfigured, match="check the user and password in the MongoDB URL"):
            await store.load("k", TEST_NOW)
    logged_once_with(caplog, "check the user and password in the MongoDB URL")
    await close_store(store)


async def test_a_document_over_16_mb_is_misconfigured_and_nothing_is_written(mongo_store, caplog):
    # Raised by the driver itself, against the limit the server announced;
    # its message names the size, which differs each time: logged once still.
    for megabytes in (17, 18):
        huge = record(data={"blob": "x" * (megabytes * 1024 * 1024)})
        with pytest.raises(StoreMisconfigured, match="16 MB limit for a document: keep less in it") as raised:
            await mongo_store.create("k", huge)
        assert isinstance(raised.value.__cause__, DocumentTooLarge)
    assert await mongo_store.load("k", TEST_NOW) is None
    logged_once_with(caplog, "keep less in it")


async def test_a_conflicting_index_is_reported_and_the_other_index_still_made(mongo_store, fail_point, caplog):
    fail_point(["createIndexes"], {"times": 1}, errorCode=INDEX_OPTIONS_CONFLICT)  # the first: the TTL index
    await mongo_store.create_indexes()
    indexes = {tuple(i["key"]) for i in (await mongo_store.collection.index_information()).values()}
    assert indexes == {(("_id", 1),), (("user", 1), ("expires", 1))}
    logged_once_with(caplog, "drop it, and the site creates the right one")


async def test_a_wrong_type_under_increment_is_a_type_error_not_an_outage(mongo_store):
    assert await mongo_store.create("k", record(data={"visits": "many"}))
    with pytest.raises(TypeError, match="MongoDB refused the change"):
        await mongo_store.update("k", Changes(increment={"visits": 1}))


def logged_once_with(caplog, advice: str) -> None:
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "sessions"]
    assert len(errors) == 1 and advice in errors[0].getMessage(), [r.getMessage() for r in errors]
    assert not errors[0].exc_info, "no traceback"


# The same errors behind the site.


def sign_session_cookie() -> str:
    """What a browser that logged in before the trouble still sends."""
    session_id = secrets.token_urlsafe(32)
    return tornado.web.create_signed_value(
        COOKIE_SECRET, "session", session_id, version=2, clock=lambda: TEST_NOW
    ).decode()


@pytest.fixture
def store(wire_database):
    return MongoStore(wire_database["sessions"])


async def test_the_site_answers_a_permanent_error_with_the_503_page_and_logs_it_once(browser, fail_point, caplog):
    fail_point(["find"], errorCode=UNAUTHORIZED)
    browser.cookies["session"] = sign_session_cookie()
    for _ in range(3):
        response = await browser.get("/")
        assert response.code == 503 and "try again" in response.body.decode().lower()
        assert "Unauthorized" not in response.body.decode(), "no database detail on the page"
    logged = [r for r in caplog.records if r.name == "sessions"]
    assert len(logged) == 1 and "grant readWrite" in logged[0].getMessage()
    assert not any(r.exc_info for r in caplog.records), "no traceback"


async def test_the_site_answers_a_stepping_down_primary_with_503_and_retry_after(browser, fail_point):
    await browser.login()
    fail_point(["findAndModify"], errorCode=ELECTION_AND_SHUTDOWN["PrimarySteppedDown"])
    response = await browser.get("/dashboard")
    assert response.code == 503 and response.headers["Retry-After"] == "5"
    fail_point([], "off")
    assert (await browser.get("/dashboard")).code == 200, "the same session, once a primary is back"
