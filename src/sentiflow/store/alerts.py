"""SQL for spike alerts: per-window counts from the minute rollups, and the alerts table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from sentiflow.models import Alert
from sentiflow.store.db import Store
from sentiflow.store.schema import alerts, analyses, posts, rollups
from sentiflow.store.sql import insert_for, utc
from sentiflow.store.stats import RollupFilter


async def window_counts(
    store: Store, *, lo: int, windows: int, size: int
) -> list[tuple[str, str, int, int, int]]:
    """(source, topic, window index, posts, negative posts) for `windows` windows of `size`
    minutes from minute `lo`; windows without posts are absent."""
    index = (rollups.c.bucket - lo) // size
    negative = case((rollups.c.sentiment == "negative", rollups.c.count), else_=0)
    stmt = (
        select(
            rollups.c.source, rollups.c.topic, index, func.sum(rollups.c.count), func.sum(negative)
        )
        .where(rollups.c.bucket >= lo, rollups.c.bucket < lo + windows * size)
        .group_by(rollups.c.source, rollups.c.topic, index)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(s, t, int(i), int(n), int(neg)) for s, t, i, n, neg in rows]


async def negative_samples(
    store: Store, *, source: str, topic: str, since: datetime, until: datetime, limit: int = 5
) -> list[str]:
    """Ids of the most confident negative posts of one source/topic in a window (evidence)."""
    topic_clause = posts.c.topic == topic if topic else posts.c.topic.is_(None)
    stmt = (
        select(posts.c.id)
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(
            posts.c.source == source,
            topic_clause,
            posts.c.created_at >= since,
            posts.c.created_at < until,
            analyses.c.sentiment == "negative",
        )
        .order_by(analyses.c.sentiment_confidence.desc())
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        return [r[0] for r in (await conn.execute(stmt)).all()]


async def insert_alert(store: Store, row: dict[str, Any]) -> int | None:
    """Store an alert; None when that (kind, source, topic, window) was already stored."""
    stmt = (
        insert_for(store, alerts)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["kind", "source", "topic", "window_start"])
        .returning(alerts.c.id)
    )
    async with store.engine.begin() as conn:
        found = (await conn.execute(stmt)).first()
    return int(found[0]) if found else None


def alert_out(row: Any) -> Alert:
    m = row._mapping
    return {
        "id": m["id"],
        "kind": m["kind"],
        "source": m["source"],
        "topic": m["topic"] or None,
        "window_start": utc(m["window_start"]).isoformat(),
        "window_end": utc(m["window_end"]).isoformat(),
        "value": m["value"],
        "baseline_mean": m["baseline_mean"],
        "baseline_std": m["baseline_std"],
        "k": m["k"],
        "evidence": m["evidence"],
        "created_at": utc(m["created_at"]).isoformat(),
    }


async def list_alerts(store: Store, f: RollupFilter, *, limit: int) -> list[Alert]:
    """Newest window first."""
    stmt = select(alerts).order_by(alerts.c.window_start.desc(), alerts.c.id.desc()).limit(limit)
    if f.source:
        stmt = stmt.where(alerts.c.source == f.source)
    if f.topic is not None:
        stmt = stmt.where(alerts.c.topic == f.topic)
    if f.since:
        stmt = stmt.where(alerts.c.window_end > f.since)
    if f.until:
        stmt = stmt.where(alerts.c.window_start < f.until)
    async with store.engine.connect() as conn:
        return [alert_out(r) for r in (await conn.execute(stmt)).all()]
