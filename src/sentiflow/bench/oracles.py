"""Oracles: the stats questions answered straight from posts ⋈ analyses, as a system without
rollups computes them. `sentiflow bench analytics` times them beside the rollup path, and the
tests check that both give the same answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select

from sentiflow.store.db import Store
from sentiflow.store.rollups import minute_bucket
from sentiflow.store.schema import analyses, posts
from sentiflow.store.stats import (
    Dimension,
    Grain,
    RollupFilter,
    distribution_of,
    minute_start,
    summary_of,
)


def _where(f: RollupFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.source:
        clauses.append(posts.c.source == f.source)
    if f.topic is not None:
        clauses.append(func.coalesce(posts.c.topic, "") == f.topic)
    if f.since:
        clauses.append(posts.c.created_at >= minute_start(minute_bucket(f.since)))
    if f.until:
        clauses.append(posts.c.created_at < minute_start(minute_bucket(f.until)))
    return clauses


def _joined() -> Any:
    return posts.join(analyses, analyses.c.post_id == posts.c.id)


async def summary(store: Store, f: RollupFilter) -> dict[str, Any]:
    stmt = (
        select(
            analyses.c.sentiment, analyses.c.emotion, func.count(), func.sum(analyses.c.polarity)
        )
        .select_from(_joined())
        .where(*_where(f))
        .group_by(analyses.c.sentiment, analyses.c.emotion)
    )
    since = max(f.since or minute_start(0), minute_start(minute_bucket(datetime.now(UTC)) - 60))
    hour = (
        select(func.count())
        .select_from(posts)
        .where(*_where(RollupFilter(f.source, f.topic, since, f.until)))
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
        hour_count = int((await conn.execute(hour)).scalar_one())
    return summary_of([(s, e, int(n), float(p)) for s, e, n, p in rows], hour_count)


async def distribution(store: Store, f: RollupFilter, *, by: Dimension) -> dict[str, Any]:
    column = {
        "sentiment": analyses.c.sentiment,
        "emotion": analyses.c.emotion,
        "source": posts.c.source,
        "topic": func.coalesce(posts.c.topic, ""),
    }[by]
    stmt = select(column, func.count()).select_from(_joined()).where(*_where(f)).group_by(column)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return distribution_of(by, rows)


async def timeseries(
    store: Store, f: RollupFilter, *, bucket: Grain, by: Literal["sentiment", "emotion"]
) -> list[tuple[Any, ...]]:
    """Counts per (bucket start, label); only for timing, so the rows are returned raw."""
    if store.dialect == "postgresql":
        t: Any = func.date_trunc(bucket, posts.c.created_at)
    else:
        fmt = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}[bucket]
        t = func.strftime(fmt, posts.c.created_at)
    label = analyses.c[by]
    stmt = (
        select(t, label, func.count(), func.sum(analyses.c.polarity))
        .select_from(_joined())
        .where(*_where(f))
        .group_by(t, label)
        .order_by(t)
    )
    async with store.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(stmt)).all()]
