"""Session: a dict-like object that loads itself from a store and saves only
what changed.

It remembers each value as loaded, and a save writes only the keys whose
values differ, so two requests on one session that change different keys do
not overwrite each other, and an in-place change (a list appended to) is not
lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, MutableMapping
from typing import Any, Literal

from .config import SessionConfig
from .stores.base import SessionRecord, SessionStore

FLASHES_KEY = "_flashes"
_CREATE_ATTEMPTS = 3
# MongoDB refuses documents nested deeper than 100 levels; the record and its
# data field use two of them.
_MAX_DEPTH = 90

SaveOutcome = Literal["created", "updated", "ended"] | None


def store_key(session_id: str) -> str:
    """Stores hold this digest, so a leaked store cannot be replayed as cookies."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def check_key(key: object, where: str = "session") -> None:
    if not isinstance(key, str):
        raise TypeError(f"{where}: keys must be strings, not {type(key).__name__} ({key!r})")
    if not key or key.startswith("$") or "." in key or "\0" in key:
        raise ValueError(
            f"{where}: key {key!r} cannot be stored: keys must be non-empty, without '.', NUL or a leading '$'"
        )


def check_value(value: object, where: str, depth: int = 0) -> None:
    """Values must come back exactly as stored, from JSON or from MongoDB."""
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return
        problem = "an integer wider than 64 bits"
    elif isinstance(value, float):
        if math.isfinite(value):
            return
        problem = f"float {value!r}"
    elif depth >= _MAX_DEPTH:
        problem = "a value nested this deeply"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_value(item, f"{where}[{index}]", depth + 1)
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            check_key(key, where)
            check_value(item, f"{where}[{key!r}]", depth + 1)
        return
    else:
        problem = type(value).__name__
    raise TypeError(f"{where}: session values must be JSON (str, int, float, bool, None, list, dict); {problem} is not")


# One encoder for every call: json.dumps() with options builds a new one each time.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _as_json(value: Any) -> str:
    try:
        return _CANONICAL_JSON.encode(value)
    except (TypeError, ValueError):
        return ""  # changed in place into something that is not JSON: save() says what


async def load_record(store: SessionStore, config: SessionConfig, session_id: str) -> SessionRecord | None:
    """The live record for an ID, or None. Timeouts are checked against the
    configuration in force now, whatever the store thinks."""
    now = config.clock()
    record = await store.load(store_key(session_id), now)
    if record is None or config.expires(record.created, record.last_seen, record.remember) <= now:
        return None
    return record


class Session(MutableMapping[str, Any]):
    def __init__(
        self,
        store: SessionStore,
        config: SessionConfig,
        session_id: str | None = None,
        record: SessionRecord | None = None,
    ) -> None:
        self._store = store
        self._config = config
        # Store keys of records to delete on save (after regenerate/destroy).
        self._retired_keys: list[str] = []
        self._start(session_id, record)

    @classmethod
    async def load(cls, store: SessionStore, config: SessionConfig, session_id: str | None) -> Session:
        """The session with this ID, or a new empty one if the ID is None,
        unknown or expired: an ID the server does not hold is never adopted."""
        record = await load_record(store, config, session_id) if session_id else None
        return cls(store, config, session_id, record)

    def _start(self, session_id: str | None, record: SessionRecord | None) -> None:
        self._id = session_id if record is not None else None
        self.record = record
        self._data: dict[str, Any] = dict(record.data) if record else {}
        self._saved = {key: _as_json(value) for key, value in self._data.items()}
        self._user = record.user if record else None
        self._remember = record.remember if record else False
        self._touched = False

    @property
    def id(self) -> str | None:
        """The session ID, or None until the session is stored. Never log or
        display it."""
        return self._id

    @property
    def is_new(self) -> bool:
        """True until the session has a record in the store."""
        return self.record is None

    @property
    def user(self) -> str | None:
        return self._user

    @user.setter
    def user(self, name: str | None) -> None:
        self._user = name

    @property
    def remember(self) -> bool:
        """True for a "remember me" session: persistent cookie, longer life."""
        return self._remember

    @remember.setter
    def remember(self, value: bool) -> None:
        self._remember = bool(value)

    @property
    def created(self) -> float | None:
        return self.record.created if self.record else None

    @property
    def last_seen(self) -> float | None:
        """When the record was last written: at most touch_after before the
        previous request."""
        return self.record.last_seen if self.record else None

    def _changes(self) -> tuple[dict[str, Any], list[str]]:
        changed = {key: value for key, value in self._data.items() if self._saved.get(key) != _as_json(value)}
        return changed, [key for key in self._saved if key not in self._data]

    def _fields_changed(self) -> bool:
        if self.record is None:
            return self._user is not None or self._remember
        return (self._user, self._remember) != (self.record.user, self.record.remember)

    @property
    def modified(self) -> bool:
        """True when a value, the user or "remember me" changed, or the
        session was regenerated or destroyed."""
        changed, removed = self._changes()
        return bool(changed or removed or self._retired_keys or self._fields_changed())

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        check_key(key)
        check_value(value, f"session[{key!r}]")
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Session user={self._user!r} keys={sorted(self._data)!r}>"

    def regenerate(self) -> None:
        """Move the data to a new ID when saved, and delete the old record.
        Call it at login and at every change of privilege."""
        data, user, remember = self._data, self._user, self._remember
        self.destroy()
        self._data, self._user, self._remember = data, user, remember

    def destroy(self) -> None:
        """Delete the record when saved and start again empty (logout)."""
        if self._id is not None:
            self._retired_keys.append(store_key(self._id))
        self._start(None, None)

    def touch(self) -> None:
        """Write the last-seen time on save even if nothing else changed."""
        self._touched = True

    async def reload(self) -> None:
        """Read the record again from the store, dropping unsaved changes.
        If it has gone meanwhile (logout elsewhere), the session ends."""
        if self._id is None:
            return
        record = await load_record(self._store, self._config, self._id)
        if record is None:
            self.destroy()
        else:
            self._start(self._id, record)

    def flash(self, message: str, category: str = "info") -> None:
        """Keep a message for the next page this browser shows."""
        self[FLASHES_KEY] = [*self.get(FLASHES_KEY, []), [category, message]]

    def pop_flashes(self) -> list[tuple[str, str]]:
        return [(category, message) for category, message in self.pop(FLASHES_KEY, [])]

    def save_due(self) -> bool:
        """Whether save() would write anything: a change, a touch() or, for an
        unchanged session, touch_after having passed since the last write."""
        if self._touched or self.modified:
            return True
        if self.record is None:
            return self._config.save_uninitialized
        return self._config.clock() - self.record.last_seen >= self._config.touch_after.total_seconds()

    async def save(self, client: str = "") -> SaveOutcome:
        """Write what changed. Returns "created" (a new ID: set the cookie),
        "updated" (refresh the cookie), "ended" (clear it) or None."""
        config, now = self._config, self._config.clock()
        changed, removed = self._changes()
        for key, value in changed.items():
            check_value(value, f"session[{key!r}]")
        outcome: SaveOutcome = None
        if self.record is None:
            if self._data or self._user is not None or config.save_uninitialized:
                await self._create(now, client)
                outcome = "created"
            elif self._retired_keys:
                outcome = "ended"
        elif not self._data and self._user is None and not config.save_uninitialized:
            # Nothing left to keep (the last flash was shown): no record either.
            self.destroy()
            outcome = "ended"
        else:
            outcome = await self._update(now, changed, removed)
        # Old records go only once the new one is safely stored.
        while self._retired_keys:
            await self._store.delete(self._retired_keys.pop())
        return outcome

    async def _create(self, now: float, client: str) -> None:
        record = SessionRecord(
            data=dict(self._data),
            user=self._user,
            created=now,
            last_seen=now,
            expires=self._config.expires(now, now, self._remember),
            client=client,
            remember=self._remember,
        )
        for _ in range(_CREATE_ATTEMPTS):
            session_id = self._config.id_factory()
            if await self._store.create(store_key(session_id), record):
                self._start(session_id, record)
                return
        raise RuntimeError("could not find a free session ID")

    async def _update(self, now: float, changed: dict[str, Any], removed: list[str]) -> SaveOutcome:
        record = dataclasses.replace(
            self.record,
            data=dict(self._data),
            user=self._user,
            remember=self._remember,
            last_seen=now,
            expires=self._config.expires(self.record.created, now, self._remember),
        )
        fields = {"last_seen": record.last_seen, "expires": record.expires}
        if self._fields_changed():
            fields.update(user=record.user, remember=record.remember)
        if not await self._store.update(store_key(self._id), changed, removed, fields):
            # Deleted meanwhile, by a logout or a revoke: it stays deleted.
            self._start(None, None)
            return "ended"
        self._start(self._id, record)
        return "updated"
