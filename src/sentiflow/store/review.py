"""SQL for the review queue: candidates by strategy, the open posts of their near-duplicate
groups, and the atomic claim that keeps two reviewers from getting the same post."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, func, select

from sentiflow.store.db import Store
from sentiflow.store.posts import NEWEST_FIRST, group_key, in_groups
from sentiflow.store.schema import analyses, import_labels, labels, posts, review_claims
from sentiflow.store.sql import insert_for

Order = Literal["margin", "random", "newest_negative"]


def margin(store: Store) -> Any:
    """Top-1 minus top-2 sentiment probability, from the stored probabilities. With three
    labels that is 2·max + min − sum; SQLite spells GREATEST/LEAST as multi-argument max/min."""
    probs = [analyses.c.sentiment_probs[k].as_float() for k in ("negative", "neutral", "positive")]
    greatest, least = (
        (func.greatest, func.least) if store.dialect == "postgresql" else (func.max, func.min)
    )
    return 2 * greatest(*probs) + least(*probs) - (probs[0] + probs[1] + probs[2])


async def candidates(
    store: Store, *, order: Order, limit: int, now: datetime, skip: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Analysed posts that nobody corrected and nobody holds a live claim on, each with the
    label its file brought (`import_sentiment`, `import_source`; None when none)."""
    m = margin(store).label("margin")
    stmt = (
        select(
            posts.c.id,
            posts.c.text,
            posts.c.source,
            posts.c.topic,
            posts.c.created_at,
            analyses.c.sentiment,
            analyses.c.sentiment_confidence,
            analyses.c.sentiment_probs,
            analyses.c.emotion,
            analyses.c.emotion_confidence,
            analyses.c.model_version,
            group_key().label("group_key"),
            m,
            import_labels.c.sentiment.label("import_sentiment"),
            import_labels.c.source.label("import_source"),
        )
        .select_from(
            posts.join(analyses, analyses.c.post_id == posts.c.id).outerjoin(
                import_labels, import_labels.c.post_id == posts.c.id
            )
        )
        .where(~exists().where(labels.c.post_id == posts.c.id))
        .where(
            ~exists().where(
                review_claims.c.post_id == posts.c.id, review_claims.c.expires_at >= now
            )
        )
    )
    if skip:
        stmt = stmt.where(posts.c.id.not_in(list(skip)))
    if order == "margin":
        stmt = stmt.order_by(m, posts.c.id)
    elif order == "newest_negative":
        stmt = stmt.where(analyses.c.sentiment == "negative").order_by(*NEWEST_FIRST)
    else:
        stmt = stmt.order_by(func.random())
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt.limit(limit))).all()
    return [dict(r._mapping) for r in rows]


async def open_members(
    store: Store, groups: Sequence[str], *, now: datetime
) -> dict[str, list[str]]:
    """Group → the ids of its analysed posts that nobody corrected or holds a live claim on."""
    if not groups:
        return {}
    stmt = (
        select(posts.c.id, group_key())
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(in_groups(groups))
        .where(~exists().where(labels.c.post_id == posts.c.id))
        .where(
            ~exists().where(
                review_claims.c.post_id == posts.c.id, review_claims.c.expires_at >= now
            )
        )
        .order_by(posts.c.id)
    )
    out: dict[str, list[str]] = {}
    async with store.engine.connect() as conn:
        for pid, group in await conn.execute(stmt):
            out.setdefault(group, []).append(pid)
    return out


async def claim(
    store: Store,
    post_ids: Sequence[str],
    *,
    claim_id: str,
    reviewer: str,
    expires_at: datetime,
    now: datetime,
) -> set[str]:
    """Claim what is free among `post_ids`; returns the ids this call got.

    One upsert: a free post gets a new claim row, an expired claim is taken over, a live
    one is left alone and not returned. Concurrent calls serialise on the row, so each
    post goes to exactly one of them.
    """
    if not post_ids:
        return set()
    stmt = insert_for(store, review_claims).values(
        [
            {"post_id": pid, "claim_id": claim_id, "reviewer": reviewer, "expires_at": expires_at}
            for pid in sorted(post_ids)
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["post_id"],
        set_={
            "claim_id": stmt.excluded.claim_id,
            "reviewer": stmt.excluded.reviewer,
            "expires_at": stmt.excluded.expires_at,
        },
        where=review_claims.c.expires_at < now,
    ).returning(review_claims.c.post_id)
    async with store.engine.begin() as conn:
        return {r[0] for r in await conn.execute(stmt)}
