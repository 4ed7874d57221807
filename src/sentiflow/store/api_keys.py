"""SQL for API keys: insert, upsert, look up by id, list, revoke. Only hashes are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update

from sentiflow.store.db import Store
from sentiflow.store.schema import api_keys
from sentiflow.store.sql import insert_for


async def insert_key(
    store: Store,
    *,
    key_id: str,
    name: str,
    key_hash: str,
    scopes: Sequence[str],
    rate_limit: str | None = None,
) -> dict[str, Any]:
    row = {
        "rate_limit": rate_limit,
        "id": key_id,
        "name": name,
        "key_hash": key_hash,
        "scopes": list(scopes),
        "created_at": datetime.now(UTC),
        "revoked_at": None,
    }
    async with store.engine.begin() as conn:
        await conn.execute(api_keys.insert(), row)
    return row


async def get_key(store: Store, key_id: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    return dict(row._mapping) if row else None


async def list_keys(store: Store) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
    return [dict(r._mapping) for r in rows]


async def revoke_key(store: Store, id_or_name: str) -> int:
    """Revoke the key with this id, or every live key with this name; returns how many."""
    stmt = (
        update(api_keys)
        .where(or_(api_keys.c.id == id_or_name, api_keys.c.name == id_or_name))
        .where(api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    async with store.engine.begin() as conn:
        result = await conn.execute(stmt)
    return int(result.rowcount)


async def upsert_named_key(
    store: Store, *, key_id: str, name: str, key_hash: str, scopes: Sequence[str]
) -> dict[str, Any]:
    """Make key `key_id` exist with this hash, in one statement, so processes starting together
    all succeed: insert it, or give an existing key of the same `name` this hash (and take a
    revocation off it when the hash changes; the same hash leaves it as it is). A key of
    another name under this id is left alone. Returns the row as it is now."""
    stmt = insert_for(store, api_keys).values(
        id=key_id,
        name=name,
        key_hash=key_hash,
        scopes=list(scopes),
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "key_hash": stmt.excluded.key_hash,
            "scopes": stmt.excluded.scopes,
            "revoked_at": None,
        },
        where=(api_keys.c.name == name) & (api_keys.c.key_hash != stmt.excluded.key_hash),
    )
    async with store.engine.begin() as conn:
        await conn.execute(stmt)
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one()
    return dict(row._mapping)
