"""SQL for the end of a post's life. Erasure removes posts with everything that hangs off them
and takes them out of every rollup grain in the same transaction; retention deletes old posts
in small batches, each its own short transaction, and leaves the rollups (anonymous counts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Table, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.store.corrections import label_targets, shift_rollups
from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS, minute_bucket
from sentiflow.store.schema import (
    analyses,
    corrections,
    datasets,
    labels,
    posts,
    rank_session_items,
    rank_sessions,
    review_claims,
    urgent_posts,
)
from sentiflow.store.sql import utc

# Under SQLite's and asyncpg's limits on bound parameters, and short enough a transaction
# that a worker's commit never waits long behind one.
BATCH: Final = 2_000
# The rows that hang off a post, deleted before it (PostgreSQL's foreign keys would cascade
# too; SQLite's do; deleting them by name keeps both alike and visible).
CHILDREN: Final = (
    (analyses, analyses.c.post_id),
    (urgent_posts, urgent_posts.c.post_id),
    (labels, labels.c.post_id),
    (corrections, corrections.c.post_id),
    (review_claims, review_claims.c.post_id),
    (rank_session_items, rank_session_items.c.post_id),
)


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed: the posts, and the rollup scope it changed (for the cache)."""

    ids: list[str]
    sources: frozenset[str]
    topics: frozenset[str]
    buckets: tuple[int, ...]
    datasets_marked: int


async def erase_posts(store: Store, ids: Sequence[str]) -> Erased:
    """Erase the posts `ids` (those stored), in one transaction with their rollup counts."""
    erased: list[str] = []
    sources: set[str] = set()
    topics: set[str] = set()
    buckets: set[int] = set()
    marked = 0
    for start in range(0, len(ids), BATCH):
        chunk = sorted(ids[start : start + BATCH])
        async with store.engine.begin() as conn:
            if store.dialect == "postgresql":
                # As a correction does: one waiting on these rows reads the state after us.
                await conn.execute(_lock(chunk))
            rows = (await conn.execute(label_targets(chunk))).all()
            moves: dict[tuple[int, str, str, str, str], list[float]] = defaultdict(
                lambda: [0, 0.0, 0.0]
            )
            for r in rows:
                bucket = minute_bucket(utc(r.created_at))
                key = (
                    bucket,
                    r.source,
                    r.topic or "",
                    r.label_sentiment or r.sentiment,
                    r.label_emotion or r.emotion,
                )
                acc = moves[key]
                acc[0] -= 1
                acc[1] -= r.polarity
                acc[2] -= r.sentiment_confidence
                sources.add(r.source)
                topics.add(r.topic or "")
                buckets.add(bucket)
            await shift_rollups(store, conn, moves)
            await _drop_empty_rollups(conn, {key[0] for key in moves})
            marked += await _mark_datasets(conn, chunk)
            erased += await _delete(conn, chunk)
    return Erased(
        ids=erased,
        sources=frozenset(sources),
        topics=frozenset(t for t in topics if t),
        buckets=tuple(sorted(buckets)),
        datasets_marked=marked,
    )


def _lock(ids: list[str]) -> Any:
    return select(posts.c.id).where(posts.c.id.in_(ids)).order_by(posts.c.id).with_for_update()


async def author_post_ids(store: Store, source: str, author: str) -> list[str]:
    async with store.engine.connect() as conn:
        result = await conn.execute(
            select(posts.c.id).where(posts.c.source == source, posts.c.author == author)
        )
        return [row[0] for row in result]


async def purge_batch(store: Store, before: datetime, *, limit: int = BATCH) -> int:
    """Delete up to `limit` of the oldest posts created before `before`; how many went."""
    async with store.engine.begin() as conn:
        ids = await _oldest(conn, posts, before, limit)
        return len(await _delete(conn, ids)) if ids else 0


async def purge_sessions_batch(store: Store, before: datetime, *, limit: int = BATCH) -> int:
    """Delete up to `limit` of the oldest ranking sessions (with their feeds) made before
    `before`: their items are copies of post texts, kept no longer than the posts."""
    async with store.engine.begin() as conn:
        ids = await _oldest(conn, rank_sessions, before, limit)
        if ids:
            items = rank_session_items.c.session_id
            await conn.execute(delete(rank_session_items).where(items.in_(ids)))
            await conn.execute(delete(rank_sessions).where(rank_sessions.c.id.in_(ids)))
        return len(ids)


async def _oldest(conn: AsyncConnection, table: Table, before: datetime, limit: int) -> list[str]:
    """The ids of up to `limit` of `table`'s oldest rows created before `before`."""
    query = (
        select(table.c.id)
        .where(table.c.created_at < before)
        .order_by(table.c.created_at, table.c.id)
        .limit(limit)
    )
    return [row[0] for row in await conn.execute(query)]


async def _delete(conn: AsyncConnection, ids: list[str]) -> list[str]:
    for table, post_id in CHILDREN:
        await conn.execute(delete(table).where(post_id.in_(ids)))
    # A copy of an erased post is the first of its group now.
    await conn.execute(update(posts).where(posts.c.duplicate_of.in_(ids)).values(duplicate_of=None))
    result = await conn.execute(delete(posts).where(posts.c.id.in_(ids)).returning(posts.c.id))
    return [row[0] for row in result]


async def _drop_empty_rollups(conn: AsyncConnection, minutes: set[int]) -> None:
    """Rollup rows an erasure brought to zero posts: gone, not left as zeros."""
    if not minutes:
        return
    for table, size in GRAINS.values():
        touched = sorted({minute // size for minute in minutes})
        await conn.execute(delete(table).where(table.c.bucket.in_(touched), table.c.count <= 0))


async def _mark_datasets(conn: AsyncConnection, ids: list[str]) -> int:
    """Mark the snapshots whose files hold any of these posts: those of every post written
    after one of them was stored, and those of corrections that include one of them."""
    first_stored = await conn.scalar(
        select(posts.c.ingested_at).where(posts.c.id.in_(ids)).order_by(posts.c.ingested_at)
    )
    corrected = (
        select(corrections.c.id)
        .where(corrections.c.post_id.in_(ids), corrections.c.id <= datasets.c.corrections_upto)
        .exists()
    )
    holds = [and_(datasets.c.scope == "corrections", corrected)]
    if first_stored is not None:
        holds.append(and_(datasets.c.scope == "all", datasets.c.created_at >= first_stored))
    result = await conn.execute(
        update(datasets)
        .where(datasets.c.erased_at.is_(None), or_(*holds))
        .values(erased_at=datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)
