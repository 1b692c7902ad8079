"""Login throttling per account: after a few failures in a row, wait longer
before each further try.

Per account, not per IP address: an attacker guessing one password from many
addresses is still slowed down. The counts (login_failures.py) live beside the
sessions, so the limit holds across processes when they are in MongoDB or Redis.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from auth import login_failures
from auth.login_failures import LoginFailures

FREE_ATTEMPTS = 5
FIRST_WAIT = timedelta(seconds=30)
LONGEST_WAIT = timedelta(minutes=15)
# The counting window: failures further apart than this do not add up. An
# hour lets an attacker who waits it out 5 guesses an hour, about what the
# longest wait gives one who does not (4 an hour).
FORGET_AFTER = timedelta(seconds=login_failures.FORGET_AFTER)
assert LONGEST_WAIT <= FORGET_AFTER, "an entry must outlast its lock"


def seconds_to_wait(failures: int) -> float:
    """30 s after the fifth failure in a row, doubling with each one, at most 15 min."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    doublings = min(failures - FREE_ATTEMPTS, 16)  # far past the cap, and timedelta cannot overflow
    return min(FIRST_WAIT * 2**doublings, LONGEST_WAIT).total_seconds()


def account_key(username: str) -> str:
    # People sometimes type a password into the username box: keep only a digest.
    return "login:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


class LoginThrottle:
    def __init__(self, failures: LoginFailures, username: str) -> None:
        self.failures = failures
        self.key = account_key(username)

    async def try_again_at(self, now: float) -> float | None:
        """None if this attempt may check the password, else when it may.

        The attempt counts as a failure from here on, until succeeded() is
        called: a burst of parallel guesses cannot all slip in while the
        first ones are still being hashed.
        """
        failures, last = await self.failures.get(self.key)
        if failures and now - last > FORGET_AFTER.total_seconds():
            await self.failures.clear(self.key)
            failures = 0
        if now < last + seconds_to_wait(failures):
            return last + seconds_to_wait(failures)
        # Counted only below the count that would have refused it: attempts
        # that read the same count at once cannot all be counted and lengthen
        # the lock past what the count allows.
        if await self.failures.add(self.key, now, below=max(FREE_ATTEMPTS, failures + 1)) is None:
            failures, last = await self.failures.get(self.key)
            return max(now, last + seconds_to_wait(failures))
        return None

    async def succeeded(self) -> None:
        await self.failures.clear(self.key)
