"""MongoStore behind the real site, over HTTP: the database round trips each
request costs, and what a visitor sees when MongoDB is down or fails midway.

Everything runs through the real drivers (PyMongo's AsyncMongoClient, the
default, and Motor) over a socket: to the tests' nx-27017 (a MongoDB
wire-protocol server, not mongod), and to the server at MONGODB_URL when it
is set. Round trips are counted by PyMongo's command monitoring; failures
midway are the server's own error answers (mongod's failCommand fail point,
which tests/mongo_wire_server.py implements); "down" is a port where
nothing listens.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import socket

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
import tornado.web
from conftest import COOKIE_SECRET, MONGODB_URL, TEST_NOW, fresh_database
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, ReadPreference, WriteConcern, monitoring
from test_stores import record

from app import make_app
from auth.login_failures import MongoLoginFailures
from serving.storage import MAX_POOL_SIZE, close_store, open_client, open_login_failures, open_store
from sessions import Changes, MongoStore, SessionConfig
from sessions.testing import signed_in_cookie

pytestmark = pytest.mark.gen_test

DATABASE_COMMANDS = {"find", "insert", "update", "delete", "aggregate", "findAndModify"}


class CommandLog(monitoring.CommandListener):
    """PyMongo's command monitoring: what the server was actually sent."""

    def __init__(self, commands: list[tuple[str, str]]) -> None:
        self.commands = commands

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in DATABASE_COMMANDS:
            self.commands.append((event.command[event.command_name], event.command_name))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


BACKENDS = ["pymongo-nx-27017", "motor-nx-27017"]
if MONGODB_URL:
    BACKENDS += ["pymongo-at-MONGODB_URL", "motor-at-MONGODB_URL"]


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    """The commands the counted store sent, as (collection, command) pairs."""
    return []


@pytest.fixture(params=BACKENDS)
def counted_store(request, sent, io_loop):
    driver, server = request.param.split("-", 1)
    url = MONGODB_URL if server == "at-MONGODB_URL" else request.getfixturevalue("wire_server").url()
    for database in fresh_database(url, io_loop, driver, event_listeners=[CommandLog(sent)]):
        store = MongoStore(database["sessions"])
        failures = MongoLoginFailures(store, database["sessions_login_failures"])
        io_loop.run_sync(store.create_indexes)
        io_loop.run_sync(failures.create_indexes)
        sent.clear()
        yield store, failures


@pytest.fixture
def store(request):
    """The app's store (conftest's `app` takes it): the one the test asks for,
    `counted_store`, `unreachable_store` or `flaky_store`."""
    if "counted_store" in request.fixturenames:
        return request.getfixturevalue("counted_store")[0]
    if "unreachable_store" in request.fixturenames:
        return request.getfixturevalue("unreachable_store")
    if "flaky_store" in request.fixturenames:
        return request.getfixturevalue("flaky_store")
    raise LookupError("ask for counted_store, unreachable_store or flaky_store")


@pytest.fixture
def login_failures(request):
    if "counted_store" in request.fixturenames:
        return request.getfixturevalue("counted_store")[1]
    return None


def sent_to(collection, sent: list, since: int = 0) -> list[str]:
    return [command for name, command in sent[since:] if name == collection.name]


async def test_round_trips_per_request(browser, counted_store, sent, clock, session_config):
    async def round_trips(request):
        mark = len(sent)
        response = await request
        assert response.code < 400
        sessions, failures = counted_store[0].collection, counted_store[1].collection
        return sent_to(sessions, sent, mark), sent_to(failures, sent, mark)

    # Login: one insert for the session, one read of the user's sessions
    # (max_sessions_per_user); the throttle reads, counts and clears the
    # account's failures. The login page itself reads nothing.
    login_form = {"username": "demo", "password": "demo-password", "_xsrf": await browser.xsrf("/login")}
    assert await round_trips(browser.request("/login", "POST", login_form)) == (
        ["insert", "find"],
        ["find", "insert", "delete"],
    )
    # A known session that nothing changed: one read, no write.
    assert await round_trips(browser.get("/")) == (["find"], [])
    assert await round_trips(browser.get("/")) == (["find"], [])
    # Once touch_after has passed, one write moves the idle expiry on.
    clock.advance(session_config.touch_after)
    assert await round_trips(browser.get("/")) == (["find", "update"], [])
    assert await round_trips(browser.get("/")) == (["find"], [])
    # The dashboard counts visits: one read, one atomic $inc that returns the count.
    assert await round_trips(browser.get("/dashboard")) == (["find", "findAndModify"], [])
    assert await round_trips(browser.get("/sessions")) == (["find", "find"], [])
    # Logout: read; look for a twin from the same login form (a double
    # click); a new record for the "logged out" message; delete the old.
    logout_form = {"_xsrf": await browser.xsrf("/")}
    logout = await round_trips(browser.request("/logout", "POST", logout_form))
    assert logout == (["find", "find", "insert", "delete"], [])
    # The message is shown once, then its record goes.
    assert await round_trips(browser.get("/")) == (["find", "delete"], [])
    assert await round_trips(browser.get("/")) == ([], [])


@pytest.mark.parametrize("session_config", [SessionConfig(save_uninitialized=True)])
async def test_login_over_a_visitor_session_inserts_then_deletes_the_old_one(
    browser, counted_store, sent, session_config
):
    token = await browser.xsrf("/login")  # save_uninitialized: the visitor's record is made here
    assert sent_to(counted_store[0].collection, sent) == ["insert"]
    mark = len(sent)
    assert (
        await browser.request("/login", "POST", {"username": "demo", "password": "demo-password", "_xsrf": token})
    ).code == 303
    assert sent_to(counted_store[0].collection, sent, mark) == ["find", "insert", "delete", "find"]


# Faults: "down" is a real driver pointed at a port where nothing listens;
# failures midway (and recovery without a restart), further below, are
# nx-27017's error answers through its fail point.


@pytest.fixture
def closed_port():
    """A port bound but not listening: connecting is refused at once, and no
    other program can start listening there during the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


DRIVERS = {"pymongo": AsyncMongoClient, "motor": AsyncIOMotorClient}


@pytest.fixture(params=DRIVERS)
def unreachable_store(request, closed_port, io_loop):
    client = DRIVERS[request.param](
        f"mongodb://127.0.0.1:{closed_port}/tornado_sessions",
        tz_aware=True,
        serverSelectionTimeoutMS=300,
        connectTimeoutMS=300,
        socketTimeoutMS=300,
    )
    yield MongoStore(client.get_default_database()["sessions"])
    closing = client.close()
    if closing is not None:
        io_loop.run_sync(lambda: closing)


async def test_every_store_call_raises_store_unavailable_when_mongodb_is_down(unreachable_store):
    failures = MongoLoginFailures(unreachable_store, unreachable_store.collection.database["failures"])
    calls = {
        "create_indexes": unreachable_store.create_indexes(),
        "load": unreachable_store.load("k", 0.0),
        "create": unreachable_store.create("k", record()),
        "update": unreachable_store.update("k", Changes(set={"a": 1}, unset=["b"], fields={"last_seen": 1.0})),
        "update nothing": unreachable_store.update("k", Changes()),
        "increment": unreachable_store.update("k", Changes(increment={"visits": 1})),
        "delete": unreachable_store.delete("k"),
        "find_by_user": unreachable_store.find_by_user("demo", 0.0),
        "delete_by_user": unreachable_store.delete_by_user("demo", keep="k"),
        "login_failures.get": failures.get("demo"),
        "login_failures.add": failures.add("demo", 0.0),
        "login_failures.clear": failures.clear("demo"),
    }
    # At once, so the test waits out one server-selection timeout, not ten.
    outcomes = await asyncio.gather(*calls.values(), return_exceptions=True)
    assert {name: type(outcome).__name__ for name, outcome in zip(calls, outcomes, strict=True)} == dict.fromkeys(
        calls, "StoreUnavailable"
    )


@pytest.mark.parametrize("driver", DRIVERS)
async def test_the_store_answers_within_its_own_timeout_whatever_the_driver_waits(closed_port, driver):
    # Driver timeouts far beyond the store's, and more calls at once than
    # Motor has threads (5 per CPU): each still ends after the store's timeout.
    client = DRIVERS[driver](f"mongodb://127.0.0.1:{closed_port}/x", serverSelectionTimeoutMS=10_000)
    store = MongoStore(client.get_default_database()["sessions"], timeout=0.3)
    outcomes = await asyncio.gather(*(store.load(f"key{n}", 0.0) for n in range(50)), return_exceptions=True)
    assert {str(outcome) for outcome in outcomes} == {"MongoDB: no answer within 0.3 s"}
    closing = client.close()
    if closing is not None:
        await closing


def signed_session_cookie() -> str:
    """What a browser that logged in before the outage still sends."""
    session_id = secrets.token_urlsafe(32)
    return tornado.web.create_signed_value(
        COOKIE_SECRET, "session", session_id, version=2, clock=lambda: TEST_NOW
    ).decode()


async def test_with_mongodb_down_pages_without_a_session_still_work(browser, unreachable_store):
    assert (await browser.get("/")).code == 200
    assert (await browser.get("/login")).code == 200
    assert (await browser.get("/static/site.css")).code == 200


@pytest.mark.parametrize("path", ["/", "/dashboard"])
async def test_with_mongodb_down_a_session_gets_503_and_keeps_its_cookie(browser, unreachable_store, path):
    browser.cookies["session"] = cookie = signed_session_cookie()
    response = await browser.get(path)
    assert response.code == 503
    assert response.headers["Retry-After"] == "5"
    page = response.body.decode()
    assert "try again in a few seconds" in page
    assert "Timeout" not in page and "127.0.0.1" not in page
    assert browser.cookies.get("session") == cookie, "an outage is not a logout"


async def test_with_mongodb_down_login_gets_503_and_no_session(browser, unreachable_store):
    response = await browser.login()
    assert response.code == 503
    assert response.headers["Retry-After"] == "5"
    assert "session" not in browser.cookies


# Failures midway, and recovery without a restart: the server answers the
# chosen commands with NotWritablePrimary, as a replica set's primary does
# while it steps down, until the test turns the fail point off.

NOT_WRITABLE_PRIMARY = 10107


@pytest.fixture
def flaky_store(wire_database):
    return MongoStore(wire_database["sessions"])


def visits(response) -> str:
    page = response.body.decode()
    return page.split("viewed this page <strong>", 1)[1].split("</strong>", 1)[0]


async def test_a_failed_save_answers_503_and_keeps_the_previous_session(browser, flaky_store, fail_point):
    await browser.login()
    assert visits(await browser.get("/dashboard")) == "1"
    cookie = browser.cookies["session"]
    fail_point(["findAndModify"], errorCode=NOT_WRITABLE_PRIMARY)
    response = await browser.get("/dashboard")
    assert response.code == 503 and response.headers["Retry-After"] == "5"
    assert browser.cookies["session"] == cookie
    fail_point([], "off")
    response = await browser.get("/dashboard")
    assert response.code == 200
    assert visits(response) == "2", "the failed request's change was not kept, the earlier one was"


async def test_a_failed_login_write_leaves_the_visitor_logged_out(browser, flaky_store, fail_point):
    fail_point(["insert"], errorCode=NOT_WRITABLE_PRIMARY)
    response = await browser.login()
    assert response.code == 503
    assert "session" not in browser.cookies
    fail_point([], "off")
    assert (await browser.get("/dashboard")).code == 302


async def test_a_failed_delete_of_the_old_record_at_login_keeps_the_previous_session(browser, flaky_store, fail_point):
    await browser.login()
    assert visits(await browser.get("/dashboard")) == "1"
    cookie = browser.cookies["session"]
    fail_point(["delete"], errorCode=NOT_WRITABLE_PRIMARY, namespace=flaky_store.collection.full_name)
    form = {"username": "demo", "password": "demo-password"}
    assert (await browser.post("/login", form, xsrf_from="/")).code == 503
    assert browser.cookies["session"] == cookie
    fail_point([], "off")
    assert visits(await browser.get("/dashboard")) == "2"


async def test_when_mongodb_comes_back_requests_succeed_without_a_restart(browser, flaky_store, fail_point):
    await browser.login()
    fail_point(sorted(DATABASE_COMMANDS), errorCode=NOT_WRITABLE_PRIMARY)
    assert (await browser.get("/dashboard")).code == 503
    assert (await browser.get("/dashboard")).code == 503
    fail_point([], "off")
    response = await browser.get("/dashboard")
    assert response.code == 200 and visits(response) == "1"


# How `--session-store=mongodb://...` becomes a store.


@pytest.mark.parametrize(
    "url,collection",
    [
        ("mongodb://127.0.0.1:27017/mysite", "mysite.sessions"),
        ("mongodb://127.0.0.1:27017", "tornado_sessions.sessions"),
        ("mongodb://db1:27017,db2:27017/mysite?replicaSet=rs0", "mysite.sessions"),
    ],
)
async def test_a_mongodb_url_opens_a_pymongo_store_with_short_timeouts(url, collection):
    store = open_store(url, timeout=1.5)
    client = store.collection.database.client
    assert type(client) is AsyncMongoClient and store.collection.full_name == collection
    assert open_login_failures(store).collection.full_name == f"{collection}_login_failures"
    assert store.timeout == 2.5, "the store's own bound: one second past the driver's"
    pool = client.options.pool_options
    assert (client.options.server_selection_timeout, pool.connect_timeout, pool.socket_timeout) == (1.5, 1.5, 1.5)
    assert client.codec_options.tz_aware
    await close_store(store)


@pytest.mark.parametrize("url", ["mongodb://127.0.0.1:port/x", "mongodb://", "memcached://127.0.0.1:11211"])
def test_an_unusable_store_url_is_refused_with_a_message(url):
    with pytest.raises(SystemExit, match="--session-store: "):
        open_store(url)


URL = "mongodb://db1:27017,db2:27017/mysite"


@pytest.mark.parametrize("driver,client_class", [("pymongo", AsyncMongoClient), ("motor", AsyncIOMotorClient)])
async def test_mongodb_driver_chooses_pymongos_async_client_by_default_or_motor(driver, client_class):
    store, default = open_store(URL, driver=driver), open_store(URL)
    assert type(store.collection.database.client) is client_class
    assert store.collection.full_name == "mysite.sessions"
    assert type(default.collection.database.client) is AsyncMongoClient
    await close_store(store)
    await close_store(default)


def test_an_unknown_mongodb_driver_is_refused_with_a_message():
    with pytest.raises(SystemExit, match="--mongodb-driver: expected one of pymongo, motor, got 'mongoose'"):
        open_store(URL, driver="mongoose")


@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_the_client_asks_for_majority_writes_primary_reads_and_retryable_writes(driver):
    store = open_store(f"{URL}?replicaSet=rs0&readPreference=primary&W=majority", driver=driver)
    client = store.collection.database.client
    assert (client.write_concern, client.read_preference) == (WriteConcern(w="majority"), ReadPreference.PRIMARY)
    assert client.options.retry_writes and client.options.retry_reads
    await close_store(store)


@pytest.mark.parametrize(
    "query,refusal",
    [
        (
            "readPreference=secondaryPreferred",
            "readPreference=secondaryPreferred in the MongoDB URL: sessions are read",
        ),
        ("readpreference=nearest", "readPreference=nearest in the MongoDB URL: sessions are read from the primary"),
        ("w=1", "w=1 in the MongoDB URL: session writes wait for a majority"),
        ("retryWrites=false", "retryWrites=false in the MongoDB URL: a write cut off by an election"),
    ],
    ids=["readPreference", "option-names-in-any-case", "w", "retryWrites"],
)
def test_a_url_that_would_weaken_what_sessions_rely_on_is_refused_in_one_line(query, refusal):
    with pytest.raises(SystemExit) as refused:
        open_store(f"{URL}?replicaSet=rs0&{query}")
    message = str(refused.value)
    assert message.startswith(f"--session-store: {refusal}") and message.endswith("Remove it from the URL")
    assert "\n" not in message


async def test_journal_in_the_url_is_added_to_majority():
    store = open_store(f"{URL}?replicaSet=rs0&journal=true")
    assert store.collection.database.client.write_concern == WriteConcern(w="majority", j=True)
    await close_store(store)


@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_a_full_pool_waits_up_to_the_store_timeout_rather_than_failing(wire_server, driver):
    store = open_store(wire_server.url(f"pool_{secrets.token_hex(8)}"), timeout=2.5, driver=driver)
    pool = store.collection.database.client.options.pool_options
    assert (pool.max_pool_size, pool.wait_queue_timeout) == (MAX_POOL_SIZE, 2.5)
    # One connection for 30 calls at once: each waits its turn, none fails.
    client = open_client(wire_server.url(), timeout=2.5, driver=driver, maxPoolSize=1)
    one_connection = MongoStore(client[store.collection.database.name]["sessions"])
    assert client.options.pool_options.max_pool_size == 1
    assert await one_connection.create("k", record())
    loads = await asyncio.gather(*(one_connection.load("k", TEST_NOW) for _ in range(30)))
    assert loads == [record()] * 30
    await client.drop_database(store.collection.database.name)
    await close_store(one_connection)
    await close_store(store)


async def test_the_urls_own_pool_size_and_wait_win():
    client = open_client(f"{URL}?maxPoolSize=7&waitQueueTimeoutMS=250", timeout=3)
    pool = client.options.pool_options
    assert (pool.max_pool_size, pool.wait_queue_timeout) == (7, 0.25)
    await client.close()


class WriteConcernLog(monitoring.CommandListener):
    def __init__(self) -> None:
        self.write_concerns: dict[str, list] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "delete", "findAndModify"):
            self.write_concerns.setdefault(event.command_name, []).append(event.command.get("writeConcern"))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.mark.parametrize("driver", ["pymongo", "motor"])
async def test_every_write_reaches_the_server_asking_for_a_majority(wire_server, driver):
    sent = WriteConcernLog()
    client = open_client(wire_server.url(f"wc_{secrets.token_hex(8)}"), driver=driver, event_listeners=[sent])
    store = MongoStore(client.get_default_database()["sessions"])
    failures = MongoLoginFailures(store, client.get_default_database()["sessions_login_failures"])
    assert await store.create("k", record())
    assert await store.update("k", Changes(set={"visits": 2}, fields={"last_seen": TEST_NOW})) == {}
    await failures.add("demo", TEST_NOW)  # an insert
    await failures.add("demo", TEST_NOW)  # a findAndModify
    await store.delete("k")
    await client.drop_database(client.get_default_database().name)
    await close_store(store)
    assert set(sent.write_concerns) == {"insert", "update", "delete", "findAndModify"}
    assert {str(concern) for concerns in sent.write_concerns.values() for concern in concerns} == {"{'w': 'majority'}"}


class FilterLog(monitoring.CommandListener):
    def __init__(self) -> None:
        self.filters: list[dict] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append(event.command["filter"])
        elif event.command_name == "delete":
            self.filters.extend(delete["q"] for delete in event.command["deletes"])

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


async def test_a_users_sessions_are_asked_for_in_the_shape_of_the_user_expires_index(wire_server):
    # Equality on user, then a range on expires: the index's own order, so
    # MongoDB reads the user's live entries and nothing else (nx-27017 has
    # no query planner to show it; on mongod, explain() does).
    sent = FilterLog()
    client = open_client(wire_server.url(f"by_user_{secrets.token_hex(8)}"), event_listeners=[sent])
    store = MongoStore(client.get_default_database()["sessions"])
    await store.create_indexes()
    keys = [tuple(index["key"]) for index in (await store.collection.index_information()).values()]
    assert (("user", 1), ("expires", 1)) in keys
    await store.find_by_user("demo", TEST_NOW)
    await store.delete_by_user("demo", keep="k")
    find, delete = sent.filters
    assert list(find) == ["user", "expires"] and list(find["expires"]) == ["$gt"]
    assert list(delete) == ["user", "_id"], "the index's prefix, user, picks the documents"
    await client.drop_database(store.collection.database.name)
    await close_store(store)


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["pymongo", "motor"])
@pytest.mark.gen_test(timeout=300)
async def test_a_thousand_concurrent_visits_are_all_answered_and_counted(wire_server, driver):
    # The site's own client settings: 100 connections, and a request that
    # finds them busy waits (here up to 30 s, for a busy CI machine).
    store = open_store(wire_server.url(f"load_{secrets.token_hex(8)}"), timeout=30, driver=driver)
    app = make_app(store, COOKIE_SECRET)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    cookies = [await signed_in_cookie(app, "demo") for _ in range(50)]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=1000)
    visits = [
        client.fetch(f"http://127.0.0.1:{port}/dashboard", headers={"Cookie": cookies[n % 50]}, raise_error=False)
        for n in range(1000)
    ]
    codes = collections.Counter(response.code for response in await asyncio.gather(*visits))
    documents = await store.collection.find({}).to_list(None)
    client.close()
    server.stop()
    await store.collection.database.client.drop_database(store.collection.database.name)
    await close_store(store)
    assert codes == {200: 1000}
    assert sum(document["data"]["visits"] for document in documents) == 1000
