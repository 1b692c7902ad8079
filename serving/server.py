"""Process management and the limits of a server facing the internet.
Skip this file on a first read: nothing in it is about sessions.

- Site: the Application, knowing which requests are in flight (so that a stop
  can let them finish) and refusing over-large bodies before reading them.
- HTTPServer: Tornado's, with a cap on open connections below the
  file-descriptor limit, and one trusted header per fact behind a proxy.
- serve(): serve until SIGTERM or SIGINT, then stop gracefully.

--processes=N is in workers.py, the command line in command_line.py.
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
import tornado.netutil
import tornado.options
import tornado.web
from tornado import httputil
from tornado.ioloop import IOLoop

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
    of its body is not waited for), and refuses a body over the setting
    max_body_bytes as soon as its length is known: the handler named by the
    setting body_too_large_handler answers, before the body is read."""

    def __init__(self, *args: Any, **settings: Any) -> None:
        super().__init__(*args, **settings)
        self.in_flight: set[httputil.HTTPServerRequest] = set()

    def get_handler_delegate(self, request: httputil.HTTPServerRequest, *args: Any, **kwargs: Any) -> Any:
        return _Request(self, request, super().get_handler_delegate(request, *args, **kwargs))

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        self.in_flight.discard(handler.request)
        super().log_request(handler)

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
        self.received = 0
        self.refused = False

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        self.site.in_flight.add(self.request)
        self.start_line, self.headers = start_line, headers
        length = headers.get("Content-Length", "0")
        if length.isascii() and length.isdigit() and int(length) > self.limit:
            return self.refuse()
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
            super().on_connection_close()  # the handler that was to have it lets go of what came so far
            return self.refuse()
        return super().data_received(chunk)

    def on_connection_close(self) -> None:
        self.site.in_flight.discard(self.request)
        super().on_connection_close()

    def refuse(self) -> Any:
        self.refused = True
        # Once the answer is sent Tornado passes nothing more on and closes
        # the connection. Until then it reads on and throws the body away;
        # without this it would add its own bare "400" after the page.
        self.request.connection.set_max_body_size(sys.maxsize)
        handler = self.site.settings["body_too_large_handler"]
        self.delegate = tornado.web.Application.get_handler_delegate(self.site, self.request, handler)
        return self.delegate.headers_received(self.start_line, self.headers)


class HTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer, kept under the file-descriptor limit: with
    max_connections open, a new connection closes the one idle longest (a
    keep-alive connection, or one still sending its headers), or is turned
    away if every connection has a request in flight.

    With xheaders, only X-Forwarded-Proto and X-Forwarded-For are trusted:
    Tornado prefers X-Scheme and X-Real-Ip, which a proxy that sets only the
    X-Forwarded-* headers passes on from the client untouched.
    """

    def initialize(self, *args: Any, max_connections: int = 10_000, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self.open: set[tornado.iostream.IOStream] = set()
        # Connections waiting for a request's headers, longest waiting first.
        self.idle: dict[tornado.iostream.IOStream, None] = {}
        self.warned: dict[str, float] = {}

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if len(self.open) >= self.max_connections:
            self.warn_now_and_then(
                f"{self.max_connections} connections open, the most allowed: closing the longest idle"
            )
            if not self.close_longest_idle():
                stream.close()
                return
        self.open.add(stream)
        self.idle[stream] = None
        super().handle_stream(stream, address)

    def close_longest_idle(self) -> bool:
        for stream in self.idle:
            self.forget(stream)
            stream.close()
            return True
        return False

    def forget(self, stream: tornado.iostream.IOStream) -> None:
        self.open.discard(stream)
        self.idle.pop(stream, None)

    def start_request(self, server_conn: Any, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        stream = server_conn.stream
        if stream in self.open:
            self.idle[stream] = None
        return _Arriving(self, stream, super().start_request(server_conn, request_conn))

    def on_close(self, server_conn: Any) -> None:
        self.forget(server_conn.stream)
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
        self.server.idle.pop(self.stream, None)
        if self.server.xheaders:
            for untrusted in ("X-Scheme", "X-Real-Ip"):
                headers.pop(untrusted, None)
        return super().headers_received(start_line, headers)


class _Listener(socket.socket):
    """A listening socket that, out of file descriptors, first closes the
    server's longest idle connection and tries again, then pauses."""

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
            if not self.server.close_longest_idle():
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


async def serve(app: Site, sockets: list[socket.socket], *, xheaders: bool, address: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then let requests in flight finish."""
    open_files = raise_open_files_limit()
    server = HTTPServer(
        app,
        xheaders=xheaders,
        idle_connection_timeout=IDLE_TIMEOUT,
        body_timeout=BODY_TIMEOUT,
        max_body_size=BACKSTOP_BODY_BYTES,
        # A quarter of the file descriptors stays for files and the database.
        max_connections=open_files * 3 // 4,
    )
    stopping = asyncio.Event()
    for signum in STOP_SIGNALS:
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    server.add_sockets([_Listener(server, sock) for sock in sockets])
    log.info("Serving on http://%s:%d/", address, port)  # after the handlers: a stop from now on is clean
    await stopping.wait()
    server.stop()
    log.info("Stopping: no new connections, letting requests in flight finish")
    if not await app.requests_finished(timeout=STOP_GRACE):
        log.warning("Stopped with requests still in flight")
    await server.close_all_connections()
