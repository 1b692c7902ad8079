"""Session: a dict-like object that remembers what changed.

The mixin saves only the keys that were set or deleted, so two requests on one
session that change different keys do not overwrite each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from .stores.base import SessionRecord, SessionStore

FLASHES_KEY = "_flashes"


def store_key(session_id: str) -> str:
    """Stores hold this digest, so a leaked store cannot be replayed as cookies."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def check_item(key: object, value: object) -> None:
    if not isinstance(key, str) or not key or key.startswith("$") or "." in key or "\0" in key:
        raise ValueError(f"session keys must be non-empty strings without '.', NUL or a leading '$': {key!r}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"session[{key!r}]: values must be JSON-serialisable "
            f"(str, int, float, bool, None, list, dict); {type(value).__name__} is not ({e})"
        ) from None


class Session(MutableMapping[str, Any]):
    def __init__(
        self,
        store: SessionStore,
        clock: Callable[[], float],
        session_id: str | None = None,
        record: SessionRecord | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._set_record(session_id, record)
        # IDs whose records are deleted when this session is saved.
        self.retired_ids: list[str] = []

    def _set_record(self, session_id: str | None, record: SessionRecord | None) -> None:
        self._id = session_id if record is not None else None
        self.record = record
        self._data: dict[str, Any] = dict(record.data) if record else {}
        self._user = record.user if record else None
        self._remember = record.remember if record else False
        self.changed_keys: set[str] = set()
        self.removed_keys: set[str] = set()
        self.fields_changed = False
        self.touched = False

    @property
    def id(self) -> str | None:
        """The session ID, or None until the session is first stored. Never
        log or display it."""
        return self._id

    @property
    def is_new(self) -> bool:
        return self.record is None

    @property
    def modified(self) -> bool:
        return bool(self.changed_keys or self.removed_keys or self.fields_changed or self.retired_ids)

    @property
    def user(self) -> str | None:
        return self._user

    @user.setter
    def user(self, name: str | None) -> None:
        self._user = name
        self.fields_changed = True

    @property
    def remember(self) -> bool:
        """True for a "remember me" session: persistent cookie, longer life."""
        return self._remember

    @remember.setter
    def remember(self, value: bool) -> None:
        self._remember = bool(value)
        self.fields_changed = True

    @property
    def created(self) -> float | None:
        return self.record.created if self.record else None

    @property
    def last_seen(self) -> float | None:
        return self.record.last_seen if self.record else None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        check_item(key, value)
        self._data[key] = value
        self.changed_keys.add(key)
        self.removed_keys.discard(key)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.changed_keys.discard(key)
        self.removed_keys.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Session user={self._user!r} keys={sorted(self._data)!r}>"

    def regenerate(self) -> None:
        """Move the data to a new ID when saved, and delete the old record.
        Call it at login and at every change of privilege."""
        if self._id is not None:
            self.retired_ids.append(self._id)
        data, user, remember = self._data, self._user, self._remember
        self._set_record(None, None)
        self._data, self._user, self._remember = data, user, remember
        self.changed_keys = set(data)

    def destroy(self) -> None:
        """Delete the record when saved and start again empty (logout)."""
        if self._id is not None:
            self.retired_ids.append(self._id)
        self._set_record(None, None)

    def touch(self) -> None:
        """Write the last-seen time on save even if nothing else changed."""
        self.touched = True

    async def reload(self) -> None:
        """Read the record again from the store, dropping unsaved changes."""
        if self._id is None:
            return
        record = await self._store.load(store_key(self._id), self._clock())
        if record is None:
            self.destroy()
            self.retired_ids.clear()
        else:
            self._set_record(self._id, record)

    def flash(self, message: str, category: str = "info") -> None:
        """Keep a message for the next page this browser shows."""
        self[FLASHES_KEY] = [*self.get(FLASHES_KEY, []), [category, message]]

    def pop_flashes(self) -> list[tuple[str, str]]:
        if FLASHES_KEY not in self:
            return []
        return [(category, message) for category, message in self.pop(FLASHES_KEY)]
