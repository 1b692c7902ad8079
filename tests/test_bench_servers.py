"""bench/load.py stops every server it starts (issue 22: a redis-server was
left running, and a later run's Redis rows used the wrong one)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import load  # bench/ is not a package: its scripts import each other by name

pytestmark = pytest.mark.slow  # real processes: python app.py, redis-server


def test_every_server_and_worker_started_is_stopped():
    if not shutil.which("redis-server") and os.environ.get("CI") == "true":
        pytest.fail("redis-server is needed in CI")
    servers: dict[str, load.Server] = {}
    try:
        load.start_servers(servers)
        started = [pid for server in servers.values() for pid in server.family()]
        if load.REDIS_SERVER_2 in servers:  # the two workers of --processes=2, beside their parent
            assert len(servers[load.REDIS_SERVER_2].family()) == 3
    finally:
        alive = load.stop_all(servers)
    assert alive == []
    assert started and not [pid for pid in started if load.running(pid)]


def test_a_server_that_never_listens_is_stopped_too():
    never = [sys.executable, "-c", "import time; time.sleep(120)  # never listens"]
    with pytest.raises(SystemExit):
        load.Server(never, load.free_port(), start_timeout=0.5)
    leftovers = [
        pid
        for pid in load.children(os.getpid())
        if load.running(pid) and b"never listens" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert leftovers == []
