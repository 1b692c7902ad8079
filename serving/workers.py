"""--processes=N: a parent process that keeps N workers serving. Skip this
file on a first read: nothing in it is about sessions.

Each worker listens on a socket of its own, bound to the same port with
SO_REUSEPORT: the kernel spreads new connections across the workers, and
the parent holds no listening socket, so while no worker is alive a
connection is refused at once instead of waiting for nobody. The parent
keeps the port with a socket bound but not listening, so no other server
takes it between two workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

import tornado.netutil

from serving.command_line import bind_sockets, port_errors

log = logging.getLogger("app")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# With no worker alive the site is down: the next one starts within this,
# whatever its own back-off says.
LONGEST_WAIT_WITH_NONE_ALIVE = 1.0


@dataclasses.dataclass
class Backoff:
    """How long the replacement of one worker waits: at once after a first
    death; after a death within `forget_after` seconds of the one before,
    `first` seconds, doubling each time up to `most`, so that a worker that
    keeps dying does not make the parent spin."""

    first: float = 1.0
    most: float = 30.0
    forget_after: float = 60.0
    wait: float = 0.0
    last_death: float = -math.inf

    def after_death(self, now: float) -> float:
        recent = now - self.last_death <= self.forget_after
        self.wait = min(max(self.first, 2 * self.wait), self.most) if recent else 0.0
        self.last_death = now
        return self.wait


def reuse_port_works() -> bool:
    if not hasattr(socket, "SO_REUSEPORT"):
        return False
    with socket.socket() as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except OSError:  # defined, but the kernel does not have it
            return False
    return True


def reserve_port(port: int, address: str) -> list[socket.socket]:
    """Sockets bound to the port without listening: first without SO_REUSEPORT,
    so that a port any other server holds (this site too) is "in use"; then
    with it, so that the workers can bind it beside them."""
    with port_errors(port, address):
        for sock in bound(port, address, reuse_port=False):
            port = sock.getsockname()[1]  # the one chosen, for --port=0
            sock.close()
        return bound(port, address, reuse_port=True)


def bound(port: int, address: str, *, reuse_port: bool) -> list[socket.socket]:
    """tornado.netutil.bind_sockets without listen()."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(address or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    try:
        for family, kind, proto, _, sockaddr in set(infos):
            if port == 0 and sockets:  # every address on the one port the system chose for the first
                port = sockets[0].getsockname()[1]
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((sockaddr[0], port, *sockaddr[2:]))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def fork_workers(count: int, port: int, address: str, backoff: Callable[[], Backoff] = Backoff) -> list[socket.socket]:
    """Return, in each of `count` new worker processes, the sockets it listens
    on. The parent stays behind: it replaces a worker that dies, each worker
    after its own back-off (and within LONGEST_WAIT_WITH_NONE_ALIVE when none
    is left), passes SIGTERM and SIGINT on, and exits once the workers have
    stopped: 0 if they all stopped cleanly. A worker that exits on its own
    with an error (a setting it cannot use) stops the others too."""
    if reuse_port_works():
        held = reserve_port(port, address)
        port = held[0].getsockname()[1]

        def listening() -> list[socket.socket]:
            for sock in held:
                sock.close()
            with port_errors(port, address):
                return tornado.netutil.bind_sockets(port, address, reuse_port=True)

    else:
        log.warning(
            "SO_REUSEPORT is not available here: the workers share one listening socket, held by the parent "
            "(the kernel may give one worker most connections, and connections wait while none is alive)"
        )
        held = bind_sockets(port, address)

        def listening() -> list[socket.socket]:
            return held

    alive: dict[int, int] = {}  # pid: worker number
    backoffs = [backoff() for _ in range(count)]
    due: dict[int, float] = {}  # worker number: when its replacement starts
    stopping = False
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def stop(signum: int, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        due.clear()
        for sock in held:  # the port is free once the workers have stopped
            sock.close()
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def start_worker(number: int) -> bool:
        pid = os.fork()
        if pid == 0:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            return True
        alive[pid] = number
        return False

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    for number in range(count):
        if start_worker(number):
            return listening()
    log.info("Started %d worker processes", count)
    failed = False
    while alive or due:
        pid, status = next_death(until=min(due.values(), default=None))
        if pid in alive:
            number = alive.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping or code > 0:
                failed |= code != 0
                if not stopping:
                    log.error("Worker %d exited with status %d: stopping", pid, code)
                    stop(signal.SIGTERM)
                continue
            wait = backoffs[number].after_death(time.monotonic())
            if not alive:
                wait = min(wait, LONGEST_WAIT_WITH_NONE_ALIVE)
            due[number] = time.monotonic() + wait
            how = f"was killed by {signal.Signals(-code).name}" if code else "stopped"
            log.warning("Worker %d %s; starting another %s", pid, how, f"in {wait:g} s" if wait else "at once")
        for number, when in sorted(due.items(), key=lambda item: item[1]):
            if time.monotonic() >= when:
                del due[number]
                if start_worker(number):
                    return listening()
    sys.exit(1 if failed else 0)


def next_death(until: float | None) -> tuple[int, int]:
    """The next worker to exit, as os.wait() gives it; (0, 0) if none did by
    `until` (a time.monotonic() value; None waits as long as it takes)."""
    if until is None:
        with contextlib.suppress(ChildProcessError):
            return os.wait()  # a stop signal's handler runs meanwhile, then the wait goes on
        return 0, 0
    while time.monotonic() < until:
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                return pid, status
        time.sleep(0.05)
    return 0, 0
