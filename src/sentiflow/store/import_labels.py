"""SQL for the labels files bring (`sentiflow import --label-column`): written as an import
runs, read by `sentiflow evaluate --stored`, the review queue and dataset snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select

from sentiflow.store.db import Store
from sentiflow.store.schema import import_labels, labels, posts
from sentiflow.store.sql import insert_for


async def save(store: Store, *, source: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Record (post id, sentiment) pairs from `source`; a post imported again keeps the
    latest file's label."""
    if not pairs:
        return
    now = datetime.now(UTC)
    stmt = insert_for(store, import_labels)
    stmt = stmt.on_conflict_do_update(
        index_elements=["post_id"],
        set_={
            "source": stmt.excluded.source,
            "sentiment": stmt.excluded.sentiment,
            "imported_at": stmt.excluded.imported_at,
        },
    )
    rows = [
        {"post_id": pid, "source": source, "sentiment": s, "imported_at": now}
        for pid, s in dict(pairs).items()
    ]
    async with store.engine.begin() as conn:
        await conn.execute(stmt, rows)


async def labelled_texts(store: Store, *, source: str, limit: int) -> list[tuple[str, str]]:
    """(text, sentiment) of up to `limit` stored posts of `source` that carry a human label:
    a reviewer's correction first, else the label their file brought."""
    gold = func.coalesce(labels.c.sentiment, import_labels.c.sentiment)
    stmt = (
        select(posts.c.text, gold)
        .select_from(
            posts.outerjoin(labels, labels.c.post_id == posts.c.id).outerjoin(
                import_labels, import_labels.c.post_id == posts.c.id
            )
        )
        .where(posts.c.source == source, gold.is_not(None))
        .order_by(posts.c.created_at, posts.c.id)
        .limit(limit)
    )
    async with store.engine.connect() as conn:
        return [(text, sentiment) for text, sentiment in await conn.execute(stmt)]
