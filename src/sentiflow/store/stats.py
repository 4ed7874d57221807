"""SQL for analytics, over the minute rollups rather than the posts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.store.db import Store
from sentiflow.store.posts import minute_bucket
from sentiflow.store.schema import rollups


@dataclass(frozen=True, slots=True)
class RollupFilter:
    source: str | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def rollup_where(f: RollupFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.source:
        clauses.append(rollups.c.source == f.source)
    if f.topic is not None:
        clauses.append(rollups.c.topic == f.topic)
    if f.since:
        clauses.append(rollups.c.bucket >= minute_bucket(f.since))
    if f.until:
        clauses.append(rollups.c.bucket < minute_bucket(f.until))
    return clauses


async def summary(store: Store, f: RollupFilter) -> dict[str, Any]:
    """Totals per sentiment and emotion, mean polarity and posts/minute over the last hour."""
    where = rollup_where(f)
    by_sentiment = (
        select(
            rollups.c.sentiment,
            func.sum(rollups.c.count),
            func.sum(rollups.c.polarity_sum),
        )
        .where(*where)
        .group_by(rollups.c.sentiment)
    )
    by_emotion = (
        select(rollups.c.emotion, func.sum(rollups.c.count))
        .where(*where)
        .group_by(rollups.c.emotion)
    )
    hour_start = minute_bucket(datetime.now(UTC)) - 60
    last_hour = select(func.coalesce(func.sum(rollups.c.count), 0)).where(
        *where, rollups.c.bucket >= hour_start
    )
    async with store.engine.connect() as conn:
        sentiment_rows = (await conn.execute(by_sentiment)).all()
        emotion_rows = (await conn.execute(by_emotion)).all()
        hour_count = int((await conn.execute(last_hour)).scalar_one())
    sentiments = dict.fromkeys(SENTIMENTS, 0)
    polarity_sum = 0.0
    for label, count, pol in sentiment_rows:
        sentiments[label] = int(count)
        polarity_sum += float(pol)
    emotions = dict.fromkeys(EMOTIONS, 0)
    for label, count in emotion_rows:
        emotions[label] = int(count)
    total = sum(sentiments.values())
    return {
        "total": total,
        "sentiment": sentiments,
        "emotion": emotions,
        "avg_polarity": round(polarity_sum / total, 4) if total else 0.0,
        "posts_per_minute": round(hour_count / 60, 2),
    }
