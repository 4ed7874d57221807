"""Dashboard sessions: signing in with a key mints a random session token for an HttpOnly
cookie, so a browser never keeps the key itself (nor puts it in a URL). A session stands for
its key: revoking the key ends it at once; signing out deletes it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sentiflow.errors import Unauthorized
from sentiflow.feedback.auth import Principal, authenticate, hash_key, principal_of
from sentiflow.store import sessions as session_store
from sentiflow.store.db import Store

COOKIE: Final = "sentiflow_session"


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # goes only into the cookie
    principal: Principal
    expires_at: datetime


async def sign_in(store: Store, key: str | None, *, ttl_s: float) -> Session:
    """A session for a valid key; `Unauthorized` otherwise."""
    principal = await authenticate(store, key)
    assert principal.key_id is not None
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_s)
    await session_store.insert_session(
        store, token_hash=hash_key(token), key_id=principal.key_id, now=now, expires_at=expires_at
    )
    return Session(token, principal, expires_at)


async def resolve(store: Store, token: str) -> Principal:
    """The principal of a session cookie; `Unauthorized` when unknown, expired or revoked."""
    row = await session_store.session_key(store, hash_key(token), datetime.now(UTC))
    if row is None:
        raise Unauthorized("the sign-in has expired or ended; sign in again with an API key")
    return principal_of(row)


async def sign_out(store: Store, token: str) -> None:
    await session_store.delete_session(store, hash_key(token))
