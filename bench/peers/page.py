"""What every peer's dashboard shows: the site's template context and headers.

The peers in this folder differ only in their framework and where they keep
the session; the page they render from it is the site's /dashboard.
"""

import time
from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
# The site's headers (handlers/base.py), so that every page answers with the same bytes.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
DISPLAY_NAMES = {"demo": "Demo User"}
IDLE_TIMEOUT, ABSOLUTE_TIMEOUT = 30 * 60, 8 * 3600


def format_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def signed_in(user: str) -> dict:
    """What a session keeps from the login on: three small values."""
    return {"user": user, "created": time.time(), "visits": 0}


def dashboard(user: str, visits: int, created: float) -> dict:
    """The template's values, from the three things the session keeps."""
    return {
        "path": "/dashboard",
        "display_name": DISPLAY_NAMES.get(user, user),
        "visits": visits,
        "created": created,
        "idle_expiry": min(time.time() + IDLE_TIMEOUT, created + ABSOLUTE_TIMEOUT),
        "absolute_expiry": created + ABSOLUTE_TIMEOUT,
        "format_time": format_time,
    }
