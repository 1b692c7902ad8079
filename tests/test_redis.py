"""RedisStore on a real redis-server: what it stores and where, what Redis
expires by itself, and the real site over HTTP on it: round trips per
request, a request racing a logout, the server going down, hanging, coming
back, and refusing us for good (a wrong password, database or permission)."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import secrets
import socket
import subprocess
import time
from unittest.mock import ANY

import pytest
import redis
import redis_server
import tornado.web
from conftest import COOKIE_SECRET, TEST_NOW, FakeClock, PausableStore
from redis.asyncio import Connection, Redis
from security.conftest import session_id, signed_in_as
from test_stores import NOW, key, record

from auth.login_failures import RedisLoginFailures
from serving.storage import open_store
from sessions import Changes, RedisStore, StoreMisconfigured, StoreUnavailable, store_key
from sessions.stores.redis import LISTED_AHEAD_MS
from sessions.stores.redis_scripts import CREATE, DELETE, INDEX, LISTED, UPDATE

pytestmark = pytest.mark.gen_test

PREFIX = "tornado_sessions:"


@pytest.fixture
def redis_store(io_loop):
    yield from redis_server.store(io_loop)


@pytest.fixture
def clock():
    # Redis deletes a session at its expiry by its own, real clock: the site's
    # clock starts at real time (then the tests move it), never in the past.
    return FakeClock(float(int(time.time())))


@pytest.fixture
def store(request):
    """The app's store (conftest's `app` takes it)."""
    if "counted_store" in request.fixturenames:
        return request.getfixturevalue("counted_store")[0]
    for name in ("pausable_store", "restartable_store", "refused_store", "replica_store"):
        if name in request.fixturenames:
            return request.getfixturevalue(name)
    return request.getfixturevalue("redis_store")


async def everything_in(client) -> dict[bytes, object]:
    """Every key in the database and its value (a test may scan; the store never does)."""
    dump = {}
    async for name in client.scan_iter():
        kind = (await client.type(name)).decode()
        read = {"hash": client.hgetall, "zset": lambda n: client.zrange(n, 0, -1, withscores=True)}[kind]
        dump[name] = await read(name)
    return dump


def session_hash(digest: str) -> bytes:
    return f"{PREFIX}session:{digest}".encode()


# What is stored, and where.


async def test_a_session_is_one_hash_under_its_digest_with_a_field_per_value(redis_store):
    session = "raw-session-id-never-stored-" + secrets.token_urlsafe(8)
    LISTED = int(NOW + 1800) * 1000 + LISTED_AHEAD_MS  # the user's index lists it a while past its expiry
    data = {"visits": 3, "cart": ["tea", {"cups": 2}], "wide": 2**63 - 1, "tenth": 0.1}
    await redis_store.create(store_key(session), record(data=data, created=NOW + 0.25))
    assert await everything_in(redis_store.client) == {
        session_hash(store_key(session)): {
            b"user": b"demo",
            b"client": b"Firefox on Linux",
            b"remember": b"0",
            b"created": repr(NOW + 0.25).encode(),
            b"last_seen": repr(NOW).encode(),
            b"expires": repr(NOW + 1800).encode(),
            b"data.visits": b"3",
            b"data.cart": b'["tea",{"cups":2}]',
            b"data.wide": b"9223372036854775807",
            b"data.tenth": b"0.1",
            b"listed": str(LISTED).encode(),
        },
        f"{PREFIX}user:demo".encode(): [(store_key(session).encode(), LISTED)],
    }


async def test_no_session_id_or_cookie_is_stored_anywhere_in_redis(browser, new_browser, redis_store):
    phone, laptop = new_browser(), new_browser()
    await browser.login()
    await phone.login()
    await phone.logout()  # leaves a "logged out" message in an anonymous session
    await laptop.login(remember="on")
    await new_browser().login(password="wrong")
    await browser.get("/dashboard")
    await browser.get("/sessions")
    cookies = [visitor.cookies["session"] for visitor in (browser, phone, laptop)]
    ids = [session_id(cookie) for cookie in cookies]
    dump = repr(await everything_in(redis_store.client))
    assert all(store_key(session) in dump for session in ids), "the scan sees every live session"
    assert [secret for secret in cookies + ids if secret in dump] == []


async def test_redis_deletes_a_session_at_its_expires_and_the_user_set_after_the_last_listed(redis_store):
    client = redis_store.client
    await redis_store.create(key(1), record(expires=NOW + 60.0005))
    await redis_store.create(key(2), record(expires=NOW + 30))
    assert await client.pexpiretime(session_hash(key(1))) == math.ceil((NOW + 60.0005) * 1000)
    assert await client.pexpiretime(f"{PREFIX}user:demo") == (NOW + 60) * 1000 + 1 + LISTED_AHEAD_MS
    # Updates within the time listed leave the user's set alone...
    await redis_store.update(key(2), Changes(fields={"last_seen": NOW + 10, "expires": NOW + 30 + 600}))
    assert await client.zscore(f"{PREFIX}user:demo", key(2)) == (NOW + 30) * 1000 + LISTED_AHEAD_MS
    # ...and one that goes beyond lists the session longer first.
    await redis_store.update(key(2), Changes(fields={"last_seen": NOW + 10, "expires": NOW + 7200}))
    assert await client.pexpiretime(session_hash(key(2))) == (NOW + 7200) * 1000
    assert await client.pexpiretime(f"{PREFIX}user:demo") == (NOW + 7200) * 1000 + LISTED_AHEAD_MS
    assert await client.zscore(f"{PREFIX}user:demo", key(2)) == (NOW + 7200) * 1000 + LISTED_AHEAD_MS


async def test_a_record_expired_by_redis_leaves_the_user_set_at_the_next_look(redis_store):
    client = redis_store.client
    await redis_store.create(key(1), record())
    await redis_store.create(key(2), record())
    await client.pexpireat(session_hash(key(1)), 1)  # what Redis does when the expiry comes
    assert await client.exists(session_hash(key(1))) == 0
    assert set(await redis_store.find_by_user("demo", NOW)) == {key(2)}
    assert await client.zrange(f"{PREFIX}user:demo", 0, -1) == [key(2).encode()]


async def test_a_session_already_past_its_expiry_in_real_time_is_never_kept(redis_store):
    assert await redis_store.create(key(), record(created=1000, last_seen=1000, expires=2000))
    assert await everything_in(redis_store.client) == {}


async def test_the_user_set_follows_deletes_and_changes_of_user(redis_store):
    client = redis_store.client

    async def members(user):
        return sorted(member.decode() for member in await client.zrange(f"{PREFIX}user:{user}", 0, -1))

    for n, user in enumerate(["demo", "demo", "demo", None]):
        await redis_store.create(key(n), record(user=user))
    assert await members("demo") == sorted([key(0), key(1), key(2)])
    await redis_store.delete(key(0))
    assert await members("demo") == sorted([key(1), key(2)])
    await redis_store.update(key(1), Changes(fields={"user": "other"}))
    await redis_store.update(key(3), Changes(fields={"user": "demo"}))
    assert (await members("demo"), await members("other")) == (sorted([key(2), key(3)]), [key(1)])
    await redis_store.update(key(2), Changes(fields={"user": None}))
    assert await members("demo") == [key(3)]
    assert await redis_store.delete_by_user("demo") == 1
    assert await redis_store.delete_by_user("other") == 1
    assert await everything_in(client) == {session_hash(key(2)): await client.hgetall(session_hash(key(2)))}


@pytest.mark.parametrize(
    "damage",
    [
        {"data.visits": "{not json"},
        {"data.visits": b"\xff\xfe"},
        {"created": "yesterday"},
        {"last_seen": "nan"},
        {"expires": ""},
        {"remember": "yes"},
        {"user": b"\xff"},
    ],
)
async def test_an_unreadable_hash_reads_as_missing(redis_store, damage):
    await redis_store.create(key(), record())
    await redis_store.client.hset(session_hash(key()), mapping=damage)
    assert await redis_store.load(key(), NOW) is None
    assert await redis_store.find_by_user("demo", NOW) == {}


@pytest.mark.parametrize("field", ["created", "last_seen", "expires", "remember"])
async def test_a_hash_missing_a_field_reads_as_missing(redis_store, field):
    await redis_store.create(key(), record())
    await redis_store.client.hdel(session_hash(key()), field)
    assert await redis_store.load(key(), NOW) is None


async def test_another_programs_key_under_the_prefix_is_a_misconfiguration(redis_store, caplog):
    await redis_store.client.set(session_hash(key()), "not a session")
    with pytest.raises(StoreMisconfigured, match="another program keeps keys under this prefix"):
        await redis_store.load(key(), NOW)
    with pytest.raises(StoreMisconfigured):
        await redis_store.update(key(), Changes(set={"a": 1}))
    assert await redis_store.client.get(session_hash(key())) == b"not a session"


@pytest.mark.parametrize("value", [1, ["a"], b"bytes", {"$ne": None}])
async def test_only_plain_strings_name_a_key(redis_store, value):
    for call in (
        redis_store.load(value, NOW),
        redis_store.update(value, Changes(set={"visits": 0})),
        redis_store.delete(value),
        redis_store.find_by_user(value, NOW),
        redis_store.delete_by_user(value),
        redis_store.delete_by_user("demo", keep=value),
    ):
        with pytest.raises(TypeError):
            await call


async def test_a_session_with_thousands_of_keys_is_written_whole(redis_store):
    # Lua unpacks at most ~8000 values into one call: one HSET of every field would fail.
    data = {f"key{n}": n for n in range(5000)}
    await redis_store.create(key(), record(data=data))
    await redis_store.update(key(), Changes(set={f"key{n}": -n for n in range(5000)}, unset=list(data)[:10]))
    loaded = (await redis_store.load(key(), NOW)).data
    assert loaded == {f"key{n}": -n for n in range(10, 5000)}


# Numbers stay exact: Lua's numbers are doubles and its cjson writes 14 digits.


async def test_increments_are_exact_to_64_bits_and_do_floats_as_python_does(redis_store):
    await redis_store.create(key(), record(data={"big": 2**63 - 3, "tenth": 0.1, "half": 2.5, "small": -(2**63) + 1}))
    assert await redis_store.update(key(), Changes(increment={"big": 1})) == {"big": 2**63 - 2}
    assert await redis_store.update(key(), Changes(increment={"big": 1})) == {"big": 2**63 - 1}
    assert await redis_store.update(key(), Changes(increment={"small": -1})) == {"small": -(2**63)}
    assert await redis_store.update(key(), Changes(increment={"tenth": 0.2})) == {"tenth": 0.1 + 0.2}
    result = await redis_store.update(key(), Changes(increment={"half": 0.5}))
    assert result == {"half": 3.0} and type(result["half"]) is float, "a float stays a float"
    assert await redis_store.update(key(), Changes(increment={"new": 1e16})) == {"new": 1e16}
    loaded = (await redis_store.load(key(), NOW)).data
    assert loaded == {"big": 2**63 - 1, "small": -(2**63), "tenth": 0.1 + 0.2, "half": 3.0, "new": 1e16}


async def test_an_increment_past_64_bits_raises_and_changes_nothing(redis_store):
    await redis_store.create(key(), record(data={"a": 1, "big": 2**63 - 1}))
    changes = Changes(set={"theme": "dark"}, increment={"a": 1, "big": 1}, append={"log": 1})
    with pytest.raises(ValueError, match="64 bits"):
        await redis_store.update(key(), changes)
    assert (await redis_store.load(key(), NOW)).data == {"a": 1, "big": 2**63 - 1}


async def test_appends_keep_every_value_exact(redis_store):
    await redis_store.create(key(), record(data={"log": [2**63 - 1]}))
    for item in (0.1, -(2**63), {"deep": [1.5, None, "é\u0000"]}, 1e-300):
        await redis_store.update(key(), Changes(append={"log": item}))
    assert (await redis_store.load(key(), NOW)).data["log"] == [
        2**63 - 1,
        0.1,
        -(2**63),
        {"deep": [1.5, None, "é\0"]},
        1e-300,
    ]


# The site over HTTP on Redis: the round trips each request costs.


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    """(command, which keys) for each command the counted store's client sent."""
    return []


@pytest.fixture
def counted_store(sent, io_loop):
    class CountingConnection(Connection):
        def pack_command(self, *args):  # each command, pipelined ones too
            note(args)
            return super().pack_command(*args)

    def note(args) -> None:
        kind = next((k for k in ("session", "user", "login") if any(f"{PREFIX}{k}:" in str(a) for a in args)), "")
        sent.append((names.get(args[0] == "EVALSHA" and args[1], args[0]), kind))

    for store in redis_server.store(io_loop, connection_class=CountingConnection):
        failures = RedisLoginFailures(store)
        scripts = {"create": CREATE, "update": UPDATE, "delete": DELETE, "index": INDEX}
        names = {script.sha: f"EVALSHA {name}" for name, script in scripts.items()}
        names[failures._add.sha] = "EVALSHA count_failure"
        # Scripts loaded and a connection open, as on any server after its first requests.
        for text in [script.text for script in scripts.values()] + [failures._add.script]:
            io_loop.run_sync(functools.partial(store.client.script_load, text))
        yield store, failures


async def test_round_trips_per_request(browser, counted_store, sent, clock, session_config):
    async def round_trips(request):
        mark = len(sent)
        response = await request
        assert response.code < 400
        return [name for name, kind in sent[mark:] if kind != "login"], [n for n, k in sent[mark:] if k == "login"]

    # Login: one script makes the session, one lists it in the user's index,
    # then the user's sessions are read (max_sessions_per_user); the throttle
    # reads, counts and clears the account's failures. The login page itself
    # reads nothing.
    login_form = {"username": "demo", "password": "demo-password", "_xsrf": await browser.xsrf("/login")}
    assert await round_trips(browser.request("/login", "POST", login_form)) == (
        ["EVALSHA create", "EVALSHA index", "ZRANGE", "HGETALL"],
        ["HMGET", "EVALSHA count_failure", "DEL"],
    )
    # A known session that nothing changed: one read, no write.
    assert await round_trips(browser.get("/")) == (["HGETALL"], [])
    assert await round_trips(browser.get("/")) == (["HGETALL"], [])
    # Once touch_after has passed, one write moves the idle expiry on.
    clock.advance(session_config.touch_after)
    assert await round_trips(browser.get("/")) == (["HGETALL", "EVALSHA update"], [])
    assert await round_trips(browser.get("/")) == (["HGETALL"], [])
    # The dashboard counts visits: one read, one script that adds and returns the count.
    assert await round_trips(browser.get("/dashboard")) == (["HGETALL", "EVALSHA update"], [])
    # Every ten minutes of use, the index must list the session longer, first.
    clock.advance(LISTED_AHEAD_MS / 1000)
    refreshed = ["HGETALL", "EVALSHA update", "EVALSHA index", "EVALSHA update"]
    assert await round_trips(browser.get("/dashboard")) == (refreshed, [])
    assert await round_trips(browser.get("/dashboard")) == (["HGETALL", "EVALSHA update"], [])
    # The user's live sessions in the index, then each one's hash, in one pipeline.
    assert await round_trips(browser.get("/sessions")) == (["HGETALL", "ZRANGE", "HGETALL"], [])
    # Logout: read; look for a twin from the same login form (a double
    # click); a new record for the "logged out" message; delete the old.
    logout_form = {"_xsrf": await browser.xsrf("/")}
    logout = await round_trips(browser.request("/logout", "POST", logout_form))
    assert logout == (["HGETALL", "ZRANGE", "HGETALL", "EVALSHA create", "EVALSHA delete", "ZREM"], [])
    # The message is shown once, then its record goes.
    assert await round_trips(browser.get("/")) == (["HGETALL", "EVALSHA delete"], [])
    assert await round_trips(browser.get("/")) == ([], [])


# A slow request racing a logout.


@pytest.fixture
def pausable_store(redis_store):
    return PausableStore(redis_store)


async def test_a_slow_request_finishing_after_logout_does_not_bring_the_session_back(browser, pausable_store):
    await browser.login()
    stolen = dict(browser.cookies)
    old_key = store_key(session_id(stolen["session"]))
    pausable_store.hold = gate = asyncio.Event()
    slow = asyncio.ensure_future(browser.get("/dashboard"))  # increments the visit counter: an update
    await pausable_store.update_waiting.wait()
    assert (await browser.logout()).code == 303
    gate.set()
    assert (await slow).code == 200
    assert await signed_in_as(browser, stolen) is None
    dump = await everything_in(pausable_store.client)
    assert session_hash(old_key) not in dump and old_key not in repr(dump)


# Outages: down, hung, back again.


def visits(response) -> str:
    return re.search(r"viewed this page <strong>(\d+)</strong>", response.body.decode()).group(1)


@pytest.fixture
def restartable_server():
    with redis_server.running() as server:
        yield server


@pytest.fixture
def restartable_store(restartable_server, io_loop):
    store = open_store(restartable_server.url, timeout=0.5)
    yield store
    io_loop.run_sync(store.client.aclose)


async def test_redis_stopped_and_restarted_under_the_site(
    browser, new_browser, restartable_server, restartable_store, caplog
):
    await browser.login()
    assert visits(await browser.get("/dashboard")) == "1"
    cookie = browser.cookies["session"]
    restartable_server.stop()
    for path in ("/dashboard", "/", "/sessions"):
        response = await browser.get(path)
        assert (response.code, response.headers["Retry-After"]) == (503, "5")
        assert "Nothing was lost; try again in a few seconds." in response.body.decode()
    assert browser.cookies["session"] == cookie, "an outage is not a logout"
    assert (await new_browser().login()).code == 503
    restartable_server.start()  # same port and directory: its append-only file brings the sessions back
    response = await browser.get("/dashboard")
    assert response.code == 200 and visits(response) == "2", "served again, no restart of the site"
    assert browser.cookies["session"] == cookie
    assert "Traceback" not in caplog.text
    assert "session store unavailable while loading a session: Redis: ConnectionError" in caplog.text


async def test_a_hung_redis_answers_store_unavailable_in_time_and_then_nothing_stale(restartable_server):
    # Socket timeouts far beyond the store's: the store's own bound ends each call.
    client = Redis.from_url(restartable_server.url, socket_timeout=60)
    store = RedisStore(client, timeout=0.3)
    await store.create(key(1), record(user="first"))
    await store.create(key(2), record(user="second"))
    restartable_server.pause()
    try:
        outcomes = await asyncio.gather(*(store.load(key(1), NOW) for _ in range(20)), return_exceptions=True)
    finally:
        restartable_server.resume()
    assert {str(outcome) for outcome in outcomes} == {"Redis: no answer within 0.3 s"}
    # The answers to the abandoned commands arrive now: none may be taken for a later one's.
    assert (await store.load(key(2), NOW)).user == "second"
    assert [(await store.load(key(n % 2 + 1), NOW)).user for n in range(4)] == ["first", "second"] * 2
    await client.aclose()


@pytest.fixture
def closed_port():
    """Bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_every_call_raises_store_unavailable_when_redis_is_down(closed_port):
    store = open_store(f"redis://127.0.0.1:{closed_port}/0", timeout=0.3)
    failures = RedisLoginFailures(store)
    calls = {
        "load": store.load(key(), NOW),
        "create": store.create(key(), record()),
        "update": store.update(key(), Changes(set={"a": 1}, fields={"last_seen": NOW})),
        "increment": store.update(key(), Changes(increment={"visits": 1})),
        "delete": store.delete(key()),
        "find_by_user": store.find_by_user("demo", NOW),
        "delete_by_user": store.delete_by_user("demo", keep=key()),
        "login_failures.get": failures.get("demo"),
        "login_failures.add": failures.add("demo", NOW),
        "login_failures.clear": failures.clear("demo"),
    }
    outcomes = await asyncio.gather(*calls.values(), return_exceptions=True)
    assert {name: type(outcome).__name__ for name, outcome in zip(calls, outcomes, strict=True)} == dict.fromkeys(
        calls, "StoreUnavailable"
    )
    await store.client.aclose()


# Errors that waiting will not cure: logged once, at ERROR, with what to do.


@pytest.fixture
def guarded_server():
    with redis_server.running("--requirepass", "right-password") as server:
        acl = ["ACL", "SETUSER", "nobody", "on", ">nobody-password", "~*", "-@all"]
        cli = ["redis-cli", "-p", str(server.port), "--no-auth-warning", "-a", "right-password"]
        subprocess.run([*cli, *acl], check=True, stdout=subprocess.DEVNULL)
        yield server


REFUSALS = {
    "wrong-password": (":wrong-password@", 0, "check the user and password in the Redis URL"),
    "no-password": ("", 0, "check the user and password in the Redis URL"),
    "database-out-of-range": (":right-password@", 99, "the database number in the Redis URL is beyond"),
    "no-permission": ("nobody:nobody-password@", 0, "the Redis user needs read, write and scripting commands"),
}


@pytest.fixture(params=REFUSALS)
def refused_store(request, guarded_server, io_loop):
    credentials, database, _ = REFUSALS[request.param]
    store = open_store(f"redis://{credentials}127.0.0.1:{guarded_server.port}/{database}", timeout=0.5)
    yield store
    io_loop.run_sync(store.client.aclose)


@pytest.fixture
def login_failures(request):
    for name in ("counted_store", "refused_store"):
        if name in request.fixturenames:
            store = request.getfixturevalue(name)
            return store[1] if name == "counted_store" else RedisLoginFailures(store)
    return None


def signed_session_cookie() -> str:
    session_id = secrets.token_urlsafe(32)
    return tornado.web.create_signed_value(
        COOKIE_SECRET, "session", session_id, version=2, clock=lambda: TEST_NOW
    ).decode()


async def test_a_permanent_error_is_logged_once_with_its_cause_and_pages_get_503(refused_store, browser, caplog):
    for _ in range(2):
        response = await browser.login()
        assert (response.code, response.headers["Retry-After"]) == (503, "5")
        response = await browser.get("/dashboard", headers={"Cookie": f"session={signed_session_cookie()}"})
        assert (response.code, response.headers["Retry-After"]) == (503, "5")
        assert "Nothing was lost; try again in a few seconds." in response.body.decode()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "sessions"]
    advice = next(advice for _, _, advice in REFUSALS.values() if advice in "".join(errors))
    assert len(errors) == 1 and errors[0].startswith("Session store: Redis: "), errors
    assert advice in errors[0]
    assert not re.search("(right|wrong|nobody)-password|Traceback", caplog.text)


# How `--session-store=redis://...` becomes a store.


@pytest.mark.parametrize(
    "url,expected",
    [
        ("redis://127.0.0.1:6379/0", {"host": "127.0.0.1", "port": 6379}),
        ("redis://127.0.0.1/3", {"host": "127.0.0.1", "db": 3}),
        ("redis://:s3cret@cache.internal:6380/2", {"host": "cache.internal", "password": "s3cret", "db": 2}),
        ("redis://sessions:s3cret@cache.internal/1", {"username": "sessions", "password": "s3cret", "db": 1}),
        ("rediss://:s3cret@cache.internal:6380/0", {"host": "cache.internal", "port": 6380, "password": "s3cret"}),
    ],
)
def test_a_redis_url_opens_a_redis_store_with_short_timeouts(url, expected):
    store = open_store(url, timeout=1.5)
    pool = store.client.connection_pool
    assert isinstance(store, RedisStore) and store.timeout == 2.5
    assert {name: pool.connection_kwargs.get(name) for name in expected} == expected
    # Reads are bounded by the store's own deadline (store.timeout), not by a timer per read:
    # checked on a connection as made, since redis-py 8 sets 5 s where none is given.
    connection = pool.make_connection()
    assert (connection.socket_timeout, connection.socket_connect_timeout) == (None, 1.5)
    assert pool.connection_kwargs["retry"]._retries == 0  # get_retries() is redis-py 6 and later
    assert (pool.connection_class.__name__ == "SSLConnection") == url.startswith("rediss://")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:port/0", "redis://127.0.0.1/sessions", "redis://127.0.0.1/-1"])
def test_an_unusable_redis_url_is_refused_with_a_message(url):
    with pytest.raises(SystemExit, match="--session-store: "):
        open_store(url)


# Errors by their kind: a full Redis, a replica, a session ending mid-request.


def redis_command(server, *args) -> None:
    subprocess.run(["redis-cli", "-p", str(server.port), *map(str, args)], check=True, stdout=subprocess.DEVNULL)


async def test_a_full_redis_answers_503_counts_nothing_and_leaves_no_login(
    restartable_server, restartable_store, browser, new_browser, caplog
):
    await browser.login()
    assert visits(await browser.get("/dashboard")) == "1"
    redis_command(restartable_server, "CONFIG", "SET", "maxmemory-policy", "noeviction")
    redis_command(restartable_server, "CONFIG", "SET", "maxmemory", 1)  # full: every write refused
    for _ in range(2):
        response = await browser.get("/dashboard")
        assert (response.code, response.headers["Retry-After"]) == (503, "5")
        assert (await new_browser().login()).code == 503
    redis_command(restartable_server, "CONFIG", "SET", "maxmemory", 0)
    assert visits(await browser.get("/dashboard")) == "2", "the refused visits were not counted"
    sessions = [name async for name in restartable_store.client.scan_iter(f"{PREFIX}session:*")]
    assert len(sessions) == 1, "the refused logins left no session"
    advice = [m for r in caplog.records if (m := r.getMessage()).startswith("Session store:") and "maxmemory" in m]
    assert len(advice) == 1 and "Redis reached maxmemory: raise it" in advice[0]
    assert "Traceback" not in caplog.text and "64 bits" not in caplog.text


@pytest.fixture
def primary_server():
    with redis_server.running("--repl-diskless-sync-delay", "0") as server:  # replicas served at once
        yield server


@pytest.fixture
def replica_server(primary_server):
    options = ("--replicaof", "127.0.0.1", str(primary_server.port), "--appendonly", "no")
    with redis_server.running(*options) as replica:
        with redis.Redis(port=replica.port) as client:
            while client.info("replication").get("master_link_status") != "up":
                time.sleep(0.01)
        yield replica


@pytest.fixture
def replica_store(replica_server, io_loop):
    store = open_store(replica_server.url, timeout=0.5)
    yield store
    io_loop.run_sync(store.client.aclose)


async def test_a_url_that_names_a_replica_answers_503_with_advice(
    primary_server, replica_store, browser, clock, caplog
):
    primary = RedisStore(Redis.from_url(primary_server.url), wait_replicas=1)
    session = secrets.token_urlsafe(32)
    now = clock()
    await primary.create(store_key(session), record(created=now, last_seen=now, expires=now + 1800))
    await primary.client.aclose()
    cookie = tornado.web.create_signed_value(COOKIE_SECRET, "session", session, version=2).decode()
    for _ in range(2):
        response = await browser.get("/dashboard", headers={"Cookie": f"session={cookie}"})
        assert (response.code, response.headers["Retry-After"]) == (503, "5"), "read, but the count refused"
        assert (await browser.login()).code == 503
    advice = [m for r in caplog.records if (m := r.getMessage()).startswith("Session store:") and "replica" in m]
    assert len(advice) == 1 and "point the URL at the primary, or use Sentinel" in advice[0]
    assert "Traceback" not in caplog.text and "64 bits" not in caplog.text


async def test_a_replica_that_lost_its_master_answers_503(primary_server, replica_server, replica_store):
    redis_command(replica_server, "CONFIG", "SET", "replica-serve-stale-data", "no")
    primary_server.stop()  # the replica answers MASTERDOWN even to reads, as during a failover
    with pytest.raises(StoreUnavailable, match="MasterDownError"):
        await replica_store.load(key(), NOW)


async def test_an_update_that_ends_its_session_is_an_ordinary_end(redis_store):
    now = time.time()  # Redis's clock
    await redis_store.create(key(), record(data={"visits": 1}, created=now, last_seen=now, expires=now + 3600))
    # The absolute timeout reached, or a web server's clock behind Redis's: the new expiry has passed.
    ended = Changes(increment={"visits": 1}, append={"log": 1}, fields={"last_seen": now, "expires": now - 1})
    assert await redis_store.update(key(), ended) is None
    assert await redis_store.load(key(), now - 10) is None
    assert await redis_store.find_by_user("demo", now - 10) == {}
    assert await everything_in(redis_store.client) == {}, "the index healed when read"


async def test_a_request_whose_session_ends_in_flight_sends_the_user_to_log_in(browser, redis_store, clock):
    await browser.login()
    # This web server's clock runs an hour behind Redis's: the session loads
    # as live, and the expiry the request writes has already passed for Redis.
    clock.advance(-3600)
    assert (await browser.get("/dashboard")).code == 200
    assert await everything_in(redis_store.client) == {f"{PREFIX}user:demo".encode(): ANY}, "the session ended"
    clock.advance(3600)
    response = await browser.get("/dashboard")
    assert response.code in (302, 303) and response.headers["Location"].startswith("/login")


async def test_a_login_that_cannot_list_its_session_leaves_no_session(redis_store):
    await redis_store.client.set(f"{PREFIX}user:demo", "another program's key")
    with pytest.raises(StoreMisconfigured, match="another program keeps keys under this prefix"):
        await redis_store.create(key(), record())
    assert await redis_store.client.exists(session_hash(key())) == 0


# Durability: WAIT for replicas after each session write.


async def test_wait_replicas_confirms_each_write_or_answers_unavailable(primary_server, replica_server, caplog):
    client, replica = Redis.from_url(primary_server.url), Redis(port=replica_server.port)
    # A replica that answers confirms at once; a busy test machine gets seconds for it.
    store = RedisStore(client, wait_replicas=1, wait_timeout=4)
    await store.create(key(), record(data={"visits": 1}))
    assert await store.update(key(), Changes(increment={"visits": 1})) == {"visits": 2}
    assert await replica.hget(session_hash(key()), "data.visits") == b"2", "on the replica when confirmed"
    impatient = RedisStore(client, wait_replicas=1, wait_timeout=0.3)
    replica_server.pause()
    try:
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas confirmed the write"):
            await impatient.update(key(), Changes(increment={"visits": 1}))
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
            await impatient.create(key(2), record())
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
            await impatient.delete(key())
        with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
            await impatient.delete_by_user("demo")
    finally:
        replica_server.resume()
    assert "fewer replicas than wait_replicas acknowledged a write" in caplog.text
    await client.aclose()
    await replica.aclose()


# The per-user index holds live sessions, not history.


async def test_the_user_index_drops_expired_entries_as_it_is_written(redis_store):
    client, index = redis_store.client, f"{PREFIX}user:demo"
    # What an older version left behind: 10,000 sessions long expired, still listed.
    await client.zadd(index, {f"expired-{n}": 1000 + n for n in range(10_000)})
    await redis_store.create(key(1), record(remember=True, expires=NOW + 14 * 86400))
    await redis_store.create(key(2), record())
    assert sorted(await client.zrange(index, 0, -1)) == sorted([key(1).encode(), key(2).encode()])
    # The set lives as long as its longest-listed session, no longer.
    assert await client.pexpiretime(index) == (NOW + 14 * 86400) * 1000 + LISTED_AHEAD_MS
    await redis_store.delete(key(1))
    assert await client.zrange(index, 0, -1) == [key(2).encode()]


def slowlog(client) -> list[tuple[str, int]]:
    """(command, microseconds) of every command since the last reset."""
    return [(entry["command"].split()[0].decode(), entry["duration"]) for entry in client.slowlog_get(100_000)]


async def test_listing_and_signing_out_cost_the_live_sessions_not_the_history(redis_store):
    live = 100  # the most sessions one user may hold (SessionConfig.max_sessions_per_user)
    for n in range(live):
        await redis_store.create(key(n), record())
    client, index = redis_store.client, f"{PREFIX}user:demo"
    await client.zadd(index, {f"expired-{n}": 1000 + n for n in range(10_000)})  # history, as above
    await client.zadd(index, {f"gone-{n}": (NOW + 60) * 1000 for n in range(20)})  # a failed login's entries
    for script in (LISTED, DELETE):  # loaded, as on a server after its first requests
        await client.script_load(script.text)
    with redis.Redis.from_url(redis_server.shared().url) as admin:
        admin.config_set("slowlog-max-len", 100_000)
        admin.config_set("slowlog-log-slower-than", 0)  # every command, with its time
        admin.slowlog_reset()
        try:
            assert len(await redis_store.find_by_user("demo", NOW)) == live
            first = slowlog(admin)
            admin.slowlog_reset()
            assert len(await redis_store.find_by_user("demo", NOW)) == live
            again = slowlog(admin)
            admin.slowlog_reset()
            assert await redis_store.delete_by_user("demo", keep=key(0)) == live - 1
            signed_out = slowlog(admin)
        finally:
            admin.config_set("slowlog-log-slower-than", 10_000)
            admin.config_set("slowlog-max-len", 128)
    hgetalls = [name for name, _ in first].count("HGETALL")
    assert hgetalls == live + 20, "the live sessions and the entries listed ahead, never the expired ones"
    assert [name for name, _ in again].count("HGETALL") == live, "entries of sessions gone were dropped when read"
    assert [name for name, _ in signed_out].count("EVALSHA") == 1 + live - 1
    slowest = {
        what: max(duration for _, duration in log) for what, log in [("page", first + again), ("out", signed_out)]
    }
    print(f"slowest Redis call (µs), 100 live sessions and 10,000 expired entries in the index: {slowest}")
    assert max(slowest.values()) < 10_000


async def test_a_master_short_of_min_replicas_to_write_answers_unavailable(restartable_server, caplog):
    store = RedisStore(Redis.from_url(restartable_server.url))
    await store.create(key(), record(data={"visits": 1}))
    redis_command(restartable_server, "CONFIG", "SET", "min-replicas-to-write", 1)  # and it has none
    with pytest.raises(StoreUnavailable, match="NOREPLICAS"):
        await store.update(key(), Changes(increment={"visits": 1}))
    assert (await store.load(key(), NOW)).data == {"visits": 1}
    assert "fewer good replicas than min-replicas-to-write" in caplog.text
    await store.client.aclose()


async def test_a_session_stored_before_the_listed_field_is_listed_again_at_its_first_update(redis_store):
    client = redis_store.client
    await redis_store.create(key(), record())
    await client.hdel(session_hash(key()), "listed")
    await client.delete(f"{PREFIX}user:demo")
    assert await redis_store.update(key(), Changes(increment={"visits": 1})) == {"visits": 2}
    assert await client.zscore(f"{PREFIX}user:demo", key()) == (NOW + 1800) * 1000 + LISTED_AHEAD_MS
    assert set(await redis_store.find_by_user("demo", NOW)) == {key()}


@pytest.mark.parametrize("prefix", ["{app}:", "app}{"])
def test_a_prefix_with_a_hash_tag_is_refused(prefix):
    with pytest.raises(ValueError, match="hash tag"):
        RedisStore(Redis(), prefix=prefix)


# Sentinel: the client that master_for() returns, through a failover.


def rejoined(node) -> bool:
    with node.client() as client:
        return client.info("replication").get("master_link_status") == "up"


@pytest.mark.slow
@pytest.mark.gen_test(timeout=120)
async def test_a_store_on_sentinels_master_follows_a_failover_and_loses_no_confirmed_write():
    from redis.asyncio.sentinel import Sentinel
    from redis_deployments import SERVICE, running_sentinel

    with running_sentinel() as deployment:
        sentinel = Sentinel(deployment.sentinel_addresses, socket_timeout=2)
        store = RedisStore(sentinel.master_for(SERVICE, socket_timeout=2), timeout=3, wait_replicas=1)
        now = time.time()
        await store.create(key(), record(data={"visits": 0}, created=now, last_seen=now, expires=now + 3600))
        old = deployment.current_master()
        await asyncio.to_thread(deployment.failover)
        confirmed = unconfirmed = 0
        async with asyncio.timeout(60):
            # Count on until the old master has rejoined as a replica of the new one, and a while after.
            while not rejoined(old) or confirmed < 10:
                try:
                    await store.update(key(), Changes(increment={"visits": 1}))
                    confirmed += 1
                except StoreUnavailable:
                    unconfirmed += 1
        assert deployment.current_master() is not old
        # Until the old master learns it was replaced, it takes writes that no replica
        # confirms, and that it drops when it rejoins: each of those was a 503.
        visits = (await store.load(key(), now)).data["visits"]
        assert confirmed <= visits <= confirmed + unconfirmed, "no confirmed count lost"
        print(f"{confirmed} confirmed, {unconfirmed} unconfirmed (503), {visits} kept")
        await store.client.aclose()
