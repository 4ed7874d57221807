"""What every writer shares: the result of a write (`Written`), the rows it takes, and the
column values of a post and of its analysis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.models import Analysis, PostIn
from sentiflow.store.db import Store
from sentiflow.store.rollups import Sums

# The batch by post id, each post once with its analysis.
Rows = dict[str, tuple[PostIn, Analysis]]
# Post id → the earlier post it nearly copies, for the copies among them.
Copies = Mapping[str, str]
# Insert the rows a store does not hold yet; the ids inserted.
Insert = Callable[[AsyncConnection, Rows, datetime], Awaitable[list[str]]]
# Count newly stored posts in the rollups; their minute increments.
AddRollups = Callable[[AsyncConnection, list[tuple[PostIn, Analysis]]], Awaitable[Sums]]


@dataclass(slots=True)
class Written:
    """What a batch write stored: the (post, analysis) pairs new to the store, each post once,
    and their minute rollup increments, key -> [count, polarity sum, confidence sum]."""

    fresh: list[tuple[PostIn, Analysis]]
    sums: Sums

    def add(self, other: Written) -> None:
        self.fresh += other.fresh
        for key, (count, polarity, confidence) in other.sums.items():
            acc = self.sums.setdefault(key, [0, 0.0, 0.0])
            acc[0] += count
            acc[1] += polarity
            acc[2] += confidence


async def write_with(store: Store, rows: Rows, insert: Insert, add_rollups: AddRollups) -> Written:
    """One transaction: `insert` the posts new to the store, then count those in the rollups."""
    async with store.engine.begin() as conn:
        fresh = [rows[pid] for pid in await insert(conn, rows, datetime.now(UTC))]
        sums = await add_rollups(conn, fresh) if fresh else {}
    return Written(fresh, sums)


def lang_of(post: PostIn, analysis: Analysis) -> str | None:
    """The language stored with a post: the one it was sent with, else the one identified
    when it was analysed."""
    return post.lang or analysis.lang


def post_row(
    pid: str, post: PostIn, analysis: Analysis, now: datetime, copies: Copies
) -> dict[str, Any]:
    return {
        "id": pid,
        "source": post.source,
        "external_id": post.dedup_key[1],
        "text": post.text,
        "author": post.author,
        "created_at": post.created_at,
        "url": post.url,
        "topic": post.topic,
        "meta": post.meta,
        "ingested_at": now,
        "duplicate_of": copies.get(pid),
        "lang": lang_of(post, analysis),
    }


def analysis_row(pid: str, a: Analysis) -> dict[str, Any]:
    return {
        "post_id": pid,
        "sentiment": a.sentiment,
        "sentiment_confidence": a.sentiment_confidence,
        "sentiment_probs": a.sentiment_probs,
        "polarity": a.polarity,
        "emotion": a.emotion,
        "emotion_confidence": a.emotion_confidence,
        "emotion_probs": a.emotion_probs,
        "model_version": a.model_version,
        "analyzed_at": a.analyzed_at,
    }
