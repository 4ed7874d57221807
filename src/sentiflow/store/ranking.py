"""SQL for ranking: stored analyses of a feed's known posts (one bulk query), and the recent
posts the signal job reads to find trending terms."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import orjson
from sqlalchemy import Text, bindparam, cast, select

from sentiflow.models import Analysis
from sentiflow.store.db import Store
from sentiflow.store.posts import utc
from sentiflow.store.schema import analyses, posts

# The probabilities come back as text and are parsed with orjson, and analyzed_at is not read:
# on a 1,000-item feed those two were most of the lookup's time.
_ANALYSES = select(
    analyses.c.post_id,
    analyses.c.sentiment,
    analyses.c.sentiment_confidence,
    cast(analyses.c.sentiment_probs, Text),
    analyses.c.polarity,
    analyses.c.emotion,
    analyses.c.emotion_confidence,
    cast(analyses.c.emotion_probs, Text),
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
    loads = orjson.loads
    return {
        row[0]: Analysis(
            row[1], row[2], loads(row[3]), row[4], row[5], row[6], loads(row[7]), row[8], now
        )
        for row in rows
    }


async def recent_posts(
    store: Store, *, since: datetime, limit: int
) -> list[tuple[str, datetime, float | None]]:
    """(text, created_at, polarity) of the newest posts created since `since`, newest first."""
    stmt = (
        select(posts.c.text, posts.c.created_at, analyses.c.polarity)
        .select_from(posts.outerjoin(analyses, analyses.c.post_id == posts.c.id))
        .where(posts.c.created_at >= since)
        .order_by(posts.c.created_at.desc())
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(row[0], utc(row[1]), row[2]) for row in rows]
