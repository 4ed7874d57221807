"""SQL for ranking: stored analyses of a feed's known posts (one bulk query), and the recent
posts the signal job reads to find trending terms."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import orjson
from sqlalchemy import bindparam, select, text

from sentiflow.models import Analysis
from sentiflow.store.db import Store
from sentiflow.store.posts import utc
from sentiflow.store.schema import analyses, posts

# Plain SQL with untyped columns: SQLAlchemy's per-value result processing cost as much as the
# query on a 1,000-item feed. The probabilities come back as JSON text (CAST, the same on
# SQLite and PostgreSQL) for orjson; analyzed_at is not read.
_ANALYSES = text(
    "SELECT post_id, sentiment, sentiment_confidence, CAST(sentiment_probs AS TEXT), polarity,"
    " emotion, emotion_confidence, CAST(emotion_probs AS TEXT), model_version"
    " FROM analyses WHERE post_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


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
        pid: Analysis(s, sc, loads(sp), pol, e, ec, loads(ep), version, now)
        for pid, s, sc, sp, pol, e, ec, ep, version in rows
    }


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
