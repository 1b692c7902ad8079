from .base import SessionRecord, SessionStore, StoreUnavailable
from .memory import MemoryStore
from .mongo import MongoStore

__all__ = ["MemoryStore", "MongoStore", "SessionRecord", "SessionStore", "StoreUnavailable"]
