"""The worker's batch write on PostgreSQL (the bulk path) and SQLite: same results, and a
re-delivered or overlapping batch neither duplicates posts nor double-counts rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.models import PostIn
from sentiflow.settings import Settings
from sentiflow.store import stats
from sentiflow.store.db import Store
from sentiflow.store.posts import get_post, save_batch
from sentiflow.store.schema import analyses, posts, rollups

pytestmark = pytest.mark.connected

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def batch(start: int, n: int) -> list[PostIn]:
    return [
        PostIn(
            source="s" if i % 3 else "r",
            external_id=f"e{i}",
            text=f"post {i}: {'great fun' if i % 2 else 'awful, I hate it'}",
            topic=None if i % 4 else "t",
            author="a" if i % 5 == 0 else None,
            meta={"i": i, "naïve": "✓"},
            created_at=T0 + timedelta(seconds=37 * i),
        )
        for i in range(start, start + n)
    ]


async def migrated(settings: Settings) -> Store:
    store = Store.from_settings(settings)
    await store.migrate()
    return store


async def counts(store: Store) -> tuple[int, int, int, float]:
    async with store.engine.connect() as conn:
        n_posts = (await conn.execute(select(func.count()).select_from(posts))).scalar_one()
        n_analyses = (await conn.execute(select(func.count()).select_from(analyses))).scalar_one()
        total, pol = (
            await conn.execute(select(func.sum(rollups.c.count), func.sum(rollups.c.polarity_sum)))
        ).one()
    return n_posts, n_analyses, int(total or 0), round(float(pol or 0), 6)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_redelivered_and_overlapping_batches_count_once(
    dialect: str, pg_url: str, tmp_path: Path
) -> None:
    url = pg_url if dialect == "postgresql" else None
    store = await migrated(Settings(database_url=url, data_dir=tmp_path))
    try:
        assert store.dialect == dialect
        await check_idempotent_writes(store)
    finally:
        await store.close()


async def check_idempotent_writes(store: Store) -> None:
    analyzer = LexiconAnalyzer()
    first = batch(0, 300)
    new = await save_batch(store, first, analyzer.analyze([p.text for p in first]))
    assert sorted(new) == sorted(p.id for p in first)

    assert await save_batch(store, first, analyzer.analyze([p.text for p in first])) == []
    overlap = batch(200, 200) + batch(250, 10)  # 100 seen, 100 new, 10 repeats in the batch
    new = await save_batch(store, overlap, analyzer.analyze([p.text for p in overlap]))
    assert sorted(new) == sorted(p.id for p in batch(300, 100))

    everything = batch(0, 400)
    expected_polarity = round(
        sum(a.polarity for a in analyzer.analyze([p.text for p in everything])), 6
    )
    assert await counts(store) == (400, 400, 400, expected_polarity)
    summary = await stats.summary(store, stats.RollupFilter())
    assert summary["total"] == 400
    only_t = await stats.summary(store, stats.RollupFilter(topic="t"))
    assert only_t["total"] == len([p for p in everything if p.topic == "t"])

    stored = await get_post(store, everything[5].id)
    assert stored is not None
    assert stored.meta == {"i": 5, "naïve": "✓"}
    assert stored.author == "a"
    assert stored.created_at == everything[5].created_at
    assert stored.analysis is not None
    assert (
        stored.analysis.sentiment_probs == analyzer.analyze([everything[5].text])[0].sentiment_probs
    )
