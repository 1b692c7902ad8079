"""Server-side sessions for Tornado. Read in this order: config, values,
tracking, session, atomic, stores/base, stores/memory, stores/mongo,
stores/redis, mixin, testing.

The names are listed here and in stores/__init__.py alike, so that type
checkers see them; MongoStore and RedisStore load their drivers lazily."""

from typing import Any

from . import stores
from .config import SessionConfig
from .mixin import SessionMixin
from .session import Session
from .stores import (
    Changes,
    MemoryStore,
    SessionRecord,
    SessionStore,
    StoreError,
    StoreFull,
    StoreMisconfigured,
    StoreUnavailable,
)

__version__ = "0.2.0"
__all__ = [
    "Changes",
    "MemoryStore",
    "MongoStore",
    "RedisStore",
    "Session",
    "SessionConfig",
    "SessionMixin",
    "SessionRecord",
    "SessionStore",
    "StoreError",
    "StoreFull",
    "StoreMisconfigured",
    "StoreUnavailable",
]


def __getattr__(name: str) -> Any:
    # MongoStore and RedisStore load their drivers on first use.
    return getattr(stores, name)
