"""MemoryStore at 100 000 sessions: memory per session, and what a sweep costs.

PYTHONPATH=. python bench/store_at_scale.py memory        # bytes per session, RSS delta
PYTHONPATH=. python bench/store_at_scale.py tracemalloc   # bytes per session, as tracemalloc counts them
PYTHONPATH=. python bench/store_at_scale.py sweep         # sweep time by store size and by how many expired

Each mode prints one JSON line. Run each in a fresh process (bench/load.py
does), so one measurement's garbage does not land in another's figures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from sessions import Changes, MemoryStore, SessionConfig, SessionRecord, store_key

SESSIONS = 100_000
# (records in the store, how many of them have expired)
SWEEPS = [(10_000, 1_000), (100_000, 1_000), (100_000, 10_000)]
T0 = 1_800_000_000.0


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def add_logged_in_session(store: MemoryStore, number: int, expires: float) -> None:
    """What a session looks like after a login and a few pages: the store's
    real create() then update(), as the mixin calls them."""
    key = store_key(SessionConfig().id_factory())
    record = SessionRecord(
        data={}, user=f"user{number % 5000}", created=T0, last_seen=T0, expires=expires, client="Firefox on Linux"
    )
    await store.create(key, record)
    flashes = [["success", "Welcome back."], ["info", "Your last visit was yesterday."]]
    changes = Changes(set={"visits": 7, "_flashes": flashes}, fields={"last_seen": T0 + 60, "expires": expires})
    await store.update(key, changes)


async def fill(store: MemoryStore, size: int, expired: int = 0) -> None:
    # The records that expire are spread through the store, not bunched at one end.
    step = size // expired if expired else 0
    for number in range(size):
        # Sessions start at different moments, so no two expire at the same one.
        expires = (T0 + 10 if step and number % step == 0 else T0 + 3600) + number / size
        await add_logged_in_session(store, number, expires)


def memory(measure: str) -> dict:
    if measure == "tracemalloc":
        tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0] if measure == "tracemalloc" else rss_bytes()
    store = MemoryStore(max_entries=SESSIONS)
    asyncio.run(fill(store, SESSIONS))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if measure == "tracemalloc" else rss_bytes()
    assert len(store) == SESSIONS
    return {
        "measure": measure,
        "sessions": SESSIONS,
        "total_bytes": after - before,
        "per_session": (after - before) / SESSIONS,
    }


def sweep(rounds: int = 7) -> dict:
    result = []
    for size, expired in SWEEPS:
        expired_times, idle_times = [], []
        for _ in range(rounds):
            store = MemoryStore(max_entries=size)
            asyncio.run(fill(store, size, expired))
            started = time.perf_counter()
            nothing = store.sweep(T0)
            idle_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            removed = store.sweep(T0 + 20)
            expired_times.append(time.perf_counter() - started)
            assert (nothing, removed, len(store)) == (0, expired, size - expired)
        result.append(
            {
                "size": size,
                "expired": expired,
                "median_sweep_s": statistics.median(expired_times),
                "median_sweep_nothing_due_s": statistics.median(idle_times),
            }
        )
    return {"sweeps": result}


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode in ("memory", "tracemalloc"):
        print(json.dumps(memory(mode)))
    elif mode == "sweep":
        print(json.dumps(sweep()))
    else:
        raise SystemExit(__doc__)
