"""What a session may hold: values that come back exactly as stored, from
JSON, MongoDB or Redis. A bad value fails where it is assigned, with the key
in the message, not later when the session is saved."""

from __future__ import annotations

import math

# MongoDB refuses documents nested deeper than 100 levels; the record and its
# data field use two of them.
MAX_DEPTH = 90


def check_key(key: object, where: str = "session") -> None:
    if not isinstance(key, str):
        raise TypeError(f"{where}: keys must be strings, not {type(key).__name__} ({key!r})")
    if not key or key.startswith("$") or "." in key or "\0" in key:
        raise ValueError(
            f"{where}: key {key!r} cannot be stored: keys must be non-empty, without '.', NUL or a leading '$'"
        )


def check_value(value: object, where: str, depth: int = 0) -> None:
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
    elif depth >= MAX_DEPTH:
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


def check_number(value: object, where: str) -> None:
    """For increment(): an int or a float, and not a bool (True + 1 == 2)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: can only increment a number, not {type(value).__name__} ({value!r})")
    check_value(value, where)


def check_increment(key: object, by: object, current: object) -> None:
    check_key(key)
    check_number(by, f"session.increment({key!r}, by)")
    check_number(current, f"session[{key!r}]")


def check_append(key: object, item: object, current: object) -> None:
    check_key(key)
    check_value(item, f"session.append({key!r}, item)")
    if not isinstance(current, list):
        raise TypeError(f"session[{key!r}]: can only append to a list, not {type(current).__name__}")


def check_user(user: object) -> None:
    # A number here would be stored as one by MongoDB and Redis and fail to
    # read back as a user, logging the person out: refuse it now.
    if user is not None and not isinstance(user, str):
        raise TypeError(f"session.user must be a str or None, not {type(user).__name__} ({user!r})")


def check_remember(remember: object) -> None:
    if not isinstance(remember, bool):
        raise TypeError(f"session.remember must be True or False, not {type(remember).__name__} ({remember!r})")
