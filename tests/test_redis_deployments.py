"""The site on the Redis deployments sites move to, as `python app.py` in real
processes against real redis-server processes: one busy Redis, a Redis
Cluster of three masters, Sentinel. Each test counts what a user would see
(503s, 500s) and the writes it was told were saved (answered 200) that are
not there afterwards."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis_server
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool
from redis_deployments import redis_cluster, redis_sentinel  # noqa: F401 (fixtures)
from test_processes import Site
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from serving.storage import open_store

VISITS = re.compile(r"viewed this page <strong>(\d+)</strong>")


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
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.code] = counted.get(response.code, 0) + 1
    return counted


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
    assert (kwargs["username"], kwargs["password"], kwargs["db"], kwargs["socket_timeout"]) == ("app", "s3cret", 2, 1.5)
    assert kwargs["retry"].get_retries() == 0 and store.timeout == 2.5


def test_a_cluster_url_names_its_startup_nodes():
    store = open_store("rediss+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3", timeout=1.5, redis_pool_size=7)
    client = store.client
    assert isinstance(client, RedisCluster)
    assert list(client.nodes_manager.startup_nodes) == ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"]
    node = client.nodes_manager.startup_nodes["10.0.0.1:7000"]
    assert (node.max_connections, node.connection_kwargs["password"]) == (7, "s3cret")
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


def test_a_pool_of_no_connections_is_refused():
    with pytest.raises(SystemExit, match="--store-pool-size: at least 1 connection, not 0"):
        open_store("redis://127.0.0.1/0", redis_pool_size=0)


@pytest.mark.slow
def test_one_process_on_one_healthy_redis_answers_a_thousand_concurrent_clients_without_a_503():
    site = Site(f"--session-store={redis_server.empty_database()}")
    try:
        site.wait_for_log("Serving on")
        cookie = site.login_cookie().split(";", 1)[0]
        responses = asyncio.run(fetch_all(site.url + "/dashboard", cookie, count=2000, concurrency=1000))
        assert statuses(responses) == {200: 2000}
        counts = sorted(int(VISITS.search(response.body.decode()).group(1)) for response in responses)
        assert counts == list(range(1, 2001)), "each answer counted its own visit"
    finally:
        site.stop()
    assert not any("Traceback" in line for line in site.log)
