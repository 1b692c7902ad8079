"""What RedisStore(wait_replicas=1) costs: the time of one update (the
dashboard's increment), with and without waiting for the replica, against a
local redis-server and one replica that this script starts and stops.

PYTHONPATH=.:tests python bench/redis_wait.py

Prints a line per round (medians and p99 of 2,000 sequential updates).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

import redis
import redis_server
from redis.asyncio import Redis

from sessions import Changes, RedisStore, SessionRecord

UPDATES = 2000


async def measure(url: str, wait_replicas: int) -> tuple[float, float]:
    store = RedisStore(Redis.from_url(url), wait_replicas=wait_replicas)
    now = time.time()
    await store.create("bench", SessionRecord({"visits": 0}, "demo", now, now, now + 3600))
    times = []
    for _ in range(UPDATES):
        start = time.perf_counter()
        await store.update("bench", Changes(increment={"visits": 1}))
        times.append(time.perf_counter() - start)
    await store.delete("bench")
    await store.client.aclose()
    return statistics.median(times) * 1e6, sorted(times)[int(UPDATES * 0.99)] * 1e6


def main() -> None:
    with contextlib.ExitStack() as servers:
        primary = servers.enter_context(redis_server.running("--repl-diskless-sync-delay", "0"))
        options = ("--replicaof", "127.0.0.1", str(primary.port), "--appendonly", "no")
        replica = servers.enter_context(redis_server.running(*options))
        with redis.Redis(port=replica.port) as client:
            while client.info("replication")["master_link_status"] != "up":
                time.sleep(0.01)
        for wait_replicas in (0, 1, 0, 1):
            median, p99 = asyncio.run(measure(primary.url, wait_replicas))
            print(f"wait_replicas={wait_replicas}: median {median:.0f} µs, p99 {p99:.0f} µs per update")


if __name__ == "__main__":
    main()
