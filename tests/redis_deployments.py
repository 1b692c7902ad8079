"""The Redis deployments sites move to, started from Debian's redis-server
for the tests: a Redis Cluster of three masters with a replica each, and
Sentinel watching a master and its replica. Each runs in a temporary
directory, on free loopback ports, and is stopped and removed afterwards.

The helpers do to them what happens in production: a node dies, a replica
is promoted, slots move to another master, Sentinel fails over.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from redis_server import REDIS_SERVER, RedisServer, free_port

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
SERVICE = "mymaster"
# A cluster node also listens on its port + 10000 (the cluster bus).
HIGHEST_CLUSTER_PORT = 65535 - 10000
# A master waits 5 s by default before it streams its data to a new
# replica, for more replicas to share the transfer: a replica would have
# nothing to take over with for the first seconds of every test.
REPLICATION = ("--repl-diskless-sync-delay", "0")


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass  # a node still starting, or down on purpose
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port <= HIGHEST_CLUSTER_PORT and bus_port_is_free(port + 10000):
            return port


def bus_port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Node(RedisServer):
    """One redis-server of a deployment, with a client to command it."""

    def __init__(self, directory: Path, *options: str, port: int | None = None, password: str | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if password:  # for clients, and for a replica to its master
            options += ("--requirepass", password, "--masterauth", password)
        super().__init__(directory, *options)
        self.port = port or self.port
        self.password = password

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=5, decode_responses=True)

    def command(self, *args: object) -> object:
        with self.client() as client:
            return client.execute_command(*args)

    def role(self) -> str:
        """'master' or 'slave' as this node sees itself ('' if it does not answer)."""
        try:
            return str(self.command("ROLE")[0])
        except (redis.RedisError, OSError):
            return ""

    def kill(self) -> None:
        """SIGKILL: the node dies as a crashed machine would, without a word to the others."""
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a paused node is killed all the same
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def in_sync(self) -> bool:
        """A replica whose link to its master is up (its first copy done)."""
        with self.client() as client:
            return client.info("replication").get("master_link_status") == "up"


class Cluster:
    """A Redis Cluster of `masters` masters, each with `replicas` replicas.
    A node unreachable for node_timeout_ms is marked failed and its replica
    takes over."""

    def __init__(
        self,
        directory: Path,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        password: str | None = None,
    ) -> None:
        options = (*REPLICATION, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        options += ("--cluster-node-timeout", str(node_timeout_ms))
        # A replica of an idle master has heard nothing from it for long
        # enough to count as stale by default, and would then never take over.
        options += ("--cluster-replica-validity-factor", "0")
        count = masters * (1 + replicas)
        self.nodes = [
            Node(directory / f"node{n}", *options, port=cluster_port(), password=password) for n in range(count)
        ]
        self.password = password
        self.replicas = replicas

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        create = [REDIS_CLI, *self._auth(), "--cluster", "create", *(node.address for node in self.nodes)]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        self.wait_ok()
        return self

    def _auth(self) -> list[str]:
        return ["--no-auth-warning", "-a", self.password] if self.password else []

    def stop(self) -> None:
        for node in self.nodes:
            if node.running:
                node.resume()
                node.stop()

    def wait_ok(self, timeout: float = 60) -> None:
        """Every running node says cluster_state:ok and agrees on who serves
        each slot, and every running replica has its master's data."""

        def agreed() -> bool:
            running = [node for node in self.nodes if node.running]
            if any("cluster_state:ok" not in node.command("CLUSTER", "INFO") for node in running):
                return False
            if not all(node.in_sync() for node in running if node.role() == "slave"):
                return False
            views = {self._slot_view(node) for node in running}
            return len(views) == 1

        wait_until(agreed, "the cluster to be ok on every node", timeout)

    def _slot_view(self, node: Node) -> tuple:
        return tuple(sorted((start, end, nodes[0][1]) for start, end, *nodes in node.command("CLUSTER", "SLOTS")))

    def node_at(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def masters(self) -> list[Node]:
        """The running masters that serve slots, as the first running node sees them."""
        some_node = next(node for node in self.nodes if node.running)
        ports = {int(nodes[0][1]) for _start, _end, *nodes in some_node.command("CLUSTER", "SLOTS")}
        return [node for node in self.nodes if node.port in ports and node.running]

    def replica_of(self, master: Node) -> Node:
        master_id = self.node_id(master)
        for node in self.nodes:
            if node.running and node.role() == "slave" and self._master_id_of(node) == master_id:
                return node
        raise LookupError(f"no running replica of {master.address}")

    def _master_id_of(self, replica: Node) -> str:
        for line in str(replica.command("CLUSTER", "NODES")).splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                return fields[3]
        return ""

    def node_id(self, node: Node) -> str:
        return str(node.command("CLUSTER", "MYID"))

    def slot_of(self, key: str) -> int:
        return int(self.masters()[0].command("CLUSTER", "KEYSLOT", key))

    def master_of_slot(self, slot: int) -> Node:
        some_node = next(node for node in self.nodes if node.running)
        for start, end, *nodes in some_node.command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return self.node_at(int(nodes[0][1]))
        raise LookupError(f"no master serves slot {slot}")

    def failover(self, replica: Node, *how: str) -> None:
        """CLUSTER FAILOVER on a replica (how: () for the safe handshake,
        ("FORCE",) or ("TAKEOVER",) when its master is gone), then wait
        until every running node agrees the replica is a master."""
        replica.command("CLUSTER", "FAILOVER", *how)
        wait_until(lambda: replica.role() == "master", f"{replica.address} to be promoted")
        self.wait_ok()

    def kill(self, node: Node) -> None:
        node.kill()

    def move_slots(self, slots: range, target: Node, pause: float = 0.0) -> None:
        """Reshard: move each slot's keys to target with MIGRATE, as
        `redis-cli --cluster reshard` does, while clients keep using them
        (they are answered ASK, then MOVED). `pause` seconds between batches
        keeps each slot half-moved for longer."""
        target_id = self.node_id(target)
        for slot in slots:
            source = self.master_of_slot(slot)
            if source is target:
                continue
            source_id = self.node_id(source)
            target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := source.command("CLUSTER", "GETKEYSINSLOT", slot, 10):
                auth = ("AUTH", self.password) if self.password else ()
                source.command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "REPLACE", *auth, "KEYS", *keys)
                time.sleep(pause)
            for node in (target, source, *self.masters()):
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_ok()

    def reshard(self, count: int, source: Node, target: Node) -> None:
        """`redis-cli --cluster reshard`: count slots from source to target."""
        command = [REDIS_CLI, *self._auth(), "--cluster", "reshard", target.address]
        command += ["--cluster-from", self.node_id(source)]
        command += ["--cluster-to", self.node_id(target), "--cluster-slots", str(count), "--cluster-yes"]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        self.wait_ok()


class SentinelProcess(Node):
    """redis-server in Sentinel mode, watching one master. Sentinel rewrites
    its configuration file as it learns, so the file lives in its directory."""

    def __init__(
        self, directory: Path, master_port: int, down_after_ms: int, failover_timeout_ms: int, auth_pass: str | None
    ) -> None:
        super().__init__(directory)  # a sentinel of its own takes no password: the servers do
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} {failover_timeout_ms}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
            + (f"sentinel auth-pass {SERVICE} {auth_pass}\n" if auth_pass else "")
        )

    def start(self) -> SentinelProcess:
        command = [REDIS_SERVER, str(self.config), "--sentinel", "--daemonize", "no", "--logfile", "sentinel.log"]
        self.process = subprocess.Popen(command)
        wait_until(self._answers, f"sentinel on {self.address} to start", timeout=10)
        return self


class Sentinel:
    """A master, a replica and three sentinels (quorum 2). The master is
    judged down after down_after_ms without an answer."""

    def __init__(
        self, directory: Path, down_after_ms: int = 1000, failover_timeout_ms: int = 3000, password: str | None = None
    ) -> None:
        self.master = Node(directory / "master", *REPLICATION, password=password)
        follow = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica = Node(directory / "replica", *REPLICATION, *follow, password=password)
        self.sentinels = [
            SentinelProcess(directory / f"sentinel{n}", self.master.port, down_after_ms, failover_timeout_ms, password)
            for n in range(3)
        ]

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(s.address for s in self.sentinels) + f"/{SERVICE}/0"

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.sentinels]

    @property
    def servers(self) -> list[Node]:
        return [self.master, self.replica]

    def start(self) -> Sentinel:
        self.master.start()
        self.replica.start()
        wait_until(self.replica.in_sync, "the replica to sync")
        for sentinel in self.sentinels:
            sentinel.start()
        wait_until(self._sentinels_know_everyone, "the sentinels to find each other and the replica")
        return self

    def stop(self) -> None:
        for node in (*self.sentinels, self.master, self.replica):
            if node.running:
                node.resume()
                node.stop()

    def _sentinels_know_everyone(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                state = client.sentinel_master(SERVICE)
            if (state["num-other-sentinels"], state["num-slaves"]) != (2, 1):
                return False
        return True

    def current_master(self) -> Node:
        """The server the sentinels name as master (a majority agreeing)."""
        named = [self.master_port_by(s) for s in self.sentinels if s.running]
        port = max(set(named), key=named.count)
        return next(node for node in self.servers if node.port == port)

    def master_port_by(self, sentinel: SentinelProcess) -> int:
        return int(sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])

    def kill_master(self) -> Node:
        """SIGKILL the current master; returns it (start() brings it back, as a replica once Sentinel sees it)."""
        master = self.current_master()
        master.kill()
        return master

    def failover(self) -> Node:
        """SENTINEL FAILOVER: the replica is promoted without asking the
        others; returns the new master once it says so and every sentinel names it."""
        old = self.current_master()
        self.sentinels[0].command("SENTINEL", "FAILOVER", SERVICE)
        return self.wait_for_new_master(old)

    def wait_for_new_master(self, old: Node, timeout: float = 60) -> Node:
        new = next(node for node in self.servers if node is not old)
        wait_until(
            lambda: new.role() == "master" and all(self.master_port_by(s) == new.port for s in self.sentinels),
            f"{new.address} to become master",
            timeout,
        )
        return new


D = TypeVar("D", "Cluster", "Sentinel")


@contextlib.contextmanager
def running(deployment: type[D], **options: Any) -> Iterator[D]:
    """A Cluster or a Sentinel deployment, started in a directory of its own, stopped after."""
    with tempfile.TemporaryDirectory(prefix=f"redis-{deployment.__name__.lower()}-") as directory:
        started = deployment(Path(directory), **options)
        try:
            yield started.start()
        finally:
            started.stop()


def running_cluster(**options: Any) -> contextlib.AbstractContextManager[Cluster]:
    return running(Cluster, **options)


def running_sentinel(**options: Any) -> contextlib.AbstractContextManager[Sentinel]:
    return running(Sentinel, **options)


@pytest.fixture
def redis_cluster() -> Iterator[Cluster]:
    """A fresh 3-master cluster with a replica each, for one test."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def redis_sentinel() -> Iterator[Sentinel]:
    """A fresh master, replica and three sentinels, for one test."""
    with running_sentinel() as sentinel:
        yield sentinel
