"""The stats questions answered straight from posts ⋈ analyses rather than the rollups: the
answer for a filter the rollups cannot hold (a post's language), and the oracle that
`sentiflow bench analytics` times beside the rollup path (the tests check both agree).
Their cost grows with the posts in the time range."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Integer, cast, func, select

from sentiflow.store.db import Store
from sentiflow.store.posts import lang_is
from sentiflow.store.rollups import GRAINS, minute_bucket
from sentiflow.store.schema import analyses, posts
from sentiflow.store.stats import (
    Dimension,
    Grain,
    RollupFilter,
    distribution_of,
    minute_start,
    summary_of,
    timeseries_of,
)


def where(f: RollupFilter) -> list[Any]:
    """The filter over `posts`, its times cut to whole minutes as the rollups' are."""
    clauses: list[Any] = []
    if f.source:
        clauses.append(posts.c.source == f.source)
    if f.topic is not None:
        clauses.append(func.coalesce(posts.c.topic, "") == f.topic)
    if f.since:
        clauses.append(posts.c.created_at >= minute_start(minute_bucket(f.since)))
    if f.until:
        clauses.append(posts.c.created_at < minute_start(minute_bucket(f.until)))
    if f.lang is not None:
        clauses.append(lang_is(f.lang))
    return clauses


def _joined() -> Any:
    return posts.join(analyses, analyses.c.post_id == posts.c.id)


async def summary(store: Store, f: RollupFilter) -> dict[str, Any]:
    stmt = (
        select(
            analyses.c.sentiment, analyses.c.emotion, func.count(), func.sum(analyses.c.polarity)
        )
        .select_from(_joined())
        .where(*where(f))
        .group_by(analyses.c.sentiment, analyses.c.emotion)
    )
    since = max(f.since or minute_start(0), minute_start(minute_bucket(datetime.now(UTC)) - 60))
    hour = (
        select(func.count())
        .select_from(posts)
        .where(*where(RollupFilter(f.source, f.topic, since, f.until, f.lang)))
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
    stmt = select(column, func.count()).select_from(_joined()).where(*where(f)).group_by(column)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return distribution_of(by, rows)


def _minute(store: Store) -> Any:
    """A post's minute bucket (minutes since the epoch) in SQL."""
    if store.dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", posts.c.created_at) / 60), Integer)
    return cast(func.strftime("%s", posts.c.created_at), Integer) // 60


async def timeseries(
    store: Store, f: RollupFilter, *, bucket: Grain, by: Literal["sentiment", "emotion"]
) -> dict[str, Any]:
    """The same points as `stats.timeseries`, counted from the posts."""
    t = (_minute(store) // GRAINS[bucket][1]).label("t")
    label = analyses.c[by]
    stmt = (
        select(t, label, func.count(), func.sum(analyses.c.polarity))
        .select_from(_joined())
        .where(*where(f))
        .group_by(t, label)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return timeseries_of(f, rows, bucket=bucket, by=by)
