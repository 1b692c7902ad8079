"""describe_client: a short, human description of where a session is used,
for the "active sessions" page. The site passes it to SessionConfig; the
session stores it once, when it is created."""

from __future__ import annotations

from tornado.httputil import HTTPServerRequest

_BROWSERS = (("Edg", "Edge"), ("OPR", "Opera"), ("Firefox", "Firefox"), ("Chrome", "Chrome"), ("Safari", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS", "macOS"),
    ("Linux", "Linux"),
)


def describe_client(request: HTTPServerRequest) -> str:
    """ "Firefox on Linux, 203.0.113.7": enough for a person to tell their
    sessions apart, even two of the same kind of browser."""
    user_agent, address = request.headers.get("User-Agent", ""), request.remote_ip
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    kind = f"{browser} on {system}" if browser and system else browser or system or "Unknown client"
    return f"{kind}, {address}" if address else kind
