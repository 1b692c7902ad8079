"""--processes=N: a parent process that keeps N workers serving.
Skip this file on a first read: nothing in it is about sessions."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import sys
import time

log = logging.getLogger("app")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def fork_workers(count: int, sockets: list[socket.socket]) -> None:
    """Return in each of `count` new worker processes. The parent stays
    behind: it replaces a worker that dies (at once, then waiting longer
    after each death within a minute of the last, so a crash loop does not
    spin), passes SIGTERM and SIGINT on, and exits once the workers have
    stopped: 0 if they all stopped cleanly. A worker that exits on its own
    with an error (a setting it cannot use) stops the others too."""
    workers: set[int] = set()
    stopping = False
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def stop(signum: int, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        # Once the workers stop, new connections are refused, not left waiting.
        for sock in sockets:
            sock.close()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def start_worker() -> bool:
        pid = os.fork()
        if pid == 0:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            return True
        workers.add(pid)
        return False

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    for _ in range(count):
        if start_worker():
            return
    log.info("Started %d worker processes", count)
    failed = False
    delay, last_death = 0.0, -math.inf
    while workers:
        pid, status = os.wait()
        workers.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping or code > 0:
            failed |= code != 0
            if not stopping:
                log.error("Worker %d exited with status %d: stopping", pid, code)
                stop(signal.SIGTERM)
            continue
        delay = 0.0 if time.monotonic() - last_death > 60 else min(max(1.0, delay * 2), 30.0)
        last_death = time.monotonic()
        how = f"was killed by {signal.Signals(-code).name}" if code else "stopped"
        log.warning("Worker %d %s; starting another %s", pid, how, f"in {delay:g} s" if delay else "at once")
        while not stopping and time.monotonic() < last_death + delay:
            time.sleep(0.05)
        if not stopping and start_worker():
            return
    sys.exit(1 if failed else 0)
