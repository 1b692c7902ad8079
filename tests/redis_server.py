"""A real redis-server for the tests: Debian's binary, started on a free port
in a temporary directory, stopped when the tests end.

Without the binary the tests that need it skip with a message (and in CI,
where a skip fails the run, .ci/run installs it).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One redis-server process. Its data is written to an append-only file
    in its directory, so a stop() and start() keeps every key."""

    def __init__(self, directory: Path, *options: str) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); the Redis tests need it")
        self.directory = directory
        self.port = free_port()
        self.options = options
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", "redis.log", *self.options]
        self.process = subprocess.Popen(command)
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "redis.log").read_text() if (self.directory / "redis.log").exists() else ""
                raise RuntimeError(f"redis-server did not start:\n{log}")
            time.sleep(0.01)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                # "+PONG", or "-NOAUTH" when a password is set, or "-LOADING" while it reads its file.
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM: redis-server flushes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def pause(self) -> None:
        """The server hangs: connections stay open, nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def running(*options: str):
    """A started RedisServer in a fresh temporary directory, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="redis-test-") as directory:
        server = RedisServer(Path(directory), *options)
        try:
            yield server.start()
        finally:
            if server.process is not None:
                server.resume()  # a paused server cannot act on SIGTERM
            server.stop()


_shared: list[RedisServer] = []
_stop_shared = contextlib.ExitStack()


def shared() -> RedisServer:
    """One server for the whole test run, started when first asked for and
    stopped by stop_shared() (tests/conftest.py calls it when the run ends)."""
    if not _shared:
        _shared.append(_stop_shared.enter_context(running()))
    return _shared[0]


def stop_shared() -> None:
    _stop_shared.close()
    _shared.clear()


def empty_database() -> str:
    """The URL of the shared server's database, emptied of what earlier tests left."""
    import redis

    url = shared().url
    with redis.Redis.from_url(url) as client:  # not async: some tests call this inside their event loop
        client.flushdb()
    return url


def store(io_loop, **client_options):
    """A RedisStore on the shared server, with an empty database to itself."""
    from redis.asyncio import Redis

    from sessions import RedisStore

    client = Redis.from_url(empty_database(), **client_options)
    yield RedisStore(client)
    io_loop.run_sync(client.aclose)
