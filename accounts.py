"""The demo's user accounts: scrypt password hashes, checked off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import hashlib
import hmac
import os
import sys
import unicodedata

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
_HASHING = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="scrypt", initializer=_lower_priority)


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


async def authenticate(username: str, password: str) -> Account | None:
    """The account if the password is right, else None."""
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        return None
    account = ACCOUNTS.get(username, _NOBODY)
    check = functools.partial(hash_password, password, account.salt)
    candidate = await asyncio.get_running_loop().run_in_executor(_HASHING, check)
    if account is _NOBODY or not hmac.compare_digest(candidate, account.password_hash):
        return None
    return account
