"""SQL for the urgent list (negative, unhandled posts by urgency) and for marking one handled."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from sentiflow.models import PostOut
from sentiflow.store.db import Store
from sentiflow.store.posts import get_post, to_post
from sentiflow.store.schema import analyses, posts, urgent_posts
from sentiflow.store.stats import RollupFilter


async def urgent(store: Store, f: RollupFilter, *, limit: int) -> list[tuple[PostOut, float]]:
    """The most urgent posts first, each with its ranking key (store/urgency.py)."""
    u = urgent_posts
    stmt = (
        select(posts, analyses, u.c.rank_key)
        .select_from(
            u.join(posts, posts.c.id == u.c.post_id).join(
                analyses, analyses.c.post_id == u.c.post_id
            )
        )
        .order_by(u.c.rank_key.desc())
        .limit(limit)
    )
    if f.source:
        stmt = stmt.where(u.c.source == f.source)
    if f.topic is not None:
        stmt = stmt.where(u.c.topic == f.topic)
    if f.since:
        stmt = stmt.where(u.c.created_at >= f.since)
    if f.until:
        stmt = stmt.where(u.c.created_at < f.until)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(to_post(row), float(row._mapping["rank_key"])) for row in rows]


async def mark_handled(store: Store, post_id: str) -> PostOut | None:
    """Set `handled_at` (the first time only) and take the post off the urgent list."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(posts)
            .where(posts.c.id == post_id, posts.c.handled_at.is_(None))
            .values(handled_at=datetime.now(UTC))
        )
        await conn.execute(delete(urgent_posts).where(urgent_posts.c.post_id == post_id))
    return await get_post(store, post_id)
