"""SQL for exports: every post a filter of /api/posts matches, newest first, with its analysis
and effective label, read in chunks by keyset (each chunk one short query and connection, so
a million-row export holds neither a transaction nor more than a chunk in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from sqlalchemy import case, select

from sentiflow.store.db import Store
from sentiflow.store.posts import (
    NEWEST_FIRST,
    PostFilter,
    effective_emotion,
    effective_sentiment,
    older_than,
    post_where,
)
from sentiflow.store.schema import analyses, labels, posts

# Column name → expression, in the order of the exported columns.
_SELECTED: Final = {
    "id": posts.c.id,
    "source": posts.c.source,
    "external_id": posts.c.external_id,
    "created_at": posts.c.created_at,
    "text": posts.c.text,
    "author": posts.c.author,
    "url": posts.c.url,
    "topic": posts.c.topic,
    "lang": posts.c.lang,
    "sentiment": effective_sentiment,
    "emotion": effective_emotion,
    "label_source": case(
        (labels.c.sentiment.is_not(None), "human"),
        (analyses.c.sentiment.is_not(None), "model"),
        else_=None,
    ),
    "model_sentiment": analyses.c.sentiment,
    "model_sentiment_confidence": analyses.c.sentiment_confidence,
    "polarity": analyses.c.polarity,
    "model_emotion": analyses.c.emotion,
    "model_emotion_confidence": analyses.c.emotion_confidence,
    "model_version": analyses.c.model_version,
    "analyzed_at": analyses.c.analyzed_at,
    "corrected_by": labels.c.corrected_by,
    "handled_at": posts.c.handled_at,
    "meta": posts.c.meta,
}
COLUMNS: Final = tuple(_SELECTED)
CREATED_AT: Final = COLUMNS.index("created_at")
ID: Final = COLUMNS.index("id")


async def post_rows(
    store: Store, filters: PostFilter, *, chunk: int = 5_000
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The matching posts as tuples in `COLUMNS` order, `chunk` at a time."""
    base = (
        select(*(expression.label(name) for name, expression in _SELECTED.items()))
        .select_from(
            posts.outerjoin(analyses, analyses.c.post_id == posts.c.id).outerjoin(
                labels, labels.c.post_id == posts.c.id
            )
        )
        .where(*post_where(filters))
        .order_by(*NEWEST_FIRST)
        .limit(chunk)
    )
    stmt = base
    while True:
        async with store.engine.connect() as conn:
            rows = [tuple(r) for r in await conn.execute(stmt)]
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        last = rows[-1]
        stmt = base.where(older_than(store, last[CREATED_AT], last[ID]))
