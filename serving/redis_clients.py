"""From a Redis URL to a redis-py client, for one server, Sentinel or a Cluster:

    redis://[[user]:password@]host[:port][/db]
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]
    redis+cluster://[[user]:password@]host[:port][,host[:port]...]

and rediss:// (rediss+sentinel://, rediss+cluster://) for TLS. Sentinel's
addresses are the sentinels' (port 26379 by default); the user and password
are the Redis servers', not the sentinels'. A cluster is found from any of
its nodes.

Each client keeps at most `pool_size` connections to each server, and a call
that finds them all busy waits its turn, up to `timeout`: redis-py's own pools
fail at once, so a busy site answered most requests with 503 (docs/persistence.md).
No retries: an increment whose answer was lost must not count twice. A
cluster's redirects (MOVED, ASK, TRYAGAIN) are still followed, and a command
bounced until redis-py gives up is sent again: the server ran nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import urllib.parse
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterError,
    MaxConnectionsError,
    RedisClusterException,
)

SCHEMES = ("redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")
DEFAULT_PORTS = {"sentinel": 26379, "cluster": 6379}


class TakingTurns:
    """A client whose calls take turns: at most `calls_at_once` run, each
    holding at most one connection to each server, and the others wait in
    the order they came, up to `timeout`. redis-py's BlockingConnectionPool
    waits too, but lets a newcomer take a connection freed for a waiter, so
    under load some waiters starve; and a cluster's pools cannot wait at all."""

    def take_turns(self, calls_at_once: int, timeout: float) -> Any:
        self.turns = asyncio.Semaphore(calls_at_once)  # first come, first served
        self.turn_timeout = timeout
        return self

    def turn(self) -> Turn:
        return Turn(self)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)  # type: ignore[misc]

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        """A pipeline holds connections too: it takes its turn when it runs."""
        pipeline = super().pipeline(*args, **kwargs)  # type: ignore[misc]
        execute = pipeline.execute

        async def execute_in_turn(*args: Any, **kwargs: Any) -> Any:
            async with self.turn():
                return await execute(*args, **kwargs)

        pipeline.execute = execute_in_turn
        return pipeline


_in_turn: contextvars.ContextVar[bool] = contextvars.ContextVar("in_turn", default=False)


class Turn:
    """``async with client.turn():`` a call's turn, waited for up to the
    client's turn_timeout. (A class, not @asynccontextmanager: this is on
    every Redis call, and a generator per call costs more.)"""

    __slots__ = ("client", "token")

    def __init__(self, client: TakingTurns) -> None:
        self.client = client
        self.token: contextvars.Token[bool] | None = None

    async def __aenter__(self) -> None:
        if _in_turn.get():  # a cluster runs a command on several nodes as a pipeline
            return
        turns, timeout = self.client.turns, self.client.turn_timeout
        if turns.locked():  # wait for a turn, up to the timeout
            try:
                async with asyncio.timeout(timeout):
                    await turns.acquire()
            except TimeoutError:
                raise MaxConnectionsError(f"no connection free within {timeout:g} s") from None
        else:
            await turns.acquire()  # a free turn is taken at once: no timer to set
        self.token = _in_turn.set(True)

    async def __aexit__(self, *exc_info: object) -> None:
        if self.token is not None:
            _in_turn.reset(self.token)
            self.client.turns.release()


class TurnTakingRedis(TakingTurns, Redis):
    pass


class TurnTakingCluster(TakingTurns, RedisCluster):
    """While a slot moves, a key already moved is answered ASK: ask the new
    master, prefixed by ASKING. redis-py sends ASKING on one pooled connection
    and the command on another, which the new master then sends back (MOVED);
    under load a command can bounce so until redis-py gives up ('TTL
    exhausted'). Every bounce was a refusal, nothing ran, so the command is
    tried again, within the turn's time. And a wrong password is said as
    such, not as a cluster that cannot be reached."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.turn_timeout
        while True:
            try:
                return await super().execute_command(*args, **kwargs)
            except ClusterError as e:
                if str(e) != "TTL exhausted." or time.monotonic() > deadline:
                    raise
            except RedisClusterException as e:
                if isinstance(e.__cause__, (AuthenticationError, AuthorizationError)):
                    raise e.__cause__ from None
                raise
            await asyncio.sleep(0.01)


class BriefSentinel(Sentinel):
    """Sentinel whose 'no master' error is one short line: redis-py's holds
    the repr of a client per sentinel, which every 503 would log."""

    async def discover_master(self, service_name: str) -> Any:
        try:
            return await super().discover_master(service_name)
        except MasterNotFoundError:
            where = ", ".join(describe_redis(sentinel).removeprefix("Redis at ") for sentinel in self.sentinels)
            raise MasterNotFoundError(
                f"no sentinel at {where} names a master for {service_name!r} (none answered, or it is down)"
            ) from None


def open_redis_client(url: str, timeout: float, pool_size: int) -> Any:
    """The client for the URL; SystemExit with one line for a URL that cannot work."""
    scheme = url.partition("://")[0]
    tls = scheme.startswith("rediss")
    # No socket_timeout (redis-py 8 sets 5 s unless told None): RedisStore bounds
    # each call with its own deadline (a cancelled read closes its connection),
    # and redis-py's timer on every read and write cost a seventh of a
    # dashboard's instructions (docs/performance.md).
    options: dict[str, Any] = dict(socket_timeout=None, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    if scheme in ("redis", "rediss"):
        database_number(urllib.parse.urlsplit(url).path.strip("/"))
        try:
            pool = ConnectionPool.from_url(url, max_connections=pool_size, **options)
        except ValueError as e:
            raise SystemExit(f"--session-store: not a usable Redis URL: {e}") from None
        return TurnTakingRedis.from_pool(pool).take_turns(pool_size, timeout)
    parts = urllib.parse.urlsplit(url)
    kind = scheme.partition("+")[2]
    if parts.query or parts.fragment:
        raise SystemExit(f"--session-store: a {scheme}:// URL takes no ?options")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = (urllib.parse.unquote(part) or None for part in userinfo.partition(":"))
    addresses = [address(host, DEFAULT_PORTS[kind]) for host in hosts.split(",")]
    options.update(username=username, password=password)
    if kind == "cluster":
        if parts.path.strip("/"):
            raise SystemExit("--session-store: a Redis Cluster has one database: no /db after its nodes")
        nodes = [ClusterNode(host, port) for host, port in addresses]
        cluster = TurnTakingCluster(startup_nodes=nodes, ssl=tls, max_connections=pool_size, **options)
        return cluster.take_turns(pool_size, timeout)
    service, _, database = parts.path.strip("/").partition("/")
    if not service:
        raise SystemExit("--session-store: name Sentinel's service, as in redis+sentinel://host:26379/mymaster/0")
    ask_sentinels = dict(socket_timeout=timeout, socket_connect_timeout=timeout, ssl=tls)
    sentinel = BriefSentinel(addresses, sentinel_kwargs=ask_sentinels, **options)
    master = sentinel.master_for(
        service,
        redis_class=TurnTakingRedis,
        max_connections=pool_size,
        db=database_number(database),
        ssl=tls,
    )
    return master.take_turns(pool_size, timeout)


def database_number(text: str) -> int:
    if text and not text.isdigit():  # redis-py would quietly use database 0
        raise SystemExit(f"--session-store: a Redis database is a number, as in redis://host:6379/0, not {text!r}")
    return int(text or 0)


def address(text: str, default_port: int) -> tuple[str, int]:
    try:
        parts = urllib.parse.urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = None
    if not host:
        raise SystemExit(f"--session-store: not a host[:port]: {text!r}")
    return host, port or default_port


async def close_redis(client: Any) -> None:
    """The client's connections closed, and with Sentinel the sentinels' too."""
    await client.aclose()
    if isinstance(getattr(client, "connection_pool", None), SentinelConnectionPool):
        for sentinel in client.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


def describe_redis(client: Any) -> str:
    """Where the client looks for Redis, as host:port: never the URL, which may hold a password."""
    if isinstance(client, RedisCluster):
        return "Redis Cluster at " + ", ".join(client.nodes_manager.startup_nodes)
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
        where = ", ".join(f"{kwargs['host']}:{kwargs.get('port', 6379)}" for kwargs in sentinels)
        return f"Redis master {pool.service_name!r} (Sentinel at {where})"
    kwargs = pool.connection_kwargs
    return f"Redis at {kwargs['path']}" if "path" in kwargs else f"Redis at {kwargs['host']}:{kwargs.get('port', 6379)}"
