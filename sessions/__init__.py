"""Server-side sessions for Tornado. Read in this order: config, values,
tracking, records, session, stores/base, stores/memory, stores/mongo,
stores/redis, cookies, mixin, testing.

The names are listed here and in stores/__init__.py alike, so that type
checkers see them; MongoStore and RedisStore load their drivers lazily."""

from typing import TYPE_CHECKING, Any

from . import stores
from .config import SessionConfig
from .cookies import CookieSecretError, SignedCookies
from .mixin import SessionMixin
from .records import store_key
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
    exact,
)

if TYPE_CHECKING:
    from .stores.mongo import MongoStore
    from .stores.redis import RedisStore

__version__ = "0.2.0"
__all__ = [
    "Changes",
    "CookieSecretError",
    "MemoryStore",
    "MongoStore",
    "RedisStore",
    "Session",
    "SessionConfig",
    "SessionMixin",
    "SessionRecord",
    "SessionStore",
    "SignedCookies",
    "StoreError",
    "StoreFull",
    "StoreMisconfigured",
    "StoreUnavailable",
    "exact",
    "store_key",
]


def __getattr__(name: str) -> Any:
    # MongoStore and RedisStore load their drivers on first use.
    return getattr(stores, name)
