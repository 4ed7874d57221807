"""Oracles: the stats questions answered straight from posts ⋈ analyses, as a system without
rollups computes them. `sentiflow bench analytics` times them beside the rollup path, and the
tests check that both give the same answers. Summary and distribution are the store's own
(`store/post_stats.py`), which answers a filter by language the same way."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import func, select

from sentiflow.store.db import Store
from sentiflow.store.post_stats import distribution, summary, where
from sentiflow.store.schema import analyses, posts
from sentiflow.store.stats import Grain, RollupFilter

__all__ = ["distribution", "summary", "timeseries"]


def _joined() -> Any:
    return posts.join(analyses, analyses.c.post_id == posts.c.id)


async def timeseries(
    store: Store, f: RollupFilter, *, bucket: Grain, by: Literal["sentiment", "emotion"]
) -> list[tuple[Any, ...]]:
    """Counts per (bucket start, label); only for timing, so the rows are returned raw."""
    if store.dialect == "postgresql":
        t: Any = func.date_trunc(bucket, posts.c.created_at)
    else:
        fmt = {"minute": "%Y-%m-%d %H:%M", "hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}[bucket]
        t = func.strftime(fmt, posts.c.created_at)
    label = analyses.c[by]
    stmt = (
        select(t, label, func.count(), func.sum(analyses.c.polarity))
        .select_from(_joined())
        .where(*where(f))
        .group_by(t, label)
        .order_by(t)
    )
    async with store.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(stmt)).all()]
