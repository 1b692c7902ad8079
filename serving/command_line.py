"""The command line: tornado.options, but every mistake is one clear line and
a non-zero exit, found before the port is taken. Skip this file on a first
read. The options of running the server live here; the site's are in app.py.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import socket
import sys
from collections.abc import Iterator

import tornado.netutil
import tornado.options
from tornado.options import define, options

from serving.limits import BODY_MEMORY_BYTES
from serving.server import BODY_TIMEOUT, IDLE_TIMEOUT

define("idle_timeout", default=float(IDLE_TIMEOUT), help="seconds a connection may take to send a request's headers")
define("body_timeout", default=float(BODY_TIMEOUT), help="seconds a request may take to send its body")
define(
    "body_memory",
    default=BODY_MEMORY_BYTES // 2**20,
    help="MiB the request bodies in flight on all connections may take; past it a body gets the 503 page unread",
)
define(
    "worker_restart_wait",
    default=1.0,
    help="seconds before replacing a worker that died within a minute of its last death; doubles up to 30 s",
)

AT_LEAST_ZERO = ("processes",)
ABOVE_ZERO = ("idle_timeout", "body_timeout", "body_memory", "worker_restart_wait", "store_timeout")


def parse_command_line(args: list[str] | None = None) -> None:
    """tornado.options.parse_command_line(), but --help and -h print the
    options to standard output, and a mistake is one clear line."""
    args = sys.argv[1:] if args is None else args
    if "--help" in args or "-h" in args:
        options.print_help(sys.stdout)
        raise SystemExit(0)
    known = {name.replace("_", "-") for name in options}
    for arg in args:
        name, has_value, _ = arg.lstrip("-").partition("=")
        name = name.replace("_", "-")
        if not arg.startswith("-") or not name:
            raise SystemExit(f"unexpected argument {arg!r}: options look like --port=8000 (--help lists them)")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f": did you mean --{close[0]}?" if close else " (--help lists them)"
            raise SystemExit(f"unknown option --{name}{hint}")
        try:
            options.parse_command_line([sys.argv[0], arg], final=False)
        except (tornado.options.Error, ValueError):
            expected = {int: "a whole number", float: "a number"}.get(type(getattr(options, name)), "a value")
            if not has_value:
                raise SystemExit(f"--{name} needs {expected}: --{name}=...") from None
            raise SystemExit(f"{arg}: expected {expected}") from None
    options.run_parse_callbacks()
    check_values()


def check_values() -> None:
    if not 0 <= options.port <= 65535:
        raise SystemExit(f"--port={options.port}: a port is a number from 0 to 65535")
    for name in AT_LEAST_ZERO:
        if name in options and getattr(options, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')}={getattr(options, name)}: expected 0 or more")
    for name in ABOVE_ZERO:
        if name in options and not getattr(options, name) > 0:
            raise SystemExit(f"--{name.replace('_', '-')}={getattr(options, name)}: expected more than 0")


def bind_sockets(port: int, address: str) -> list[socket.socket]:
    """tornado.netutil.bind_sockets, with one clear line when it cannot."""
    with port_errors(port, address):
        return tornado.netutil.bind_sockets(port, address)


@contextlib.contextmanager
def port_errors(port: int, address: str) -> Iterator[None]:
    try:
        yield
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise SystemExit(f"port {port} is in use: stop the other server or pass --port=N") from None
        raise SystemExit(f"cannot listen on {address}:{port}: {e.strerror or e}") from None
