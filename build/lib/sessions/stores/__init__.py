"""Session stores. MongoStore and RedisStore import their drivers only when
first used, so the memory store needs nothing but Tornado."""

from __future__ import annotations

import importlib
from typing import Any

from .base import Changes, SessionRecord, SessionStore, StoreError, StoreMisconfigured, StoreUnavailable
from .memory import MemoryStore, StoreFull

_OPTIONAL = {"MongoStore": ("mongo", "pymongo", "mongo"), "RedisStore": ("redis", "redis", "redis")}

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
]


def __getattr__(name: str) -> Any:
    if name not in _OPTIONAL:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, driver, extra = _OPTIONAL[name]
    try:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] != driver:
            raise
        raise ImportError(f"{name} needs the {driver} package: pip install 'tornado-sessions[{extra}]'") from e
