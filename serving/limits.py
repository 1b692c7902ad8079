"""What all clients together may hold: the memory of request bodies in
flight, and which connection gives way when the server has as many open as
it allows. Each limit is a small data structure the server consults;
serving/server.py wires them to Tornado."""

from __future__ import annotations

from collections.abc import Hashable

# Every form here is under 64 KiB, so this is 500 of the largest at once (and
# thousands of real logins). A body held open costs about 1.5 times its size
# (the body, the connection's read buffer): 10,000 connections holding
# almost-full bodies grow the server by 70 MiB (docs/security.md).
BODY_MEMORY_BYTES = 32 * 2**20


class BodyBudget:
    """Bytes of request bodies in flight, across all connections. A request
    takes its declared length when its headers arrive, before any of the body
    is read (a chunked body takes each piece as it comes), and gives it all
    back when it ends, however it ends. What would pass the budget is not
    taken: the request is to be refused."""

    def __init__(self, limit: int = BODY_MEMORY_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self.held: dict[Hashable, int] = {}

    def take(self, request: Hashable, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        self.held[request] = self.held.get(request, 0) + size
        return True

    def give_back(self, request: Hashable) -> None:
        self.used -= self.held.pop(request, 0)


class Connections:
    """The open connections, by what each is doing. When the server is full,
    the one to close is the one waiting longest for a request's headers (an
    idle keep-alive connection, or a client that sends them slowly); if none
    is waiting, the one that has been sending its body the longest (a real
    form arrives in milliseconds; a client trickling bodies is the oldest).
    A connection whose request is being answered is never closed."""

    def __init__(self) -> None:
        # Both in the order they entered that state: the first is the oldest.
        self.waiting: dict[Hashable, None] = {}
        self.sending_body: dict[Hashable, None] = {}
        self.answering: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self.waiting) + len(self.sending_body) + len(self.answering)

    def __contains__(self, connection: Hashable) -> bool:
        return connection in self.waiting or connection in self.sending_body or connection in self.answering

    def opened(self, connection: Hashable) -> None:
        self.waiting[connection] = None

    def waiting_for_request(self, connection: Hashable) -> None:
        """The previous answer is sent (keep-alive): the next request's headers are awaited."""
        if connection in self:
            self.closed(connection)
            self.waiting[connection] = None

    def headers_received(self, connection: Hashable, body_follows: bool) -> None:
        if connection in self:
            self.closed(connection)
            if body_follows:
                self.sending_body[connection] = None
            else:
                self.answering.add(connection)

    def body_received(self, connection: Hashable) -> None:
        if connection in self.sending_body:
            del self.sending_body[connection]
            self.answering.add(connection)

    def closed(self, connection: Hashable) -> None:
        self.waiting.pop(connection, None)
        self.sending_body.pop(connection, None)
        self.answering.discard(connection)

    def to_close(self) -> Hashable | None:
        """The connection that gives way for a new one, if any may."""
        return next(iter(self.waiting), next(iter(self.sending_body), None))
