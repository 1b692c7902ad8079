"""The site scaled out: two `app.py` processes on a 3-master Redis Cluster
(a replica each), against one `app.py` on one redis-server, and one `app.py`
on the cluster between them (what the cluster client costs). Two more rows
give the price of durability: one `app.py` on Sentinel's master, without and
with `--redis-wait-replicas=1` (each write waits for the replica).

.venv/bin/python bench/scale_out.py           # 3 rounds of 10 s, medians; about 5 minutes
.venv/bin/python bench/scale_out.py --quick   # one round of 3 s, to see that it works

Each `app.py` gets its own wrk (100 connections, bench/wrk.lua) on its own
logged-in dashboard, so the rows differ in processes and Redis servers, not
in connections per process. Requests/s is the sum over the processes, p99
the worst of them, errors every answer that was not a 200 (and every socket
error). After the last round one more visit per session reads its counter,
which must equal the 200 answers its dashboard gave (`counter ok`).

Every Redis runs as the tests' launchers start them (tests/redis_server.py,
tests/redis_deployments.py): Debian's redis-server, an append-only file,
loopback ports. Needs wrk and redis-server. On a machine with fewer cores
than processes (two sites, six cluster nodes, wrk) the cluster cannot be
faster: the figures show what it costs, and that nothing is lost.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor

from load import ROOT, SECRET, Server, VisitCount, free_port, log_in, machine

sys.path.insert(0, str(ROOT / "tests"))
from redis_deployments import running_cluster, running_sentinel  # the tests' launchers
from redis_server import running

ONE = "one app.py, one redis-server"
ONE_ON_CLUSTER = "one app.py, Redis Cluster (3 masters + 3 replicas)"
TWO = "two app.py, the same Redis Cluster"
SENTINEL = "one app.py, Sentinel's master (a replica, 3 sentinels)"
DURABLE = "the same, --redis-wait-replicas=1"


def site(store_url: str, *options: str) -> Server:
    port = free_port()
    flags = [f"--cookie-secret={SECRET}", "--logging=warning", f"--session-store={store_url}", *options]
    return Server([sys.executable, "app.py", f"--port={port}", *flags], port)


class Setup:
    """App processes sharing one store, each with its own visitor under wrk."""

    def __init__(self, name: str, sites: list[Server]) -> None:
        self.name, self.sites, self.rounds = name, sites, []
        self.visitors = [VisitCount(s.port, log_in(s.port)[0], answers=1) for s in sites]  # log_in's own visit

    def round(self, seconds: int) -> None:
        with ThreadPoolExecutor(len(self.visitors)) as pool:  # each wrk is a process of its own
            results = list(pool.map(lambda visitor: visitor.wrk(seconds), self.visitors))
        self.rounds.append(
            {
                "rps": sum(r["rps"] for r in results),
                "p99_ms": max(r["p99_us"] for r in results) / 1000,
                "errors": sum(r["errors"] for r in results),
            }
        )

    def row(self) -> str:
        checks = [visitor.check() for visitor in self.visitors]
        counted = all(c["page"] == c["answers"] for c in checks)
        rps = statistics.median(r["rps"] for r in self.rounds)
        p99 = statistics.median(r["p99_ms"] for r in self.rounds)
        errors = sum(r["errors"] for r in self.rounds)
        verdict = (
            "ok" if counted else "WRONG: " + ", ".join(f"{c['page']} shown, {c['answers']} answers" for c in checks)
        )
        return f"| {self.name} | {rps:.0f} | {p99:.1f} | {errors} | {verdict} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of 3 s")
    args = parser.parse_args()
    rounds, seconds = (1, 3) if args.quick else (3, 10)
    with contextlib.ExitStack() as stack:
        one_redis = stack.enter_context(running())
        cluster = stack.enter_context(running_cluster())
        sentinel = stack.enter_context(running_sentinel())
        servers = [site(one_redis.url), site(cluster.url), site(cluster.url), site(cluster.url)]
        servers += [site(sentinel.url), site(sentinel.url, "--redis-wait-replicas=1")]
        for server in servers:
            stack.callback(server.stop)
        setups = [Setup(ONE, servers[:1]), Setup(ONE_ON_CLUSTER, servers[1:2]), Setup(TWO, servers[2:4])]
        setups += [Setup(SENTINEL, servers[4:5]), Setup(DURABLE, servers[5:])]
        for _ in range(rounds):  # interleaved: the machine's noise falls on both rows
            for setup in setups:
                setup.round(seconds)
        print(f"{machine()}; {rounds} round(s) of {seconds} s, medians; wrk -t1 -c100 per app.py\n")
        print("| Setup | Requests/s | p99 ms | Errors | Counter |\n|---|---:|---:|---:|---|")
        for setup in setups:
            print(setup.row())


if __name__ == "__main__":
    main()
