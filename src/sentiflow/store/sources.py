"""SQL for sources (with their resumable cursors), search jobs and scheduled-job runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Row

from sentiflow.models import PostOut
from sentiflow.store.db import Store
from sentiflow.store.posts import _select as post_select
from sentiflow.store.posts import _to_post as to_post
from sentiflow.store.posts import insert_for, utc
from sentiflow.store.schema import analyses, job_runs, posts, search_jobs, sources


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


# Search jobs -------------------------------------------------------------------------------


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


# Scheduled-job runs ------------------------------------------------------------------------


async def record_run_start(
    store: Store, *, name: str, slot: int, interval_s: float, fence: int, runner: str
) -> bool:
    """The database's word on a run: a (job, slot) row can be written once, so a stale lease
    holder that raced past its Redis claim still cannot run the same slot twice."""
    async with store.engine.begin() as conn:
        stmt = (
            insert_for(store, job_runs)
            .values(
                name=name,
                slot=slot,
                interval_s=interval_s,
                fence=fence,
                runner=runner,
                started_at=datetime.now(UTC),
                status="running",
            )
            .on_conflict_do_nothing(index_elements=["name", "slot"])
        )
        return bool((await conn.execute(stmt)).rowcount)


async def record_run_end(
    store: Store, *, name: str, slot: int, status: str, error: str | None = None, keep: int = 1000
) -> None:
    """Close the run's row; a job keeps the history of its last `keep` slots."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(job_runs)
            .where(job_runs.c.name == name, job_runs.c.slot == slot)
            .values(finished_at=datetime.now(UTC), status=status, error=error)
        )
        await conn.execute(
            delete(job_runs).where(job_runs.c.name == name, job_runs.c.slot <= slot - keep)
        )


@dataclass(frozen=True, slots=True)
class JobSummary:
    name: str
    interval_s: float
    runs: int
    last_slot: int
    last_started_at: datetime
    last_status: str
    last_runner: str
    last_error: str | None


async def job_summaries(store: Store) -> list[JobSummary]:
    """Per scheduled job: how often it ran and how its last run went."""
    latest = (
        select(job_runs.c.name, func.max(job_runs.c.slot).label("slot"), func.count().label("n"))
        .group_by(job_runs.c.name)
        .subquery()
    )
    stmt = (
        select(job_runs, latest.c.n)
        .join(latest, (latest.c.name == job_runs.c.name) & (latest.c.slot == job_runs.c.slot))
        .order_by(job_runs.c.name)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        JobSummary(
            name=r.name,
            interval_s=r.interval_s,
            runs=int(r.n),
            last_slot=int(r.slot),
            last_started_at=utc(r.started_at),
            last_status=r.status,
            last_runner=r.runner,
            last_error=r.error,
        )
        for r in rows
    ]


async def posts_by_ids(store: Store, ids: list[str]) -> list[PostOut]:
    """The stored posts among `ids`, with their analyses, in the order of `ids`."""
    if not ids:
        return []
    async with store.engine.connect() as conn:
        rows = (await conn.execute(post_select().where(posts.c.id.in_(ids)))).all()
    found = {p.id: p for p in map(to_post, rows)}
    return [found[i] for i in ids if i in found]
