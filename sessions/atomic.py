"""increment() and append(): changes to one key that the store applies
itself, atomically, so that N requests at once that each add 1 add exactly N.

Plain assignment is last-writer-wins: two requests that load a counter at 5
and both save 6 lose a visit (expressjs/session #606, flask-session #71).
These two are written at once, not when the request ends, and return the
value the store holds after the change.
"""

from __future__ import annotations

from typing import Any

from .config import SessionConfig
from .stores.base import Changes, SessionRecord, SessionStore
from .values import check_key, check_number, check_value


class AtomicOperations:
    """Part of Session (session.py), which supplies these."""

    record: SessionRecord | None
    expired: bool
    _store: SessionStore
    _config: SessionConfig
    _key: str
    _data: dict[str, Any]
    _ended_elsewhere: bool

    async def increment(self, key: str, by: int | float = 1) -> int | float:
        """Add ``by`` to a number (a missing key counts as 0), in the store,
        atomically: N requests at once that each add 1 add exactly N.

        Written at once, not when the request ends, and returns the value the
        store holds now. If the session was ended meanwhile (a logout
        elsewhere) nothing is written and the session ends here too."""
        check_key(key)
        check_number(by, f"session.increment({key!r}, by)")
        current = self._data.get(key, 0)
        check_number(current, f"session[{key!r}]")
        return await self._apply(key, Changes(increment={key: by}), current + by)

    async def append(self, key: str, item: Any) -> list[Any]:
        """Add ``item`` to the end of a list (a missing key counts as []), in
        the store, atomically, as increment() does; returns the whole list."""
        check_key(key)
        check_value(item, f"session.append({key!r}, item)")
        current = self._data.get(key, [])
        if not isinstance(current, list):
            raise TypeError(f"session[{key!r}]: can only append to a list, not {type(current).__name__}")
        return await self._apply(key, Changes(append={key: item}), [*current, item])

    async def _apply(self, key: str, changes: Changes, value_here: Any) -> Any:
        if self.record is None or self._ended_elsewhere:
            # Nobody else can hold a session that has no ID yet.
            self[key] = value_here
            return value_here
        now = self._config.clock()
        changes.fields = self._times(now)
        values = await self._store.update(self._key, changes)
        if values is None:
            # Ended meanwhile (a logout elsewhere): this request finishes as
            # if it had come just before, and writes nothing more.
            self.expired = True
            return value_here
        self._stored(key, values[key])
        self.record.last_seen, self.record.expires = changes.fields["last_seen"], changes.fields["expires"]
        return values[key]
