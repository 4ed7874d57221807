"""SQL for ranking: stored analyses of a feed's known posts (one bulk query), and the recent
posts the signal job reads to find trending terms."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from sentiflow.models import Analysis
from sentiflow.store.db import Store
from sentiflow.store.posts import utc
from sentiflow.store.schema import analyses, posts

# Columns in the order of `Analysis` fields. analyzed_at is not read: parsing a datetime per
# row was a visible share of the lookup.
_ANALYSES = select(
    analyses.c.post_id,
    analyses.c.sentiment,
    analyses.c.sentiment_confidence,
    analyses.c.sentiment_probs,
    analyses.c.polarity,
    analyses.c.emotion,
    analyses.c.emotion_confidence,
    analyses.c.emotion_probs,
    analyses.c.model_version,
).where(analyses.c.post_id.in_(bindparam("ids", expanding=True)))


async def analyses_by_post_id(store: Store, post_ids: Collection[str]) -> dict[str, Analysis]:
    """The stored analyses of those of `post_ids` that have one, in one query. Their
    `analyzed_at` is the time of the lookup, not of the analysis."""
    if not post_ids:
        return {}
    async with store.engine.connect() as conn:
        rows = (await conn.execute(_ANALYSES, {"ids": list(post_ids)})).all()
    now = datetime.now(UTC)
    return {row[0]: Analysis(*row[1:], analyzed_at=now) for row in rows}


async def recent_posts(
    store: Store, *, since: datetime, until: datetime, limit: int
) -> list[tuple[str, datetime, float | None]]:
    """(text, created_at, polarity) of the newest `limit` posts created in [since, until)."""
    stmt = (
        select(posts.c.text, posts.c.created_at, analyses.c.polarity)
        .select_from(posts.outerjoin(analyses, analyses.c.post_id == posts.c.id))
        .where(posts.c.created_at >= since, posts.c.created_at < until)
        .order_by(posts.c.created_at.desc())
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(row[0], utc(row[1]), row[2]) for row in rows]
