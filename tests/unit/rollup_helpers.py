"""Rollup cells as stored, and the same cells counted straight from posts ⋈ analyses, for
tests on either database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS

Cells = dict[tuple[int, str, str, str, str], tuple[int, float, float]]


def _cells(rows: Iterable[Any]) -> Cells:
    return {
        (int(r[0]), r[1], r[2], r[3], r[4]): (int(r[5]), round(r[6], 6), round(r[7], 6))
        for r in rows
    }


async def stored_cells(store: Store, table: str) -> Cells:
    sql = (
        "SELECT bucket, source, topic, sentiment, emotion, count, polarity_sum, confidence_sum "
        f"FROM {table}"
    )
    async with store.engine.connect() as conn:
        return _cells(await conn.execute(text(sql)))


async def counted_cells(store: Store, minutes: int) -> Cells:
    """GROUP BY (bucket of `minutes`, source, topic, sentiment, emotion) over the posts."""
    seconds = 60 * minutes
    if store.dialect == "postgresql":
        bucket = f"floor(extract(epoch FROM p.created_at) / {seconds})::bigint"
    else:
        # SQLite reads a time to the millisecond, rounding: xx:59.9996 would count in the next
        # minute (the store buckets by the microsecond), so the fraction is cut off first.
        bucket = f"CAST(strftime('%s', substr(p.created_at, 1, 19)) AS INTEGER) / {seconds}"
    sql = (
        f"SELECT {bucket} AS b, p.source, coalesce(p.topic, '') AS t, a.sentiment, a.emotion, "
        "count(*), sum(a.polarity), sum(a.sentiment_confidence) "
        "FROM posts p JOIN analyses a ON a.post_id = p.id "
        "GROUP BY b, p.source, t, a.sentiment, a.emotion"
    )
    async with store.engine.connect() as conn:
        return _cells(await conn.execute(text(sql)))


async def every_grain_counts_the_posts(store: Store) -> dict[str, Cells]:
    """Assert that each grain's stored rollup cells are the cells counted from the posts;
    returns the stored cells by table."""
    stored = {}
    for table, minutes in GRAINS.values():
        cells = await stored_cells(store, table.name)
        assert cells == await counted_cells(store, minutes), table.name
        stored[table.name] = cells
    return stored
