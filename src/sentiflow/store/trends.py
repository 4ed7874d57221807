"""SQL behind keyword trends: the texts of negative and positive posts in a time range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, select

from sentiflow.store.db import Store
from sentiflow.store.posts import group_key
from sentiflow.store.schema import analyses, posts

# The post's language (as sent or identified), for its stop words.
_LANG = posts.c.lang


async def texts(
    store: Store,
    *,
    since: datetime,
    until: datetime,
    source: str | None = None,
    topic: str | None = None,
    chunk: int = 5_000,
) -> AsyncIterator[list[tuple[str, str, str | None]]]:
    """(text, sentiment, language) of negative and positive posts, streamed in chunks: one
    per near-duplicate group and sentiment, so copies of a post count once."""
    group = group_key()
    stmt = (
        select(func.min(posts.c.text), analyses.c.sentiment, func.min(_LANG))
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(
            posts.c.created_at >= since,
            posts.c.created_at < until,
            analyses.c.sentiment.in_(("negative", "positive")),
        )
        .group_by(group, analyses.c.sentiment)
    )
    if source:
        stmt = stmt.where(posts.c.source == source)
    if topic is not None:
        stmt = stmt.where(posts.c.topic == topic) if topic else stmt.where(posts.c.topic.is_(None))
    async with store.engine.connect() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for part in result.partitions(chunk):
            yield [(text, sentiment, lang) for text, sentiment, lang in part]
