"""SQL for the runs of scheduled jobs: one row per (job, slot), written once, so a slot runs
once; and a summary per job for `sentiflow jobs list`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update

from sentiflow.store.db import Store
from sentiflow.store.schema import job_runs
from sentiflow.store.sql import insert_for, utc


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
