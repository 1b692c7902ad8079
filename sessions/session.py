"""Session: a dict that loads itself from a store and saves only what
changed (tracking.py), with the user, its timeouts, and the moments a
session changes hands: regenerate() at login, destroy() at logout.

Two requests that change the same key: the last to save wins, unless they
use increment() or append(), which the store applies atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from .atomic import AtomicOperations
from .config import SessionConfig
from .stores.base import Changes, SessionRecord, SessionStore
from .tracking import TrackedDict
from .values import check_remember, check_user

FLASHES_KEY = "_flashes"
_CREATE_ATTEMPTS = 3

SaveOutcome = Literal["created", "updated", "ended"] | None


def store_key(session_id: str) -> str:
    """Stores hold this digest, so a leaked store cannot be replayed as cookies."""
    return hashlib.sha256(session_id.encode()).hexdigest()


async def load_record(store: SessionStore, config: SessionConfig, session_id: str) -> SessionRecord | None:
    """The live record for an ID, or None. Timeouts are checked against the
    configuration in force now, whatever the store thinks."""
    now = config.clock()
    record = await store.load(store_key(session_id), now)
    if record is None or config.expires(record.created, record.last_seen, record.remember) <= now:
        return None
    return record


class Session(AtomicOperations, TrackedDict):
    def __init__(
        self,
        store: SessionStore,
        config: SessionConfig,
        session_id: str | None = None,
        record: SessionRecord | None = None,
    ) -> None:
        self._store = store
        self._config = config
        # The browser named a session the server no longer holds: it expired,
        # or was ended by a logout elsewhere, before or during this request.
        self.expired = session_id is not None and record is None
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
        self._track(record.data if record else {})
        self._user = record.user if record else None
        self._remember = record.remember if record else False
        self._touched = False

    @property
    def id(self) -> str | None:
        """The session ID, or None until the session is stored. Never log or
        display it."""
        return self._id

    @property
    def _key(self) -> str:
        return store_key(self._id)

    @property
    def _ended_elsewhere(self) -> bool:
        """The record was deleted during this request (a logout elsewhere)."""
        return self.expired and self.record is not None

    @property
    def is_new(self) -> bool:
        """True until the session has a record in the store."""
        return self.record is None

    @property
    def user(self) -> str | None:
        return self._user

    @user.setter
    def user(self, name: str | None) -> None:
        check_user(name)
        self._user = name

    @property
    def remember(self) -> bool:
        """True for a "remember me" session: persistent cookie, longer life."""
        return self._remember

    @remember.setter
    def remember(self, value: bool) -> None:
        check_remember(value)
        self._remember = value

    @property
    def created(self) -> float | None:
        return self.record.created if self.record else None

    @property
    def last_seen(self) -> float | None:
        """When the record was last written: at most touch_after before now."""
        return self.record.last_seen if self.record else None

    def _fields_changed(self) -> bool:
        if self.record is None:
            return self._user is not None or self._remember
        return (self._user, self._remember) != (self.record.user, self.record.remember)

    @property
    def modified(self) -> bool:
        """True when a value, the user or "remember me" changed, or the
        session was regenerated or destroyed."""
        changes = self._changes()
        return bool(changes.set or changes.unset or self._retired_keys or self._fields_changed())

    def __repr__(self) -> str:
        return f"<Session user={self._user!r} keys={sorted(self._data)!r}>"

    async def end_other_sessions(self) -> int:
        """Delete every other session of this user ("sign out everywhere
        else"), at once; returns how many ended."""
        if self.record is None or self.record.user is None:
            return 0
        return await self._store.delete_by_user(self.record.user, keep=self._key)

    def regenerate(self, keep: Iterable[str] | None = None) -> None:
        """Move the session to a new ID when saved, and delete the old record.
        Call it at login and at every change of privilege. ``keep`` names the
        keys to carry over (all of them if None)."""
        data, user, remember = self._data, self._user, self._remember
        self.destroy()
        self._data = data if keep is None else {key: data[key] for key in keep if key in data}
        self._user, self._remember = user, remember

    def destroy(self) -> None:
        """Delete the record when saved and start again empty (logout)."""
        if self._id is not None:
            self._retired_keys.append(self._key)
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
        if self._ended_elsewhere:
            return False
        if self._touched or self.modified:
            return True
        if self.record is None:
            return self._config.save_uninitialized
        return self._config.clock() - self.record.last_seen >= self._config.touch_after.total_seconds()

    async def save(self, client: str = "") -> SaveOutcome:
        """Write what changed. Returns "created" (a new ID: set the cookie),
        "updated" (refresh the cookie), "ended" (clear it) or None (leave the
        cookie alone, also when a logout elsewhere deleted the record meanwhile)."""
        if self._ended_elsewhere:
            return None
        config, now = self._config, self._config.clock()
        changes = self._changes()
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
            outcome = await self._update(now, changes)
        # Old records go only once the new one is safely stored.
        while self._retired_keys:
            await self._store.delete(self._retired_keys.pop())
        return outcome

    def _times(self, now: float) -> dict[str, float]:
        return {"last_seen": now, "expires": self._config.expires(self.record.created, now, self._remember)}

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

    async def _update(self, now: float, changes: Changes) -> SaveOutcome:
        changes.fields = self._times(now)
        if self._fields_changed():
            changes.fields.update(user=self._user, remember=self._remember)
        if await self._store.update(self._key, changes) is None:
            # Deleted meanwhile, by a logout or a revoke: it stays deleted,
            # and the cookie is left alone (it may already name a newer login).
            self._start(None, None)
            self.expired = True
            return None
        record = self.record
        record.data, record.user, record.remember = dict(self._data), self._user, self._remember
        record.last_seen, record.expires = changes.fields["last_seen"], changes.fields["expires"]
        self._start(self._id, record)
        return "updated"
