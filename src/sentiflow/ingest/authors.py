"""Authors stored as a keyed hash (SENTIFLOW_HASH_AUTHORS): the same author always gives the
same value, so per-author features keep working, yet the name cannot be read back, nor found
by hashing guessed names without the key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


def hasher_for(key: str | None) -> Callable[[str], str] | None:
    """The author hash under `key` (Settings.author_hash), or None when names are kept."""
    return author_hasher(key) if key else None


def author_hasher(key: str) -> Callable[[str], str]:
    """HMAC-SHA-256 of an author under `key`, as 32 hex digits behind `h:`."""
    secret = key.encode()

    def hashed(author: str) -> str:
        return "h:" + hmac.new(secret, author.encode(), hashlib.sha256).hexdigest()[:32]

    return hashed
