"""SQL for sources: their config, interval, resumable cursor and last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row

from sentiflow.store.db import Store
from sentiflow.store.schema import sources
from sentiflow.store.sql import insert_for, utc


@dataclass(frozen=True, slots=True)
class SourceRow:
    name: str
    kind: str
    config: dict[str, Any]
    interval_s: float
    enabled: bool
    cursor: dict[str, Any]
    created_at: datetime
    last_run_at: datetime | None
    last_fetched: int
    total_fetched: int
    last_error: str | None


def _source(row: Row[Any]) -> SourceRow:
    m = row._mapping
    return SourceRow(
        name=m["name"],
        kind=m["kind"],
        config=m["config"],
        interval_s=m["interval_s"],
        enabled=bool(m["enabled"]),
        cursor=m["cursor"] or {},
        created_at=utc(m["created_at"]),
        last_run_at=utc(m["last_run_at"]) if m["last_run_at"] else None,
        last_fetched=m["last_fetched"],
        total_fetched=m["total_fetched"],
        last_error=m["last_error"],
    )


async def upsert_source(
    store: Store,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    interval_s: float,
    enabled: bool = True,
) -> bool:
    """Add a source or update its config; its cursor is kept. True when it was new."""
    async with store.engine.begin() as conn:
        stmt = (
            insert_for(store, sources)
            .values(
                name=name,
                kind=kind,
                config=config,
                interval_s=interval_s,
                enabled=int(enabled),
                cursor={},
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["name"])
        )
        if (await conn.execute(stmt)).rowcount:
            return True
        await conn.execute(
            update(sources)
            .where(sources.c.name == name)
            .values(kind=kind, config=config, interval_s=interval_s, enabled=int(enabled))
        )
        return False


async def list_sources(store: Store, *, enabled_only: bool = False) -> list[SourceRow]:
    stmt = select(sources).order_by(sources.c.name)
    if enabled_only:
        stmt = stmt.where(sources.c.enabled == 1)
    async with store.engine.connect() as conn:
        return [_source(r) for r in (await conn.execute(stmt)).all()]


async def get_source(store: Store, name: str) -> SourceRow | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(sources).where(sources.c.name == name))).first()
    return _source(row) if row else None


async def remove_source(store: Store, name: str) -> bool:
    async with store.engine.begin() as conn:
        return bool((await conn.execute(delete(sources).where(sources.c.name == name))).rowcount)


async def save_cursor(store: Store, name: str, cursor: dict[str, Any], fetched: int) -> None:
    """Record progress after a page was queued: a restart resumes from here."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(sources)
            .where(sources.c.name == name)
            .values(cursor=cursor, total_fetched=sources.c.total_fetched + fetched)
        )


async def finish_run(store: Store, name: str, *, fetched: int, error: str | None) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            update(sources)
            .where(sources.c.name == name)
            .values(last_run_at=datetime.now(UTC), last_fetched=fetched, last_error=error)
        )
