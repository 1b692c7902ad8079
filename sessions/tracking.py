"""TrackedDict: a dict that knows which of its keys changed since it was
loaded, and the two fields that travel with it: the user and "remember me".

It keeps a snapshot of each value as loaded: the JSON of a list or a dict,
the value itself for a number or a string (which cannot change in place).
Only keys whose snapshot differs are written back: a list appended to in
place is saved, the same value assigned again is not, and two requests on
one session that change different keys both keep their change (the store
applies only those keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from .stores.base import Changes
from .values import check_key, check_remember, check_user, check_value

# One encoder for every call: json.dumps() with options builds a new one each time.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def snapshot(value: Any) -> Any:
    if type(value) in _UNCHANGEABLE:
        return type(value), value  # the type too: 1, 1.0 and True are equal, but not the same JSON
    try:
        return _CANONICAL_JSON.encode(value)
    except (TypeError, ValueError):
        return ""  # changed in place into something that is not JSON: the save says what


_UNCHANGEABLE = {str, int, float, bool, type(None)}


class TrackedDict(MutableMapping[str, Any]):
    def _track(self, data: Mapping[str, Any], user: str | None = None, remember: bool = False) -> None:
        """Start again from what is stored."""
        self._data = dict(data)
        self._saved = {key: snapshot(value) for key, value in self._data.items()}
        self._user, self._remember = user, remember
        self._saved_fields = user, remember

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

    def _fields_changed(self) -> bool:
        return (self._user, self._remember) != self._saved_fields

    def _stored(self, key: str, value: Any) -> None:
        """The store now holds ``value`` under ``key``."""
        self._data[key] = value
        self._saved[key] = snapshot(value)

    def _set_keys(self) -> Iterator[str]:
        """The keys set or changed in place since the last load or save."""
        return (key for key, value in self._data.items() if self._saved.get(key) != snapshot(value))

    def _data_changed(self) -> bool:
        return self._saved.keys() != self._data.keys() or next(self._set_keys(), None) is not None

    def _changes(self) -> Changes:
        """What to write: the keys set or changed in place, and those deleted."""
        changes = Changes(unset=[key for key in self._saved if key not in self._data])
        changes.set = {key: self._data[key] for key in self._set_keys()}
        for key, value in changes.set.items():
            check_value(value, f"session[{key!r}]")  # changed in place since it was assigned
        return changes

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
