"""What one request's session work costs without HTTP around it: load a
logged-in session from a MemoryStore, change a key, save it.

    .venv/bin/python bench/session_cost.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sessions import MemoryStore, Session, SessionConfig

ROUNDS = 20_000


async def main() -> None:
    store, config = MemoryStore(), SessionConfig()
    session = Session(store, config)
    session.user, session["visits"] = "demo", 1
    await session.save("bench")
    session_id = session.id

    started = time.perf_counter()
    for _ in range(ROUNDS):
        session = await Session.load(store, config, session_id)
        session["visits"] += 1
        await session.save()
    print(f"load + change + save: {(time.perf_counter() - started) / ROUNDS * 1e6:.1f} us")

    started = time.perf_counter()
    for _ in range(ROUNDS):
        await Session.load(store, config, session_id)
    print(f"load alone: {(time.perf_counter() - started) / ROUNDS * 1e6:.1f} us")


if __name__ == "__main__":
    asyncio.run(main())
