"""SQL for re-analysis: pages of stored posts, and the swap of their analyses that moves each
rollup count from the old label to the new one in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, select, update

from sentiflow.models import Analysis
from sentiflow.store.corrections import follow_urgent, label_targets, shift_rollups
from sentiflow.store.db import Store
from sentiflow.store.rollups import minute_bucket
from sentiflow.store.schema import analyses, posts
from sentiflow.store.sql import utc


def _where(since: datetime | None, until: datetime | None) -> list[Any]:
    clauses: list[Any] = []
    if since is not None:
        clauses.append(posts.c.created_at >= since)
    if until is not None:
        clauses.append(posts.c.created_at < until)
    return clauses


async def count(store: Store, *, since: datetime | None, until: datetime | None) -> int:
    stmt = (
        select(func.count())
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(*_where(since, until))
    )
    async with store.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def page(
    store: Store,
    *,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> list[tuple[str, str]]:
    """(id, text) of the next `limit` analysed posts in id order, after id `after`."""
    stmt = (
        select(posts.c.id, posts.c.text)
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(*_where(since, until))
    )
    if after is not None:
        stmt = stmt.where(posts.c.id > after)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(posts.c.id).limit(limit))).all()
    return [(r[0], r[1]) for r in rows]


async def replace(store: Store, ids: Sequence[str], results: Sequence[Analysis]) -> int:
    """Store new analyses of these posts; rollups follow the effective label (a human
    correction stays put, only its polarity and confidence sums change)."""
    new = dict(zip(ids, results, strict=True))
    moves: dict[tuple[int, str, str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    # Uncorrected posts whose model label changed; they may join or leave the urgent list.
    changed: list[tuple[Any, str, str]] = []
    async with store.engine.begin() as conn:
        rows = (await conn.execute(label_targets(ids))).all()
        for r in rows:
            a = new[r.id]
            bucket, topic = minute_bucket(utc(r.created_at)), r.topic or ""
            old_key = (
                bucket,
                r.source,
                topic,
                r.label_sentiment or r.sentiment,
                r.label_emotion or r.emotion,
            )
            new_key = (
                bucket,
                r.source,
                topic,
                r.label_sentiment or a.sentiment,
                r.label_emotion or a.emotion,
            )
            if r.label_sentiment is None and a.sentiment != r.sentiment:
                changed.append(
                    (
                        # The urgent rank uses the new confidence.
                        SimpleNamespace(
                            **{**r._mapping, "sentiment_confidence": a.sentiment_confidence}
                        ),
                        a.sentiment,
                        a.emotion,
                    )
                )
            for key, sign, polarity, confidence in (
                (old_key, -1, r.polarity, r.sentiment_confidence),
                (new_key, 1, a.polarity, a.sentiment_confidence),
            ):
                acc = moves[key]
                acc[0] += sign
                acc[1] += sign * polarity
                acc[2] += sign * confidence
        await conn.execute(
            update(analyses)
            .where(analyses.c.post_id == bindparam("pid"))
            .values(
                sentiment=bindparam("sentiment"),
                sentiment_confidence=bindparam("sentiment_confidence"),
                sentiment_probs=bindparam("sentiment_probs"),
                polarity=bindparam("polarity"),
                emotion=bindparam("emotion"),
                emotion_confidence=bindparam("emotion_confidence"),
                emotion_probs=bindparam("emotion_probs"),
                model_version=bindparam("model_version"),
                analyzed_at=bindparam("analyzed_at"),
            ),
            [
                {
                    "pid": r.id,
                    "sentiment": new[r.id].sentiment,
                    "sentiment_confidence": new[r.id].sentiment_confidence,
                    "sentiment_probs": new[r.id].sentiment_probs,
                    "polarity": new[r.id].polarity,
                    "emotion": new[r.id].emotion,
                    "emotion_confidence": new[r.id].emotion_confidence,
                    "emotion_probs": new[r.id].emotion_probs,
                    "model_version": new[r.id].model_version,
                    "analyzed_at": new[r.id].analyzed_at,
                }
                for r in rows
            ],
        )
        await shift_rollups(store, conn, moves)
        await follow_urgent(store, conn, changed)
    return len(rows)
