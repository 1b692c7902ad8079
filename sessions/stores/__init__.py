from .base import SessionRecord, SessionStore, StoreUnavailable
from .memory import MemoryStore

__all__ = ["MemoryStore", "SessionRecord", "SessionStore", "StoreUnavailable"]
