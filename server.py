"""Process management: serve an app on bound sockets, stop cleanly on a
signal, and fork workers for --processes. Skip this file on a first read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import tornado.httpserver
import tornado.web

log = logging.getLogger("app")


class Site(tornado.web.Application):
    """Counts the requests in flight, so that a stop can let them finish."""

    in_flight = 0

    def get_handler_delegate(self, *args: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        return super().get_handler_delegate(*args, **kwargs)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.in_flight -= 1
        super().log_request(handler)

    async def requests_finished(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight


async def serve(app: Site, sockets: list[socket.socket], *, xheaders: bool, address: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then let requests in flight finish."""
    server = tornado.httpserver.HTTPServer(app, xheaders=xheaders)
    server.add_sockets(sockets)
    log.info("Serving on http://%s:%d/", address, port)
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    server.stop()
    log.info("Stopping: no new connections, letting requests in flight finish")
    if not await app.requests_finished(timeout=10):
        log.warning("Stopped with requests still in flight")
    await server.close_all_connections()


def fork_workers(count: int, sockets: list[socket.socket]) -> None:
    """Return in each of `count` new worker processes. The parent stays
    behind, passes SIGTERM and SIGINT on to the workers, and exits when they
    have all stopped (Tornado's fork_processes leaves them running)."""
    workers: set[int] = set()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def pass_on(signum: int, frame: object) -> None:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in previous:
        signal.signal(signum, pass_on)
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            return
        workers.add(pid)
    # Only workers listen: once they stop, new connections are refused, not left waiting.
    for sock in sockets:
        sock.close()
    log.info("Started %d worker processes", count)
    failed = False
    while workers:
        pid, status = os.wait()
        workers.discard(pid)
        failed |= os.waitstatus_to_exitcode(status) != 0
    sys.exit(1 if failed else 0)
