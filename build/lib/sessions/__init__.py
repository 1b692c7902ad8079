"""Server-side sessions for Tornado. Read in this order: config, values,
session, stores/base, stores/memory, stores/mongo, mixin."""

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
