"""Session: a dict that loads itself from a store and saves only what
changed (tracking.py), with the user, its timeouts, and the moments a
session changes hands: regenerate() at login, destroy() at logout.

Two requests that change the same key: the last to save wins (expressjs/session
#606, flask-session #71), unless they use increment() or append(), which the
store applies atomically: N requests at once that each add 1 add exactly N.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from .config import SessionConfig
from .records import create_record, end_oldest_sessions, load_record, store_key
from .stores.base import Changes, SessionRecord, SessionStore
from .tracking import TrackedDict
from .values import check_append, check_increment

FLASHES_KEY = "_flashes"
SaveOutcome = Literal["created", "updated", "ended"] | None


class Session(TrackedDict):
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
        self._id, self.record, self._touched = session_id if record else None, record, False
        data, user, remember = (record.data, record.user, record.remember) if record else ({}, None, False)
        self._track(data, user, remember)

    @property
    def id(self) -> str | None:
        """The session ID, or None until stored. Never log or display it."""
        return self._id

    @property
    def _key(self) -> str:
        assert self._id is not None, "only a stored session has a key"
        return store_key(self._id)

    @property
    def _ended_elsewhere(self) -> bool:
        # The record was deleted during this request (a logout elsewhere).
        return self.expired and self.record is not None

    @property
    def is_new(self) -> bool:
        """True until the session has a record in the store."""
        return self.record is None

    @property
    def created(self) -> float | None:
        return self.record.created if self.record else None

    @property
    def last_seen(self) -> float | None:
        """When the record was last written: at most touch_after before now."""
        return self.record.last_seen if self.record else None

    @property
    def modified(self) -> bool:
        """True when a value, the user or "remember me" changed, or the
        session was regenerated or destroyed."""
        return bool(self._retired_keys) or self._fields_changed() or self._data_changed()

    def __repr__(self) -> str:
        return f"<Session user={self._user!r} keys={sorted(self._data)!r}>"

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

    def clear(self) -> None:
        """Empty the session and sign the user out (user None, remember
        False), as session.clear() does in Flask and Starlette."""
        self._data.clear()
        self._user, self._remember = None, False

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

    async def increment(self, key: str, by: int | float = 1) -> int | float:
        """Add ``by`` to a number (a missing key counts as 0), in the store,
        atomically. Written at once, not when the request ends; returns the
        value the store holds now. If the session was ended meanwhile (a
        logout elsewhere) nothing is written and the session ends here too."""
        current = self._data.get(key, 0)
        check_increment(key, by, current)
        total: int | float = await self._apply(key, Changes(increment={key: by}), current + by)
        return total

    async def append(self, key: str, item: Any) -> list[Any]:
        """Add ``item`` to the end of a list (a missing key counts as []), in
        the store, atomically, as increment() does; returns the whole list."""
        current = self._data.get(key, [])
        check_append(key, item, current)
        items: list[Any] = await self._apply(key, Changes(append={key: item}), [*current, item])
        return items

    async def _apply(self, key: str, changes: Changes, value_here: Any) -> Any:
        record = self.record
        if record is None or self._ended_elsewhere:
            # Nobody else can hold a session that has no ID yet.
            self[key] = value_here
            return value_here
        changes.fields = self._times(record, self._config.clock())
        values = await self._store.update(self._key, changes)
        if values is None:
            # Ended meanwhile: this request finishes as if it had come just
            # before, and writes nothing more.
            self.expired = True
            return value_here
        self._stored(key, values[key])
        record.last_seen, record.expires = changes.fields["last_seen"], changes.fields["expires"]
        return values[key]

    async def other_sessions(self) -> dict[str, SessionRecord]:
        """The user's other live sessions, by store key: for an "active
        sessions" page. Empty for a session that is not signed in and stored."""
        if self.record is None or self.record.user is None:
            return {}
        others = await self._store.find_by_user(self.record.user, self._config.clock())
        others.pop(self._key, None)
        return others

    async def end_other_sessions(self) -> int:
        """Delete every other session of this user ("sign out everywhere
        else"), at once; returns how many ended."""
        if self.record is None or self.record.user is None:
            return 0
        return await self._store.delete_by_user(self.record.user, keep=self._key)

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
        cookie alone, also when a logout elsewhere deleted the record meanwhile).
        A login past max_sessions_per_user ends that user's oldest sessions."""
        if self._ended_elsewhere:
            return None
        config, now, record = self._config, self._config.clock(), self.record
        signing_in = self._user if self._user is not None and (record is None or record.user != self._user) else None
        outcome: SaveOutcome = None
        if record is None:
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
            outcome = await self._update(record, now)
        # Old records go only once the new one is safely stored.
        while self._retired_keys:
            await self._store.delete(self._retired_keys.pop())
        if signing_in is not None and outcome in ("created", "updated"):
            await end_oldest_sessions(self._store, self._config, signing_in, self._key)
        return outcome

    def _times(self, record: SessionRecord, now: float) -> dict[str, Any]:
        return {"last_seen": now, "expires": self._config.expires(record.created, now, self._remember)}

    async def _create(self, now: float, client: str) -> None:
        session_id, record = await create_record(
            self._store, self._config, self._data, self._user, self._remember, client, now
        )
        self._start(session_id, record)

    async def _update(self, record: SessionRecord, now: float) -> SaveOutcome:
        changes = self._changes()
        changes.fields = self._times(record, now)
        if self._fields_changed():
            changes.fields.update(user=self._user, remember=self._remember)
        if await self._store.update(self._key, changes) is None:
            # Deleted meanwhile, by a logout or a revoke: it stays deleted,
            # and the cookie is left alone (it may already name a newer login).
            self._start(None, None)
            self.expired = True
            return None
        record.data, record.user, record.remember = dict(self._data), self._user, self._remember
        record.last_seen, record.expires = changes.fields["last_seen"], changes.fields["expires"]
        self._start(self._id, record)
        return "updated"
