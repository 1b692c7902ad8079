"""Server-side sessions for Tornado. Read in this order: config, session,
stores/base, stores/memory, stores/mongo, mixin."""

from .config import SessionConfig
from .mixin import SessionMixin
from .session import Session
from .stores import MemoryStore, MongoStore, SessionRecord, SessionStore, StoreUnavailable

__all__ = [
    "MemoryStore",
    "MongoStore",
    "Session",
    "SessionConfig",
    "SessionMixin",
    "SessionRecord",
    "SessionStore",
    "StoreUnavailable",
]
