"""The demo's user accounts: scrypt password hashes, checked off the event loop."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import os
import sys
import unicodedata
from collections.abc import Iterator

import tornado.web

# Hashing longer inputs costs more; nobody's real password is this long.
MAX_PASSWORD_BYTES = 1024
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


def _lower_priority() -> None:
    # Linux gives each thread its own nice value, so only the hashing threads
    # step back: pages keep the CPU and logins take what is left.
    if sys.platform == "linux":
        os.nice(10)


# scrypt is slow on purpose (about 16 MiB and tens of ms per hash). A burst of
# logins queues for these two threads instead of taking every core, and the
# memory, from the pages being served meanwhile.
_HASHING_THREADS = 2
_HASHING = concurrent.futures.ThreadPoolExecutor(
    _HASHING_THREADS, thread_name_prefix="scrypt", initializer=_lower_priority
)
# Logins waiting for a thread, at most. Past that a login is answered at once,
# without hashing: under a flood a real user is told to retry in a few seconds
# instead of waiting behind hundreds of hashes, and the queue costs no memory.
MAX_WAITING_LOGINS = 8
# Of those places (hashing and waiting), one client address may hold this
# many: a flood from a few addresses leaves room for everyone else's logins.
# Only when the address is known (behind a proxy, --xheaders).
PER_ADDRESS = 2
_logins_hashing = 0
_held_by: collections.Counter[str] = collections.Counter()


class TooManyLogins(tornado.web.HTTPError):
    """Every hashing thread is busy and the queue is full: a 503 page with
    Retry-After (handlers/base.py). 503, not 429: 429 tells one client that
    it sent too many requests, while this is the whole server being busy,
    whoever sent the logins."""

    def __init__(self) -> None:
        super().__init__(503, reason="Too many logins at once")


class TooManyFromAddress(Exception):
    """This client address holds its share of the hashing queue already: a
    429 for that address alone (handlers/auth.py)."""

    retry_after = 5


@dataclasses.dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    salt: bytes
    password_hash: bytes


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(unicodedata.normalize("NFKC", password).encode(), salt=salt, **_SCRYPT)


# Made with hash_password("demo-password", os.urandom(16)).
ACCOUNTS = {
    "demo": Account(
        "demo",
        "Demo User",
        bytes.fromhex("0a9363d7af9588afb4852b2e2b2d63fb"),
        bytes.fromhex("39897faba685df37412e7df54d980d81b510236d567ff871775fe86b200902e2"),
    ),
}
# Unknown usernames are checked against this, so they cost the same hash work
# as known ones and response times do not tell which accounts exist.
_NOBODY = Account("", "", bytes(16), bytes(32))


def display_name(username: str) -> str:
    account = ACCOUNTS.get(username)
    return account.display_name if account else username


@contextlib.contextmanager
def hashing_turn(address: str | None = None) -> Iterator[None]:
    """A place in the hashing queue, held for the whole login attempt, or
    TooManyFromAddress / TooManyLogins at once. The check and the taking are
    one step (no await between them), before the attempt is counted: a login
    refused because the server is busy is never held against the account."""
    global _logins_hashing
    if address is not None and _held_by[address] >= PER_ADDRESS:
        raise TooManyFromAddress()
    if _logins_hashing >= _HASHING_THREADS + MAX_WAITING_LOGINS:
        raise TooManyLogins()
    _logins_hashing += 1
    if address is not None:
        _held_by[address] += 1
    try:
        yield
    finally:
        _logins_hashing -= 1
        if address is not None:
            _held_by[address] -= 1
            if not _held_by[address]:
                del _held_by[address]


def too_long(password: str) -> bool:
    """No account's password is this long: the login page refuses it at once."""
    return len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES


async def authenticate(username: str, password: str) -> Account | None:
    """The account if the password is right, else None. Call it within a
    hashing_turn()."""
    if too_long(password):
        return None
    account = ACCOUNTS.get(username, _NOBODY)
    check = functools.partial(hash_password, password, account.salt)
    candidate = await asyncio.get_running_loop().run_in_executor(_HASHING, check)
    if account is _NOBODY or not hmac.compare_digest(candidate, account.password_hash):
        return None
    return account
