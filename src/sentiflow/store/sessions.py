"""SQL for dashboard sessions: only the hash of a session token is stored, beside its key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from sentiflow.store.db import Store
from sentiflow.store.schema import api_keys, sessions


async def insert_session(
    store: Store, *, token_hash: str, key_id: str, now: datetime, expires_at: datetime
) -> None:
    async with store.engine.begin() as conn:
        # Expired sessions go when a new one comes, so the table holds only live ones.
        await conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
        await conn.execute(
            sessions.insert(),
            {
                "token_hash": token_hash,
                "key_id": key_id,
                "created_at": now,
                "expires_at": expires_at,
            },
        )


async def session_key(store: Store, token_hash: str, now: datetime) -> dict[str, Any] | None:
    """The key row behind a live session (revoked or not: the caller decides)."""
    stmt = (
        select(api_keys)
        .join(sessions, sessions.c.key_id == api_keys.c.id)
        .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
    )
    async with store.engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return dict(row._mapping) if row else None


async def delete_session(store: Store, token_hash: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
