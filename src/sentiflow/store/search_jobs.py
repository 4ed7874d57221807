"""SQL for keyword search jobs (claimed by workers, with a heartbeat) and the stored-post
lookups a search makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row

from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, posts, search_jobs
from sentiflow.store.sql import utc


@dataclass(frozen=True, slots=True)
class SearchJobRow:
    id: str
    key: str
    query: str
    sources: list[str]
    max_results: int
    status: str
    progress: float
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def _job(row: Row[Any]) -> SearchJobRow:
    m = row._mapping
    return SearchJobRow(
        id=m["id"],
        key=m["key"],
        query=m["query"],
        sources=list(m["sources"]),
        max_results=m["max_results"],
        status=m["status"],
        progress=m["progress"],
        result=m["result"],
        error=m["error"],
        created_at=utc(m["created_at"]),
        finished_at=utc(m["finished_at"]) if m["finished_at"] else None,
    )


async def create_search_job(
    store: Store, *, job_id: str, key: str, query: str, sources: list[str], max_results: int
) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            search_jobs.insert().values(
                id=job_id,
                key=key,
                query=query,
                sources=sources,
                max_results=max_results,
                status="queued",
                progress=0.0,
                created_at=datetime.now(UTC),
            )
        )


async def get_search_job(store: Store, job_id: str) -> SearchJobRow | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(search_jobs).where(search_jobs.c.id == job_id))).first()
    return _job(row) if row else None


async def reusable_search_job(store: Store, key: str, *, fresh_s: float) -> SearchJobRow | None:
    """The newest job for `key` that is still going, or finished less than `fresh_s` ago."""
    since = datetime.now(UTC) - timedelta(seconds=fresh_s)
    stmt = (
        select(search_jobs)
        .where(
            search_jobs.c.key == key,
            or_(
                search_jobs.c.status.in_(("queued", "running")),
                (search_jobs.c.status == "done") & (search_jobs.c.finished_at >= since),
            ),
        )
        .order_by(search_jobs.c.created_at.desc())
        .limit(1)
    )
    async with store.engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return _job(row) if row else None


async def claim_search_jobs(
    store: Store, *, runner: str, stale_after_s: float, limit: int = 5
) -> list[SearchJobRow]:
    """Take queued jobs, and running ones whose runner stopped beating (it died), for `runner`.

    The claim is a conditional UPDATE per job, so two workers never take the same one.
    """
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=stale_after_s)
    candidates = (
        select(search_jobs.c.id, search_jobs.c.status, search_jobs.c.heartbeat_at)
        .where(
            or_(
                search_jobs.c.status == "queued",
                (search_jobs.c.status == "running") & (search_jobs.c.heartbeat_at < stale),
            )
        )
        .order_by(search_jobs.c.created_at)
        .limit(limit)
    )
    claimed: list[SearchJobRow] = []
    async with store.engine.begin() as conn:
        for job_id, status, beat in (await conn.execute(candidates)).all():
            condition = search_jobs.c.status == status
            if beat is not None:
                condition = condition & (search_jobs.c.heartbeat_at == beat)
            result = await conn.execute(
                update(search_jobs)
                .where(search_jobs.c.id == job_id, condition)
                .values(status="running", claimed_by=runner, heartbeat_at=now)
            )
            if result.rowcount:
                row = (
                    await conn.execute(select(search_jobs).where(search_jobs.c.id == job_id))
                ).one()
                claimed.append(_job(row))
    return claimed


async def update_search_job(
    store: Store,
    job_id: str,
    *,
    runner: str,
    progress: float | None = None,
    status: str | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Progress or finish a job this runner holds; False when another runner took it over."""
    values: dict[str, Any] = {"heartbeat_at": datetime.now(UTC)}
    if progress is not None:
        values["progress"] = progress
    if status is not None:
        values["status"] = status
        if status in ("done", "failed"):
            values["finished_at"] = datetime.now(UTC)
    if result is not None:
        values["result"] = result
    if error is not None:
        values["error"] = error
    async with store.engine.begin() as conn:
        outcome = await conn.execute(
            update(search_jobs)
            .where(search_jobs.c.id == job_id, search_jobs.c.claimed_by == runner)
            .values(**values)
        )
    return bool(outcome.rowcount)


async def list_search_jobs(store: Store, *, limit: int = 50) -> list[SearchJobRow]:
    stmt = select(search_jobs).order_by(search_jobs.c.created_at.desc()).limit(limit)
    async with store.engine.connect() as conn:
        return [_job(r) for r in (await conn.execute(stmt)).all()]


async def search_stored(
    store: Store, *, query: str, sources: list[str] | None, limit: int
) -> list[tuple[str, str | None, str | None]]:
    """(post id, sentiment, emotion) of stored posts whose text contains `query`, newest first."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        select(posts.c.id, analyses.c.sentiment, analyses.c.emotion)
        .select_from(posts.outerjoin(analyses, analyses.c.post_id == posts.c.id))
        .where(posts.c.text.ilike(f"%{escaped}%", escape="\\"))
        .order_by(posts.c.created_at.desc(), posts.c.id.desc())
        .limit(limit)
    )
    if sources:
        stmt = stmt.where(posts.c.source.in_(sources))
    async with store.engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in (await conn.execute(stmt)).all()]


async def analysed_count(store: Store, ids: list[str]) -> int:
    """How many of these posts are stored with their analysis."""
    if not ids:
        return 0
    async with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(analyses).where(analyses.c.post_id.in_(ids))
        return int((await conn.execute(stmt)).scalar_one())


async def labels_of(store: Store, ids: list[str]) -> list[tuple[str, str, str]]:
    """(post id, sentiment, emotion) of those of `ids` that are analysed."""
    if not ids:
        return []
    stmt = select(analyses.c.post_id, analyses.c.sentiment, analyses.c.emotion).where(
        analyses.c.post_id.in_(ids)
    )
    async with store.engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in (await conn.execute(stmt)).all()]
