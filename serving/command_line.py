"""The command line: tornado.options, but every mistake is one clear line
and a non-zero exit. Skip this file on a first read."""

from __future__ import annotations

import difflib
import errno
import socket
import sys

import tornado.netutil
import tornado.options
from tornado.options import options


def parse_command_line() -> None:
    """tornado.options.parse_command_line(), but a mistake is one clear line
    and a non-zero exit, not the whole help or a traceback."""
    known = {name.replace("_", "-") for name in options}
    for arg in sys.argv[1:]:
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


def bind_sockets(port: int, address: str) -> list[socket.socket]:
    """tornado.netutil.bind_sockets, with one clear line when it cannot."""
    if not 0 <= port <= 65535:
        raise SystemExit(f"--port={port}: a port is a number from 0 to 65535")
    try:
        return tornado.netutil.bind_sockets(port, address)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise SystemExit(f"port {port} is in use: stop the other server or pass --port=N") from None
        raise SystemExit(f"cannot listen on {address}:{port}: {e.strerror or e}") from None
