"""SQL behind keyword trends: the texts of negative and positive posts in a time range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select

from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, posts


async def texts(
    store: Store,
    *,
    since: datetime,
    until: datetime,
    source: str | None = None,
    topic: str | None = None,
    chunk: int = 5_000,
) -> AsyncIterator[list[tuple[str, str]]]:
    """(text, sentiment) of negative and positive posts, streamed in chunks."""
    stmt = (
        select(posts.c.text, analyses.c.sentiment)
        .select_from(posts.join(analyses, analyses.c.post_id == posts.c.id))
        .where(
            posts.c.created_at >= since,
            posts.c.created_at < until,
            analyses.c.sentiment.in_(("negative", "positive")),
        )
    )
    if source:
        stmt = stmt.where(posts.c.source == source)
    if topic is not None:
        stmt = stmt.where(posts.c.topic == topic) if topic else stmt.where(posts.c.topic.is_(None))
    async with store.engine.connect() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for part in result.partitions(chunk):
            yield [(text, sentiment) for text, sentiment in part]
