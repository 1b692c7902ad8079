"""The limits of a server facing the internet, and a graceful stop.
Skip this file on a first read: nothing in it is about sessions.

- Site: the Application, knowing which requests are in flight (so that a stop
  can let them finish) and refusing bodies before reading them: too large
  for a form, or past the memory all bodies in flight may take.
- HTTPServer: Tornado's, with a cap on open connections below the
  file-descriptor limit, and one trusted header per fact behind a proxy.
- serve(): serve until SIGTERM or SIGINT, then stop gracefully.

The limits' own bookkeeping is in limits.py; --processes=N in workers.py;
the command line in command_line.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import resource
import signal
import socket
import sys
import time
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.log
import tornado.web
from tornado import httputil
from tornado.ioloop import IOLoop

from serving.limits import BODY_MEMORY_BYTES, BodyBudget, Connections

log = logging.getLogger("app")

# A connection waits this long for a request's headers (the first one, or
# the next one on a keep-alive connection), and a request this long for its
# body: every form here is tiny. Tornado's defaults are an hour and forever.
IDLE_TIMEOUT = 10
BODY_TIMEOUT = 5
# How long a stop waits for requests in flight; under `docker stop`'s 10 s.
STOP_GRACE = 8
# Tornado's own limit, for anything that reaches the server without passing
# through Site (which refuses far smaller bodies, with a page).
BACKSTOP_BODY_BYTES = 1024 * 1024
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What a connection reads at a time (Tornado: 64 KiB, zeroed for every read:
# about 100k instructions a request by callgrind). A body held by a slow
# client keeps one such buffer beside what it has sent.
READ_CHUNK_BYTES = 4 * 1024


class _Passing(httputil.HTTPMessageDelegate):
    """Passes each part of a request on to Tornado's own delegate."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate) -> None:
        self.delegate = delegate

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class Site(tornado.web.Application):
    """Knows the requests in flight, from their headers until their answer
    is logged or their connection closes (a client that left in the middle
    of its body is not waited for), and refuses a body before reading it:
    413 when it is over the setting max_body_bytes, 503 when the bodies in
    flight on all connections would pass the setting body_memory_bytes. The
    handler named by the setting body_refused_handler answers."""

    def __init__(self, *args: Any, **settings: Any) -> None:
        super().__init__(*args, **settings)
        self.in_flight: set[httputil.HTTPServerRequest] = set()
        self.bodies = BodyBudget(self.settings.get("body_memory_bytes", BODY_MEMORY_BYTES))

    def get_handler_delegate(self, request: httputil.HTTPServerRequest, *args: Any, **kwargs: Any) -> Any:
        return _Request(self, request, super().get_handler_delegate(request, *args, **kwargs))

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.request_ended(handler.request)
        status = handler.get_status()
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        # Tornado formats the line before the logger decides to drop it: at a level that is off, skip both.
        if "log_function" in self.settings or tornado.log.access_log.isEnabledFor(level):
            super().log_request(handler)

    def request_ended(self, request: httputil.HTTPServerRequest) -> None:
        self.in_flight.discard(request)
        self.bodies.give_back(request)

    async def requests_finished(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight


class _Request(_Passing):
    def __init__(self, site: Site, request: httputil.HTTPServerRequest, delegate: Any) -> None:
        super().__init__(delegate)
        self.site, self.request = site, request
        self.limit = site.settings.get("max_body_bytes", sys.maxsize)
        self.declared = self.received = 0
        self.refused = False

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        self.site.in_flight.add(self.request)
        self.start_line, self.headers = start_line, headers
        length = headers.get("Content-Length", "0")
        self.declared = int(length) if length.isascii() and length.isdigit() else 0
        if self.declared > self.limit:
            return self.refuse(413)
        if self.declared and not self.site.bodies.take(self.request, self.declared):
            return self.refuse(503)
        if "Transfer-Encoding" in headers:
            # A chunked body declares no length: it is counted as it comes
            # (below), so that past the limit the client gets the 413 page.
            self.request.connection.set_max_body_size(sys.maxsize)
        return super().headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        if self.refused:
            return None
        self.received += len(chunk)
        if self.received > self.limit:
            return self.refuse_after_part(413)
        beyond_declared = min(len(chunk), self.received - self.declared)
        if beyond_declared > 0 and not self.site.bodies.take(self.request, beyond_declared):
            return self.refuse_after_part(503)
        return super().data_received(chunk)

    def on_connection_close(self) -> None:
        self.site.request_ended(self.request)
        super().on_connection_close()

    def refuse_after_part(self, status: int) -> Any:
        super().on_connection_close()  # the handler that was to have it lets go of what came so far
        return self.refuse(status)

    def refuse(self, status: int) -> Any:
        self.refused = True
        self.site.bodies.give_back(self.request)
        # Once the answer is sent Tornado passes nothing more on and closes
        # the connection. Until then it reads on and throws the body away;
        # without this it would add its own bare "400" after the page.
        self.request.connection.set_max_body_size(sys.maxsize)
        handler = self.site.settings["body_refused_handler"]
        self.delegate = tornado.web.Application.get_handler_delegate(
            self.site, self.request, handler, {"status": status}
        )
        return self.delegate.headers_received(self.start_line, self.headers)


class HTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer, kept under the file-descriptor limit: with
    max_connections open, a new connection closes the one idle longest (a
    keep-alive connection, or one still sending its headers), else the one
    that has been sending its body the longest (limits.Connections), or is
    turned away if every connection has a request being answered.

    With xheaders, only X-Forwarded-Proto and X-Forwarded-For are trusted:
    Tornado prefers X-Scheme and X-Real-Ip, which a proxy that sets only the
    X-Forwarded-* headers passes on from the client untouched.
    """

    def initialize(self, *args: Any, max_connections: int = 10_000, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.connections = Connections()
        self.warned: dict[str, float] = {}

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if len(self.connections) >= self.max_connections:
            self.warn_now_and_then(
                f"{self.max_connections} connections open, the most allowed: closing the longest idle or slowest"
            )
            if not self.make_room():
                stream.close()
                return
        self.connections.opened(stream)
        super().handle_stream(stream, address)

    def make_room(self) -> bool:
        """Close the connection that gives way to a new one; False if none may."""
        stream = self.connections.to_close()
        if stream is None:
            return False
        self.connections.closed(stream)
        stream.close()
        return True

    def start_request(self, server_conn: Any, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        stream = server_conn.stream
        self.connections.waiting_for_request(stream)
        return _Arriving(self, stream, super().start_request(server_conn, request_conn))

    def on_close(self, server_conn: Any) -> None:
        self.connections.closed(server_conn.stream)
        super().on_close(server_conn)

    def pause_accepting(self, listener: socket.socket) -> None:
        """Out of file descriptors all the same (files, database connections
        count too): stop accepting for a second. Tornado's accept loop would
        fail again at once, at every turn of the event loop."""
        self.warn_now_and_then("Out of file descriptors: not accepting connections for a second")
        IOLoop.current().remove_handler(listener)
        IOLoop.current().call_later(1, self.resume_accepting, listener)

    def resume_accepting(self, listener: socket.socket) -> None:
        if listener.fileno() != -1:  # not closed by a stop meanwhile
            self.add_socket(listener)

    def warn_now_and_then(self, message: str) -> None:
        if time.monotonic() - self.warned.get(message, -math.inf) > 60:
            self.warned[message] = time.monotonic()
            log.warning("%s (said at most once a minute)", message)


class _Arriving(_Passing):
    def __init__(self, server: HTTPServer, stream: tornado.iostream.IOStream, delegate: Any) -> None:
        super().__init__(delegate)
        self.server, self.stream = server, stream

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        body_follows = headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in headers
        self.server.connections.headers_received(self.stream, body_follows)
        if self.server.xheaders:
            for untrusted in ("X-Scheme", "X-Real-Ip"):
                headers.pop(untrusted, None)
        return super().headers_received(start_line, headers)

    def finish(self) -> None:
        self.server.connections.body_received(self.stream)
        super().finish()


class _Listener(socket.socket):
    """A listening socket that, out of file descriptors, first closes the
    connection that gives way (as at max_connections) and tries again, then pauses."""

    def __init__(self, server: HTTPServer, sock: socket.socket) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self.setblocking(False)
        self.server = server

    def accept(self) -> tuple[socket.socket, Any]:
        for _ in range(2):
            try:
                return super().accept()
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
            if not self.server.make_room():
                break
            self.server.warn_now_and_then("Out of file descriptors: closing the longest idle connections to make room")
        self.server.pause_accepting(self)
        raise BlockingIOError  # Tornado's accept loop takes this as "nothing more to accept"


def raise_open_files_limit() -> int:
    """The soft limit on open files raised to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):  # macOS refuses an unlimited hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else 2**20


async def serve(
    app: Site,
    sockets: list[socket.socket],
    *,
    xheaders: bool,
    idle_timeout: float = IDLE_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
) -> None:
    """Serve until SIGINT or SIGTERM, then let requests in flight finish."""
    open_files = raise_open_files_limit()
    server = HTTPServer(
        app,
        xheaders=xheaders,
        idle_connection_timeout=idle_timeout,
        body_timeout=body_timeout,
        max_body_size=BACKSTOP_BODY_BYTES,
        chunk_size=READ_CHUNK_BYTES,
        # A quarter of the file descriptors stays for files and the database.
        max_connections=open_files * 3 // 4,
    )
    stopping = asyncio.Event()
    for signum in STOP_SIGNALS:
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    host, port = sockets[0].getsockname()[:2]
    server.add_sockets([_Listener(server, sock) for sock in sockets])
    log.info("Serving on http://%s:%d/", f"[{host}]" if ":" in host else host, port)  # a stop from now on is clean
    await stopping.wait()
    server.stop()
    log.info("Stopping: no new connections, letting requests in flight finish")
    if not await app.requests_finished(timeout=STOP_GRACE):
        log.warning("Stopped with requests still in flight")
    await server.close_all_connections()
