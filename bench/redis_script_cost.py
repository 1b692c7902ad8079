"""What the dashboard's two Redis calls cost redis-server itself (target 2
of issue 22 counts its CPU): RedisStore's HGETALL and UPDATE script for a
signed-in session's counter, against an empty script given the same
arguments and against aiohttp-session's GET and SET. Server-side time per
call from INFO commandstats, on a redis-server this script starts and stops.

PYTHONPATH=. .venv/bin/python bench/redis_script_cost.py
"""

from __future__ import annotations

import asyncio
import time

from load import Server, free_port
from redis.asyncio import Redis

from sessions import Changes, RedisStore, SessionRecord

CALLS = 3000


async def per_call(client: Redis, command: str, run) -> float:
    await client.config_resetstat()
    for _ in range(CALLS):
        await run()
    stats = await client.info("commandstats")
    return stats[f"cmdstat_{command}"]["usec_per_call"]


async def main() -> None:
    port = free_port()
    server = Server(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"], port)
    client = Redis(port=port, socket_timeout=None)
    store = RedisStore(client)
    try:
        now = time.time()
        await store.create("bench", SessionRecord({"visits": 0}, "demo", now, now, now + 1800))

        def count() -> Changes:  # the dashboard's increment, with its new expiry
            seen = time.time()
            return Changes(increment={"visits": 1}, fields={"last_seen": seen, "expires": seen + 1800})

        # The UPDATE script's arguments for that change, as RedisStore sends them.
        arguments = [str(int((now + 1800) * 1000)), "", "", 2, "last_seen", now, "expires", now + 1800]
        arguments += [0, 1, "data.visits", "1", 0]
        empty = await client.script_load("return 1")
        rows = {
            "HGETALL (load)": await per_call(client, "hgetall", lambda: store.load("bench", time.time())),
            "UPDATE script (the counter)": await per_call(client, "evalsha", lambda: store.update("bench", count())),
            "an empty script, the same arguments": await per_call(
                client, "evalsha", lambda: client.evalsha(empty, 1, "x", *arguments)
            ),
            "GET (aiohttp-session's load)": await per_call(client, "get", lambda: client.get("peer")),
            "SET (aiohttp-session's save)": await per_call(
                client, "set", lambda: client.set("peer", "x" * 120, ex=1800)
            ),
        }
        print(f"| Call | redis-server µs a call ({CALLS:,} calls, one client) |\n|---|---:|")
        for name, micros in rows.items():
            print(f"| {name} | {micros:.1f} |")
    finally:
        await client.aclose()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
