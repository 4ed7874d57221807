"""Rollup maths: a post's minute bucket, the rollup increments of newly stored posts, their
coarser grains, the urgent rows of negative posts, and the upsert that adds increments (the
SQLAlchemy form; PostgreSQL's batch write has its own in `write/postgres.py`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.models import Analysis, PostIn
from sentiflow.store.db import Store
from sentiflow.store.schema import rollups, rollups_day, rollups_hour, urgent_posts
from sentiflow.store.sql import insert_for
from sentiflow.store.urgency import urgent_row

# A minute rollup row's key: (minute since the epoch, source, topic or "", sentiment, emotion).
RollupKey = tuple[int, str, str, str, str]
# Increments per key: [count, polarity sum, confidence sum].
Sums = dict[RollupKey, list[float]]

# Each grain's table with its bucket size in minutes; all are written in the same transaction.
GRAINS: dict[str, tuple[Any, int]] = {
    "minute": (rollups, 1),
    "hour": (rollups_hour, 60),
    "day": (rollups_day, 1440),
}


def minute_bucket(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def rollup_sums(fresh: Sequence[tuple[PostIn, Analysis]]) -> Sums:
    """Minute rollup increments of newly stored posts: key → [count, polarity, confidence]."""
    sums: Sums = defaultdict(lambda: [0, 0.0, 0.0])
    for post, a in fresh:
        key = (
            minute_bucket(post.created_at),
            post.source,
            post.topic or "",
            a.sentiment,
            a.emotion,
        )
        acc = sums[key]
        acc[0] += 1
        acc[1] += a.polarity
        acc[2] += a.sentiment_confidence
    return sums


def urgent_rows(fresh: Sequence[tuple[PostIn, Analysis]]) -> list[dict[str, Any]]:
    """The `urgent_posts` rows of the negative posts among newly stored ones."""
    return [
        urgent_row(p.id, p.source, p.topic, p.created_at, p.meta, a.sentiment_confidence, a.emotion)
        for p, a in fresh
        if a.sentiment == "negative"
    ]


def coarsen(sums: Sums, minutes: int) -> Sums:
    if minutes == 1:
        return sums
    out: Sums = defaultdict(lambda: [0, 0.0, 0.0])
    for (bucket, *rest), (count, pol, conf) in sums.items():
        acc = out[(bucket // minutes, rest[0], rest[1], rest[2], rest[3])]
        acc[0] += count
        acc[1] += pol
        acc[2] += conf
    return out


def rollup_rows(sums: Sums) -> list[dict[str, Any]]:
    """The upsert's rows of some increments, those that change nothing left out. Sorted by
    key: concurrent writers then lock shared rollup rows in the same order, never in opposite
    orders."""
    return [
        {
            "bucket": k[0],
            "source": k[1],
            "topic": k[2],
            "sentiment": k[3],
            "emotion": k[4],
            "count": int(v[0]),
            "polarity_sum": v[1],
            "confidence_sum": v[2],
        }
        for k, v in sorted(sums.items())
        if v[0] or v[1] or v[2]
    ]


def rollup_upsert(store: Store, table: Any) -> Any:
    stmt = insert_for(store, table)
    return stmt.on_conflict_do_update(
        index_elements=["bucket", "source", "topic", "sentiment", "emotion"],
        set_={
            "count": table.c.count + stmt.excluded.count,
            "polarity_sum": table.c.polarity_sum + stmt.excluded.polarity_sum,
            "confidence_sum": table.c.confidence_sum + stmt.excluded.confidence_sum,
        },
    )


async def add_rollups(
    store: Store, conn: AsyncConnection, fresh: Sequence[tuple[PostIn, Analysis]]
) -> Sums:
    """Count newly stored posts in the rollups (every grain) and the urgent list, through
    SQLAlchemy; returns their minute increments."""
    minute_sums = rollup_sums(fresh)
    for table, minutes in GRAINS.values():
        await conn.execute(rollup_upsert(store, table), rollup_rows(coarsen(minute_sums, minutes)))
    negative = urgent_rows(fresh)
    if negative:
        await conn.execute(insert_for(store, urgent_posts).on_conflict_do_nothing(), negative)
    return minute_sums
