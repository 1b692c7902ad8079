"""Session stores. MongoStore and RedisStore import their drivers only when
first used, so the memory store needs nothing but Tornado."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import Changes, SessionRecord, SessionStore, StoreError, StoreMisconfigured, StoreUnavailable, exact
from .memory import MemoryStore, StoreFull

if TYPE_CHECKING:
    from .mongo import MongoStore
    from .redis import RedisStore

# name: (module, the driver's top-level modules, the package on PyPI that installs it)
_OPTIONAL = {"MongoStore": ("mongo", {"pymongo", "bson"}, "pymongo"), "RedisStore": ("redis", {"redis"}, "redis")}

__all__ = [
    "Changes",
    "MemoryStore",
    "MongoStore",
    "RedisStore",
    "SessionRecord",
    "SessionStore",
    "StoreError",
    "StoreFull",
    "StoreMisconfigured",
    "StoreUnavailable",
    "exact",
]


def __getattr__(name: str) -> Any:
    if name not in _OPTIONAL:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, drivers, package = _OPTIONAL[name]
    try:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] not in drivers:
            raise
        raise ImportError(f"{name} needs its driver: pip install {package}") from e
