"""SQL for corrections: history rows, the effective label, and the rollup move, all in one
transaction, so analytics count a corrected post under its new label exactly once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter, post_where
from sentiflow.store.rollups import GRAINS, coarsen, minute_bucket, rollup_rows, rollup_upsert
from sentiflow.store.schema import (
    analyses,
    corrections,
    labels,
    posts,
    review_claims,
    urgent_posts,
)
from sentiflow.store.sql import insert_for, utc
from sentiflow.store.urgency import urgent_row


@dataclass(frozen=True, slots=True)
class Change:
    """What to set; None keeps the post's current value of that label."""

    sentiment: str | None
    emotion: str | None
    note: str | None
    who: str


@dataclass(frozen=True, slots=True)
class Applied:
    correction_id: int
    post_id: str
    old_sentiment: str
    old_emotion: str
    sentiment: str
    emotion: str
    created_at: datetime
    source: str
    topic: str
    bucket: int


def label_targets(ids: Sequence[str]) -> Any:
    """The posts' stored analyses with their human labels, in id order (corrections and
    re-analysis both move rollup counts from these)."""
    return (
        select(
            posts.c.id,
            posts.c.created_at,
            posts.c.source,
            posts.c.topic,
            posts.c.meta,
            posts.c.handled_at,
            analyses.c.sentiment,
            analyses.c.emotion,
            analyses.c.polarity,
            analyses.c.sentiment_confidence,
            analyses.c.model_version,
            labels.c.sentiment.label("label_sentiment"),
            labels.c.emotion.label("label_emotion"),
        )
        .select_from(
            posts.join(analyses, analyses.c.post_id == posts.c.id).outerjoin(
                labels, labels.c.post_id == posts.c.id
            )
        )
        .where(posts.c.id.in_(list(ids)))
        .order_by(posts.c.id)
    )


def _lock(ids: Sequence[str]) -> Any:
    """Row locks on the posts' analyses, taken in id order. Two corrections of one post at
    once: the second waits here, then its own next statement (a fresh snapshot under READ
    COMMITTED) reads the label the first one set, so the rollup moves from the right row."""
    return (
        select(analyses.c.post_id)
        .where(analyses.c.post_id.in_(list(ids)))
        .order_by(analyses.c.post_id)
        .with_for_update()
    )


async def apply(store: Store, ids: Sequence[str], change: Change) -> list[Applied]:
    """Correct the analysed posts among `ids`; returns one record per corrected post."""
    if not ids:
        return []
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            await conn.execute(_lock(ids))
        rows = (await conn.execute(label_targets(ids))).all()
        if not rows:
            return []
        history = []
        changed: list[tuple[Any, str, str]] = []
        moves: dict[tuple[int, str, str, str, str], list[float]] = defaultdict(
            lambda: [0, 0.0, 0.0]
        )
        for r in rows:
            old_s = r.label_sentiment or r.sentiment
            old_e = r.label_emotion or r.emotion
            new_s = change.sentiment or old_s
            new_e = change.emotion or old_e
            history.append(
                {
                    "post_id": r.id,
                    "old_sentiment": old_s,
                    "old_emotion": old_e,
                    "sentiment": new_s,
                    "emotion": new_e,
                    "note": change.note,
                    "who": change.who,
                    "model_version": r.model_version,
                    "created_at": now,
                    "_row": r,
                }
            )
            if (old_s, old_e) != (new_s, new_e):
                changed.append((r, new_s, new_e))
                bucket = minute_bucket(utc(r.created_at))
                topic = r.topic or ""
                for key, sign in (
                    ((bucket, r.source, topic, old_s, old_e), -1),
                    ((bucket, r.source, topic, new_s, new_e), 1),
                ):
                    acc = moves[key]
                    acc[0] += sign
                    acc[1] += sign * r.polarity
                    acc[2] += sign * r.sentiment_confidence
        inserted = await conn.execute(
            corrections.insert().returning(corrections.c.id, sort_by_parameter_order=True),
            [{k: v for k, v in h.items() if k != "_row"} for h in history],
        )
        correction_ids = [row[0] for row in inserted]
        upsert = insert_for(store, labels)
        upsert = upsert.on_conflict_do_update(
            index_elements=["post_id"],
            set_={
                "sentiment": upsert.excluded.sentiment,
                "emotion": upsert.excluded.emotion,
                "corrected_by": upsert.excluded.corrected_by,
                "corrected_at": upsert.excluded.corrected_at,
                "correction_id": upsert.excluded.correction_id,
            },
        )
        await conn.execute(
            upsert,
            [
                {
                    "post_id": h["post_id"],
                    "sentiment": h["sentiment"],
                    "emotion": h["emotion"],
                    "corrected_by": change.who,
                    "corrected_at": now,
                    "correction_id": cid,
                }
                for h, cid in zip(history, correction_ids, strict=True)
            ],
        )
        await shift_rollups(store, conn, moves)
        await follow_urgent(store, conn, changed)
        await conn.execute(delete(review_claims).where(review_claims.c.post_id.in_(list(ids))))
    return [
        Applied(
            correction_id=cid,
            post_id=h["post_id"],
            old_sentiment=h["old_sentiment"],
            old_emotion=h["old_emotion"],
            sentiment=h["sentiment"],
            emotion=h["emotion"],
            created_at=now,
            source=h["_row"].source,
            topic=h["_row"].topic or "",
            bucket=minute_bucket(utc(h["_row"].created_at)),
        )
        for h, cid in zip(history, correction_ids, strict=True)
    ]


async def shift_rollups(
    store: Store, conn: Any, moves: dict[tuple[int, str, str, str, str], list[float]]
) -> None:
    """Add minute-keyed (count, polarity, confidence) deltas to every rollup grain (minute,
    hour, day); a move is -1 on the old label's row and +1 on the new one's."""
    for table, minutes in GRAINS.values():
        rows = rollup_rows(coarsen(moves, minutes))
        if rows:
            await conn.execute(rollup_upsert(store, table), rows)


async def follow_urgent(store: Store, conn: Any, changed: list[tuple[Any, str, str]]) -> None:
    """Keep the urgent list (negative, unhandled posts) in step with changed labels:
    `changed` holds (row with id, source, topic, created_at, meta, handled_at,
    sentiment_confidence; new sentiment; new emotion)."""
    leaving = [r.id for r, sentiment, _ in changed if sentiment != "negative"]
    if leaving:
        await conn.execute(delete(urgent_posts).where(urgent_posts.c.post_id.in_(leaving)))
    entering = [
        urgent_row(r.id, r.source, r.topic, r.created_at, r.meta, r.sentiment_confidence, emotion)
        for r, sentiment, emotion in changed
        if sentiment == "negative" and r.handled_at is None
    ]
    if entering:
        await conn.execute(insert_for(store, urgent_posts).on_conflict_do_nothing(), entering)


async def post_state(store: Store, post_id: str) -> tuple[bool, bool]:
    """(exists, analysed) for one post, to tell a missing post from a pending one."""
    stmt = (
        select(posts.c.id, analyses.c.post_id)
        .select_from(posts.outerjoin(analyses, analyses.c.post_id == posts.c.id))
        .where(posts.c.id == post_id)
    )
    async with store.engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return (row is not None, row is not None and row[1] is not None)


async def history(store: Store, post_id: str) -> list[dict[str, Any]]:
    stmt = select(corrections).where(corrections.c.post_id == post_id).order_by(corrections.c.id)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [{**r._mapping, "created_at": utc(r.created_at)} for r in rows]


async def matching_ids(store: Store, filters: PostFilter, *, limit: int) -> tuple[int, list[str]]:
    """How many analysed posts match, and the ids of up to `limit` of them (oldest first)."""
    base = posts.join(analyses, analyses.c.post_id == posts.c.id).outerjoin(
        labels, labels.c.post_id == posts.c.id
    )
    where = post_where(filters)
    async with store.engine.connect() as conn:
        total = int(
            (await conn.execute(select(func.count()).select_from(base).where(*where))).scalar_one()
        )
        ids = (
            await conn.execute(
                select(posts.c.id)
                .select_from(base)
                .where(*where)
                .order_by(posts.c.created_at, posts.c.id)
                .limit(limit)
            )
        ).scalars()
        return total, list(ids)


async def existing_analysed(store: Store, ids: Sequence[str]) -> int:
    stmt = select(func.count()).select_from(analyses).where(analyses.c.post_id.in_(list(ids)))
    async with store.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def count_since(store: Store, after_id: int) -> tuple[int, int]:
    """(corrections with id > after_id, the newest correction id)."""
    stmt = select(func.count(), func.coalesce(func.max(corrections.c.id), 0)).where(
        corrections.c.id > after_id
    )
    async with store.engine.connect() as conn:
        count, newest = (await conn.execute(stmt)).one()
    return int(count), int(newest)
