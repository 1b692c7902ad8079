"""The keys that sign cookies: --cookie-secret signs, --retired-cookie-secrets
still verify (and the mixin signs their cookies again with the current key).
Skip this file on a first read.

Tornado takes several keys as a dict {version: key} with key_version naming
the one that signs; each cookie carries the version of the key that signed it.
"""

from __future__ import annotations

import hashlib
import os
import secrets

# HMAC-SHA256 keys: shorter than its 32 bytes, a key is easier to guess than the signature is to forge.
SHORTEST_KEY_BYTES = 32


def key_version(key: str) -> int:
    # A digest of the key itself, not its place in a list: dropping a retired
    # key renumbers nothing, so cookies signed with the others still verify.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def signing_keys(current: str, retired: list[str]) -> tuple[dict[int, str], int]:
    """Every key that may have signed a cookie, by version, and the current key's version."""
    return {key_version(key): key for key in [*retired, current]}, key_version(current)


def current_key(given: str | None) -> tuple[str, bool]:
    """The key that signs cookies (--cookie-secret, else COOKIE_SECRET, else a
    random one), and whether it was made up just now."""
    secret = given or os.environ.get("COOKIE_SECRET")
    if secret:
        return secret, False
    # Kept in the environment, which --debug's reload (a re-exec of this
    # process) inherits: a code change does not sign everyone out.
    os.environ["COOKIE_SECRET"] = secrets.token_urlsafe(32)
    return os.environ["COOKIE_SECRET"], True


def key_warning(key: str, made_up: bool) -> str | None:
    """What to tell the operator about the signing key, if anything."""
    if made_up:
        return "No --cookie-secret or COOKIE_SECRET: using a random key, so sessions end when the server stops"
    if len(key.encode()) < SHORTEST_KEY_BYTES:
        return (
            f"The cookie secret is {len(key.encode())} bytes: use at least {SHORTEST_KEY_BYTES} random ones, "
            "such as python -c 'import secrets; print(secrets.token_urlsafe(32))' prints"
        )
    return None
