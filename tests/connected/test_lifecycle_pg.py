"""Erasure and retention on PostgreSQL, where analyses and urgent rows have no foreign key
(the COPY path's cost) and a trigger of migration 0014 takes them with a deleted post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from sentiflow.analytics.cache import MemoryCache
from sentiflow.lifecycle import Eraser, erase_post, purge
from sentiflow.store import corrections as correction_store
from sentiflow.store.db import Store, make_engine
from tests.unit.feedback_helpers import analysis, seed
from tests.unit.rollup_helpers import every_grain_counts_the_posts, stored_cells

pytestmark = pytest.mark.connected
NEG = analysis("negative", (0.8, 0.1, 0.1), emotion="anger")
POS = analysis("positive", (0.1, 0.1, 0.8), emotion="joy")


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    db = Store(make_engine(pg_url))
    await db.migrate()
    yield db
    await db.close()


async def left_of(store: Store, ids: list[str]) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {
            table: int(
                await conn.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE post_id = ANY(:ids)"), {"ids": ids}
                )
                or 0
            )
            for table in ("analyses", "urgent_posts", "labels", "corrections")
        }


async def test_a_hand_written_delete_leaves_no_orphans(store: Store) -> None:
    ids = await seed(store, [(f"text {i}", NEG) for i in range(5)])
    await correction_store.apply(
        store,
        ids[:2],
        correction_store.Change(sentiment="neutral", emotion=None, note=None, who="r"),
    )
    assert (await left_of(store, ids))["urgent_posts"] == 3
    async with store.engine.begin() as conn:
        await conn.execute(text("DELETE FROM posts WHERE id = ANY(:ids)"), {"ids": ids[:4]})
    left = await left_of(store, ids[:4])
    assert left == {"analyses": 0, "urgent_posts": 0, "labels": 0, "corrections": 0}
    assert (await left_of(store, ids[4:]))["analyses"] == 1


async def test_erasure_and_purge_on_postgresql(store: Store) -> None:
    ids = await seed(store, [(f"text {i}", NEG if i % 2 else POS) for i in range(8)])
    erased = await erase_post(Eraser(store, MemoryCache()), ids[3])
    assert erased.ids == [ids[3]]
    await every_grain_counts_the_posts(store)
    before = await stored_cells(store, "rollups_day")
    done = await purge(store, timedelta(days=30), batch=3)  # seeded in January 2026
    assert done.posts == 7
    assert await left_of(store, ids) == {
        "analyses": 0,
        "urgent_posts": 0,
        "labels": 0,
        "corrections": 0,
    }
    assert await stored_cells(store, "rollups_day") == before
