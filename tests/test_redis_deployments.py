"""The site on the Redis deployments sites move to, as `python app.py` in real
processes against real redis-server processes: one busy Redis, a Redis
Cluster of three masters, Sentinel. Each test counts what a user would see
(503s, 500s) and the writes it was told were saved (answered 200) that are
not there afterwards."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import threading
import time

import pytest
import redis
import redis_server
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis_deployments import running_cluster, running_sentinel, wait_until
from test_processes import Site, signed_session_cookie
from test_redis_processes import Visitor
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from auth import throttle
from serving.storage import close_store, open_store

VISITS = re.compile(r"viewed this page <strong>(\d+)</strong>")


@pytest.fixture
def cluster():
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def sentinel():
    with running_sentinel() as sentinel:
        yield sentinel


async def fetch_all(url: str, cookie: str, count: int, concurrency: int) -> list[HTTPResponse]:
    """`count` GETs of url with the cookie, `concurrency` at a time, each on its own connection."""
    client = AsyncHTTPClient(force_instance=True, max_clients=concurrency)
    try:
        requests = [
            client.fetch(url, headers={"Cookie": cookie}, raise_error=False, connect_timeout=120, request_timeout=120)
            for _ in range(count)
        ]
        return await asyncio.gather(*requests)
    finally:
        client.close()


def statuses(responses: list[HTTPResponse]) -> dict[int, int]:
    return dict(collections.Counter(response.code for response in responses))


# How the URLs become clients (no server needed: clients connect on first use).


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database():
    store = open_store("redis+sentinel://app:s3cret@10.0.0.1:26380,10.0.0.2/sessions/2", timeout=1.5)
    pool = store.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "sessions"
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"], s.get("password")) for s in sentinels] == [
        ("10.0.0.1", 26380, None),
        ("10.0.0.2", 26379, None),
    ], "the password is the Redis servers', not the sentinels'"
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("app", "s3cret", 2)
    assert pool.make_connection().socket_timeout is None  # redis-py 8 sets 5 s where none is given
    assert kwargs["retry"].get_retries() == 0 and store.timeout == 2.5


def test_a_rediss_sentinel_url_speaks_tls_to_the_sentinels_and_the_servers():
    pool = open_store("rediss+sentinel://10.0.0.1/sessions").client.connection_pool
    assert pool.connection_class.__name__ == "SentinelManagedSSLConnection"
    assert [s.connection_pool.connection_class.__name__ for s in pool.sentinel_manager.sentinels] == ["SSLConnection"]
    assert pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs["port"] == 26379


def test_a_cluster_url_names_its_startup_nodes():
    store = open_store("rediss+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3", timeout=1.5, redis_pool_size=7)
    client = store.client
    assert isinstance(client, RedisCluster)
    assert list(client.nodes_manager.startup_nodes) == ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"]
    node = client.nodes_manager.startup_nodes["10.0.0.1:7000"]
    assert (node.max_connections, node.connection_kwargs["password"]) == (7, "s3cret")
    assert node.acquire_connection().socket_timeout is None  # no timer per read: RedisStore's deadline bounds each call
    assert node.connection_class.__name__ == "SSLConnection" and client.retry.get_retries() == 0


@pytest.mark.parametrize(
    "url,message",
    [
        ("redis+sentinel://10.0.0.1:26379", "--session-store: name Sentinel's service"),
        ("redis+sentinel://10.0.0.1:26379/mymaster/zero", "--session-store: a Redis database is a number"),
        ("redis+sentinel://10.0.0.1:port/mymaster", "--session-store: not a host[:port]: '10.0.0.1:port'"),
        ("redis+cluster://10.0.0.1:7000,/", "--session-store: not a host[:port]: ''"),
        ("redis+cluster://10.0.0.1:7000/1", "--session-store: a Redis Cluster has one database"),
        ("redis+cluster://10.0.0.1:7000?ssl=true", "--session-store: a redis+cluster:// URL takes no ?options"),
    ],
)
def test_an_unusable_sentinel_or_cluster_url_is_refused_with_one_line(url, message):
    with pytest.raises(SystemExit) as refusal:
        open_store(url)
    assert str(refusal.value).startswith(message) and "\n" not in str(refusal.value)


def test_waiting_for_replicas_is_refused_with_a_cluster_in_one_line():
    with pytest.raises(SystemExit) as refusal:
        open_store("redis+cluster://10.0.0.1:7000", redis_wait_replicas=1)
    assert str(refusal.value).startswith("--redis-wait-replicas: ") and "RedisCluster" in str(refusal.value)


def test_a_pool_of_no_connections_is_refused():
    with pytest.raises(SystemExit, match="--store-pool-size: at least 1 connection, not 0"):
        open_store("redis://127.0.0.1/0", redis_pool_size=0)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["one redis-server", "sentinel", "cluster"])
def test_one_process_on_a_healthy_redis_answers_a_thousand_concurrent_clients_without_a_503(shape, request):
    url = redis_server.empty_database() if shape == "one redis-server" else request.getfixturevalue(shape).url
    with site_on(url) as site:
        cookie = site.login_cookie().split(";", 1)[0]
        responses = asyncio.run(fetch_all(site.url + "/dashboard", cookie, count=2000, concurrency=1000))
        assert statuses(responses) == {200: 2000}
        counts = sorted(int(VISITS.search(response.body.decode()).group(1)) for response in responses)
        assert counts == list(range(1, 2001)), "each answer counted its own visit"


@pytest.mark.slow
def test_store_pool_size_bounds_the_connections_and_the_rest_wait_their_turn():
    with redis_server.running() as server, site_on(server.url, "--store-pool-size=3") as site:
        cookie = site.login_cookie().split(";", 1)[0]
        responses = asyncio.run(fetch_all(site.url + "/dashboard", cookie, count=300, concurrency=100))
        assert statuses(responses) == {200: 300}
        with redis.Redis(port=server.port) as admin:
            site_connections = [c for c in admin.client_list() if c["cmd"] != "client|list"]
        assert 1 <= len(site_connections) <= 3


# Under load: visitors count their visits on the dashboard while a server
# fails, fails over or hands its slots to another. A count shown on a 200 is
# a write the user was told was saved; afterwards each visitor's next page
# shows how many were kept.


class Load:
    """`visitors` signed-in browsers, each with `per_visitor` requests in
    flight to /dashboard, from a thread of their own while the with block
    runs; plus one browser logging in again and again. Every answer is noted
    with its time."""

    def __init__(self, site: Site, visitors: int = 4, per_visitor: int = 4) -> None:
        self.site = site
        self.cookies = [site.login_cookie().split(";", 1)[0] for _ in range(visitors)]
        self.per_visitor = per_visitor
        self.answers: list[tuple[float, int, int, int | None]] = []  # (time, visitor, status, count shown)
        self.logins: list[tuple[float, int, str | None]] = []  # (time, status, session cookie)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=120)

    def run_for(self, seconds: float) -> None:
        time.sleep(seconds)  # real time: the load is what is measured, not a clock the code reads

    async def _run(self) -> None:
        client = AsyncHTTPClient(force_instance=True, max_clients=len(self.cookies) * self.per_visitor + 1)
        workers = [self._visit(client, n) for n in range(len(self.cookies)) for _ in range(self.per_visitor)]
        await asyncio.gather(*workers, self._log_in())
        client.close()

    async def _visit(self, client: AsyncHTTPClient, visitor: int) -> None:
        while not self.stopping.is_set():
            response = await client.fetch(
                self.site.url + "/dashboard",
                headers={"Cookie": self.cookies[visitor]},
                raise_error=False,
                follow_redirects=False,
                request_timeout=30,
            )
            shown = VISITS.search(response.body.decode()) if response.code == 200 else None
            self.answers.append((time.monotonic(), visitor, response.code, int(shown.group(1)) if shown else None))

    async def _log_in(self) -> None:
        while not self.stopping.is_set():
            try:
                cookie = await asyncio.to_thread(self.site.login_cookie)
                self.logins.append((time.monotonic(), 303, cookie.split(";", 1)[0]))
            except (AssertionError, AttributeError, OSError):  # not a 303, or no answer
                self.logins.append((time.monotonic(), 0, None))
                await asyncio.sleep(0.05)

    def statuses(self) -> dict[int, int]:
        return dict(collections.Counter(status for _, _, status, _ in self.answers))

    def lost_increments(self) -> tuple[int, int]:
        """(confirmed, lost): visits answered 200, and how many of them the
        stored counts lack (at least: an unconfirmed increment that was kept
        hides a lost one)."""
        confirmed = lost = 0
        for visitor, cookie in enumerate(self.cookies):
            answered = sum(1 for _, who, status, _ in self.answers if who == visitor and status == 200)
            status, _, page = self.site.get("/dashboard", cookie=cookie)
            kept = int(VISITS.search(page).group(1)) - 1 if status == 200 else 0
            confirmed += answered
            lost += max(0, answered - kept)
        return confirmed, lost

    def lost_logins(self) -> tuple[int, int]:
        """(confirmed, lost): logins answered 303, and those whose session is gone."""
        confirmed = [cookie for _, status, cookie in self.logins if status == 303]
        lost = sum(1 for cookie in confirmed if self.site.get("/dashboard", cookie=cookie)[0] != 200)
        return len(confirmed), lost

    def window(self, status: int) -> float:
        """Seconds from the first answer with this status to the last (0 if none)."""
        times = [at for at, _, code, _ in self.answers if code == status]
        return max(times) - min(times) if times else 0.0

    def report(self, what: str) -> None:
        """Counts what was kept, while the site still runs; prints the figures (pytest -s shows them)."""
        self.confirmed, self.lost = self.lost_increments()
        self.confirmed_logins, self.lost_login_count = self.lost_logins()
        warnings = collections.Counter(line.split("] ", 1)[-1][:160] for line in self.site.log if line.startswith("[W"))
        print(
            f"{what}: warnings {dict(warnings)}; answers {self.statuses()}, 503 window {self.window(503):.2f} s, "
            f"confirmed increments lost {self.lost} of {self.confirmed}, "
            f"confirmed logins lost {self.lost_login_count} of {self.confirmed_logins}"
        )


@contextlib.contextmanager
def site_on(url: str, *options: str):
    site = Site(f"--session-store={url}", *options)
    try:
        site.wait_for_log("Serving on")
        yield site
    finally:
        site.stop()
    assert not any("Traceback" in line for line in site.log), "\n".join(site.log)


def session_keys(node) -> int:
    return len(node.command("KEYS", "tornado_sessions:session:*"))


@pytest.mark.slow
def test_on_a_cluster_sessions_land_on_every_master_and_the_login_throttle_holds(cluster):
    with site_on(cluster.url) as site:
        visitors = [Visitor() for _ in range(40)]
        assert [visitor.login(site) for visitor in visitors] == [303] * 40
        assert all(session_keys(master) > 0 for master in cluster.masters())
        assert sum(session_keys(master) for master in cluster.masters()) == 40
        assert all(visitor.open(site.url + "/dashboard")[0] == 200 for visitor in visitors)
        for _ in range(throttle.FREE_ATTEMPTS):
            assert Visitor().login(site, password="wrong") == 200
        assert Visitor().login(site) == 429


def slots_holding_sessions(cluster) -> list[int]:
    return sorted({cluster.slot_of(key) for master in cluster.masters() for key in master.command("KEYS", "*")})


@pytest.mark.slow
def test_a_cluster_resharded_under_load_loses_nothing_and_answers_no_503(cluster):
    with site_on(cluster.url) as site:
        load = Load(site)
        slots = slots_holding_sessions(cluster)  # the visitors' sessions and their user's index
        with load:
            load.run_for(1)
            for slot in slots:
                masters = cluster.masters()
                source = cluster.master_of_slot(slot)
                target = masters[(masters.index(source) + 1) % len(masters)]
                cluster.move_slots(range(slot, slot + 1), target, pause=0.5)  # ASK for 0.5 s, then MOVED
            load.run_for(1)
        load.report(f"cluster, the {len(slots)} slots of every key moved under load")
    assert load.statuses() == {200: len(load.answers)} and load.confirmed > 100 and load.lost == 0


@pytest.mark.slow
def test_a_replica_promoted_with_cluster_failover_under_load_loses_nothing(cluster):
    with site_on(cluster.url) as site:
        with Load(site) as load:
            load.run_for(1)
            busiest = max(cluster.masters(), key=session_keys)
            cluster.failover(cluster.replica_of(busiest))
            load.run_for(2)
        load.report("cluster, CLUSTER FAILOVER under load")
    assert load.statuses() == {200: len(load.answers)} and load.confirmed > 100
    assert load.lost == load.lost_login_count == 0


@pytest.mark.slow
def test_a_cluster_master_killed_under_load_answers_503_only_until_its_replica_takes_over(cluster):
    with site_on(cluster.url) as site:
        with Load(site) as load:
            load.run_for(1)
            busiest = max(cluster.masters(), key=session_keys)
            replica = cluster.replica_of(busiest)
            killed_at = time.monotonic()
            cluster.kill(busiest)
            wait_until(lambda: replica.role() == "master", "the replica to take over")
            cluster.wait_ok()
            promoted_at = time.monotonic()
            load.run_for(3)
        load.report(f"cluster, a master killed (replica promoted after {promoted_at - killed_at:.2f} s)")
    assert set(load.statuses()) <= {200, 503}
    late = [at - promoted_at for at, _, status, _ in load.answers if status == 503 and at > promoted_at + 2]
    assert not late, "503s two seconds after the replica took over"


# Sentinel: a master, a replica, three sentinels.


@pytest.mark.slow
def test_through_sentinel_sessions_counts_and_the_login_throttle_work(sentinel):
    with site_on(sentinel.url) as site:
        visitor = Visitor()
        assert visitor.login(site) == 303
        assert [visitor.open(site.url + "/dashboard")[0] for _ in range(3)] == [200] * 3
        assert "viewed this page <strong>4</strong>" in visitor.open(site.url + "/dashboard")[1]
        for _ in range(throttle.FREE_ATTEMPTS):
            assert Visitor().login(site, password="wrong") == 200
        assert Visitor().login(site) == 429
    assert session_keys(sentinel.current_master()) == 1


@pytest.mark.slow
def test_with_sentinel_a_killed_master_answers_503_only_until_the_replica_is_named(sentinel):
    with site_on(sentinel.url) as site:
        with Load(site) as load:
            load.run_for(1)
            killed_at = time.monotonic()
            old = sentinel.kill_master()
            sentinel.wait_for_new_master(old)
            named_at = time.monotonic()
            load.run_for(3)
        load.report(f"Sentinel, the master killed (replica named after {named_at - killed_at:.2f} s)")
    assert set(load.statuses()) <= {200, 503}
    late = [at - named_at for at, _, status, _ in load.answers if status == 503 and at > named_at + 1]
    assert not late, "503s a second after Sentinel named the new master"
    assert load.statuses().get(200, 0) > 100


@pytest.mark.slow
@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_with_sentinel_a_manual_failover_under_load(sentinel, wait_replicas):
    """SENTINEL FAILOVER: the old master keeps taking writes until Sentinel
    makes it a replica of the new one, and then drops them. Waiting for a
    replica (WAIT) refuses them instead: no confirmed write is lost."""
    with site_on(sentinel.url, f"--redis-wait-replicas={wait_replicas}") as site:
        with Load(site) as load:
            load.run_for(1)
            old = sentinel.current_master()
            failover_at = time.monotonic()
            sentinel.failover()
            wait_until(lambda: old.role() == "slave", "the old master to be made a replica", timeout=60)
            demoted_at = time.monotonic()
            wait_until(old.in_sync, "the old master to copy the new one")
            synced_at = time.monotonic()
            load.run_for(3)
        load.report(
            f"Sentinel, SENTINEL FAILOVER, --redis-wait-replicas={wait_replicas} (old master demoted after"
            f" {demoted_at - failover_at:.2f} s)"
        )
    # Without WAIT a login confirmed by the old master can be lost: its browser is sent to log in again.
    assert set(load.statuses()) <= ({200, 503} if wait_replicas else {200, 302, 503})
    # Answers begun once the new master has its replica back (a WAIT lasts up to 1.5 s).
    after = [status for at, _, status, _ in load.answers if at > synced_at + 2]
    assert after and set(after) == {200}, "the site follows the failover with no restart"
    if wait_replicas:
        assert load.lost == load.lost_login_count == 0


# Errors of the server's own: never a 500.


@pytest.mark.slow
def test_a_full_redis_answers_503_and_serves_again_once_it_has_room():
    with redis_server.running() as server, site_on(server.url) as site:
        cookie = site.login_cookie().split(";", 1)[0]
        assert site.get("/dashboard", cookie=cookie)[0] == 200
        with redis.Redis(port=server.port) as admin:
            admin.config_set("maxmemory", 1)  # maxmemory-policy is noeviction, the default
            status, headers, page = site.get("/dashboard", cookie=cookie)
            assert (status, headers["Retry-After"]) == (503, "5") and "Nothing was lost" in page
            admin.config_set("maxmemory", 0)
        assert site.get("/dashboard", cookie=cookie)[0] == 200


@pytest.mark.slow
def test_a_site_pointed_at_a_master_that_became_a_replica_answers_503():
    """The case of a plain redis:// URL after a failover elsewhere: reads
    still work on the replica, writes are refused (READONLY)."""
    with redis_server.running() as old, redis_server.running() as new, site_on(old.url) as site:
        cookie = site.login_cookie().split(";", 1)[0]
        with redis.Redis(port=old.port) as old_admin, redis.Redis(port=new.port) as new_admin:
            new_admin.replicaof("127.0.0.1", old.port)
            wait_until(lambda: new_admin.info("replication").get("master_link_status") == "up", "the copy")
            new_admin.replicaof("no", "one")
            old_admin.replicaof("127.0.0.1", new.port)
            wait_until(lambda: old_admin.info("replication").get("master_link_status") == "up", "the switch")
        status, headers, _ = site.get("/dashboard", cookie=cookie)
        assert (status, headers["Retry-After"]) == (503, "5")


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape", ["redis://127.0.0.1:{}/0", "redis+sentinel://127.0.0.1:{}/mymaster", "redis+cluster://127.0.0.1:{}"]
)
def test_a_redis_that_cannot_be_reached_at_start_is_one_log_line(shape):
    url = shape.format(redis_server.free_port())  # nothing listens there
    with site_on(url, "--store-timeout=0.5") as site:
        site.wait_for_log("unreachable")
        for _ in range(3):
            status, headers, _ = site.get("/dashboard", cookie="session=" + signed_session_cookie())
            assert (status, headers["Retry-After"]) == (503, "5")
    (line,) = [line for line in site.log if "unreachable" in line]
    assert "Serving anyway; pages that need a session answer 503" in line and len(line) < 400


@pytest.mark.slow
def test_a_master_refusing_writes_without_a_replica_answers_503():
    """min-replicas-to-write: Redis's own guard against writes a failover would drop."""
    with redis_server.running("--min-replicas-to-write", "1") as server, site_on(server.url) as site:
        assert site.get("/dashboard", cookie="session=" + signed_session_cookie())[0] == 302, "reads still work"
        assert Visitor().login(site) == 503


@pytest.mark.slow
def test_closing_a_sentinel_store_closes_its_connections_to_the_sentinels_too(sentinel):
    def clients_of(node) -> int:
        # Less the asking connection, and the sentinels' links to each other (made as they find each other).
        return sum("name=sentinel-" not in line for line in node.command("CLIENT", "LIST").splitlines()) - 1

    async def use_and_close() -> list[int]:
        store = open_store(sentinel.url)
        await store.call(store.client.ping())
        opened = [clients_of(node) for node in sentinel.sentinels]
        await close_store(store)
        return opened

    before = [clients_of(node) for node in sentinel.sentinels]
    opened = asyncio.run(use_and_close())
    assert sum(opened) > sum(before)
    wait_until(lambda: [clients_of(node) for node in sentinel.sentinels] == before, "the sentinels' connections closed")


@pytest.mark.slow
def test_a_password_in_the_url_reaches_the_servers_of_sentinel_and_of_a_cluster_not_the_sentinels():
    with running_sentinel(password="s3cret") as sentinel, running_cluster(password="s3cret") as cluster:
        for url in (sentinel.url, cluster.url):
            with_password = url.replace("://", "://:s3cret@")
            with site_on(with_password) as right:
                visitor = Visitor()
                assert visitor.login(right) == 303
                assert visitor.open(right.url + "/dashboard")[0] == 200
            with site_on(url.replace("://", "://:n0tit@")) as wrong:
                assert Visitor().login(wrong) == 503
            log = "\n".join(right.log + wrong.log)
            assert "check the user and password in the Redis URL" in log and "unreachable" not in log
            assert "s3cret" not in log and "n0tit" not in log
