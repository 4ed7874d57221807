"""Erasure, retention, hashed authors and `db copy` on the embedded store (SQLite); the same
code runs on PostgreSQL in tests/connected/test_lifecycle_e2e.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, insert, select

from sentiflow.analytics.cache import MemoryCache
from sentiflow.errors import Conflict, ValidationFailed
from sentiflow.ingest.authors import author_hasher
from sentiflow.lifecycle import Eraser, erase_post, parse_age, purge
from sentiflow.settings import Settings
from sentiflow.store import corrections as correction_store
from sentiflow.store.copy import copy_store, counts
from sentiflow.store.db import Store, make_engine
from sentiflow.store.schema import analyses, corrections, datasets, labels, posts
from tests.conftest import app_client, wait_for
from tests.unit.feedback_helpers import analysis, seed
from tests.unit.rollup_helpers import every_grain_counts_the_posts, stored_cells

NEG = analysis("negative", (0.8, 0.1, 0.1), emotion="anger")
POS = analysis("positive", (0.1, 0.1, 0.8), emotion="joy")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = Store(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'life.db'}"))
    await db.migrate()
    yield db
    await db.close()


async def rows(store: Store, table: object) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_erasure_removes_everything_of_a_post_and_its_rollup_counts(store: Store) -> None:
    ids = await seed(store, [(f"text {i}", NEG if i % 2 else POS) for i in range(6)])
    await correction_store.apply(
        store,
        [ids[1]],
        correction_store.Change(sentiment="neutral", emotion=None, note=None, who="reviewer"),
    )
    snapshot = {
        "status": "ready", "trigger": "manual", "corrections_upto": 10, "rows": 6,
        "created_at": datetime.now(UTC),
    }  # fmt: skip
    async with store.engine.begin() as conn:
        await conn.execute(insert(datasets), [{**snapshot, "id": "d-all", "scope": "all"}])
        await conn.execute(
            insert(datasets),
            [{**snapshot, "id": "d-before", "scope": "all", "created_at": datetime(2000, 1, 1)}],
        )

    erased = await erase_post(Eraser(store, MemoryCache()), ids[1])

    assert erased.ids == [ids[1]]
    assert erased.datasets_marked == 1
    assert await rows(store, posts) == 5
    for table in (analyses, labels, corrections):
        async with store.engine.connect() as conn:
            left = await conn.scalar(
                select(func.count()).select_from(table).where(table.c.post_id == ids[1])
            )
        assert left == 0, table.name
    # With the corrected post gone, every grain counts exactly the posts left, no zero rows.
    await every_grain_counts_the_posts(store)
    async with store.engine.connect() as conn:
        marked = dict((await conn.execute(select(datasets.c.id, datasets.c.erased_at))).all())
    assert marked["d-all"] is not None
    assert marked["d-before"] is None


async def test_erasing_an_unknown_post_is_a_404(store: Store) -> None:
    from sentiflow.errors import NotFound

    with pytest.raises(NotFound):
        await erase_post(Eraser(store, MemoryCache()), "0" * 24)


async def test_purge_deletes_old_posts_in_batches_and_keeps_the_rollups(store: Store) -> None:
    ids = await seed(store, [(f"old {i}", NEG) for i in range(7)], source="old")
    recent = await seed(store, [(f"new {i}", POS) for i in range(3)], source="new")
    async with store.engine.begin() as conn:  # seeded in 2026-01: make the second lot recent
        await conn.execute(
            posts.update().where(posts.c.id.in_(recent)).values(created_at=datetime.now(UTC))
        )
    before = await stored_cells(store, "rollups_day")
    seen: list[int] = []

    done = await purge(store, timedelta(days=30), batch=3, progress=seen.append)

    assert done.posts == 7
    assert seen == [3, 3, 1]
    assert await rows(store, posts) == 3
    assert await rows(store, analyses) == 3
    assert await stored_cells(store, "rollups_day") == before
    async with store.engine.connect() as conn:
        assert set((await conn.scalars(select(posts.c.id))).all()) == set(recent)
    assert not set(ids) & set(recent)


async def test_ranking_feeds_lose_erased_posts_and_old_sessions(store: Store) -> None:
    from sentiflow.store.rank_sessions import RankSession, SessionItem, save_sessions
    from sentiflow.store.schema import rank_session_items, rank_sessions

    ids = await seed(store, [("gone soon", NEG), ("stays", POS)])
    now = datetime.now(UTC)

    def session(sid: str, at: datetime) -> RankSession:
        shown = [SessionItem(item_id=i, text="t", post_id=i) for i in ids]
        return RankSession(sid, "u1", "reddit", None, "calm", False, at, items=shown)

    await save_sessions(store, [session("old", now - timedelta(days=400)), session("new", now)])
    await erase_post(Eraser(store, MemoryCache()), ids[0])
    async with store.engine.connect() as conn:
        shown = (await conn.scalars(select(rank_session_items.c.post_id))).all()
    assert sorted(shown) == [ids[1], ids[1]]

    await purge(store, timedelta(days=365))
    async with store.engine.connect() as conn:
        assert (await conn.scalars(select(rank_sessions.c.id))).all() == ["new"]
    assert await rows(store, rank_session_items) == 1


@pytest.mark.parametrize("text", ["365d", "30d", "12h", "90m"])
def test_ages(text: str) -> None:
    assert parse_age(text) > timedelta(0)


@pytest.mark.parametrize("text", ["", "0d", "1y", "-3d", "12 h"])
def test_bad_ages_name_the_option(text: str) -> None:
    with pytest.raises(ValidationFailed, match="--older-than"):
        parse_age(text)


def test_hashed_authors_need_their_key() -> None:
    with pytest.raises(ValidationError, match="SENTIFLOW_AUTHOR_HASH_KEY"):
        Settings(hash_authors=True)


def test_the_author_hash_is_keyed_and_stable() -> None:
    one, other = author_hasher("k" * 32), author_hasher("z" * 32)
    assert one("alice") == one("alice") != one("bob")
    assert one("alice") != other("alice")
    assert "alice" not in one("alice")


async def test_hashed_authors_are_stored_hashed_and_can_be_erased(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        analyzer_processes=0,
        demo_rate=0,
        hash_authors=True,
        author_hash_key="s" * 40,
    )
    async with app_client(settings, worker=True) as api:
        body = [
            {"source": "s", "external_id": str(i), "text": f"hello {i}", "author": who}
            for i, who in enumerate(["alice", "alice", "bob"])
        ]
        assert (await api.post("/api/posts", json=body)).status_code == 202

        async def stored() -> bool:
            return len((await api.get("/api/posts")).json()["items"]) == 3

        await wait_for(stored, timeout=30)
        authors = [p["author"] for p in (await api.get("/api/posts")).json()["items"]]
        assert "alice" not in authors
        assert authors.count(author_hasher("s" * 40)("alice")) == 2

        erased = await api.delete("/api/authors/s/alice")
        assert erased.json()["erased"] == 2
        left = (await api.get("/api/posts")).json()["items"]
        assert [p["external_id"] for p in left] == ["2"]


async def test_db_copy_copies_every_table_and_refuses_a_full_target(
    store: Store, tmp_path: Path
) -> None:
    await seed(store, [(f"text {i}", NEG if i % 3 else POS) for i in range(9)])
    target = Store(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"))
    try:
        copied = await copy_store(store, target)
        assert copied.tables == await counts(store)
        assert copied.tables["posts"] == 9
        with pytest.raises(Conflict, match="--force"):
            await copy_store(store, target)
        again = await copy_store(store, target, replace=True)
        assert again.tables == copied.tables
    finally:
        await target.close()


async def test_retention_days_schedule_a_purge_in_the_workers(store: Store, tmp_path: Path) -> None:
    from sentiflow.jobs import RETENTION_S, build_scheduler
    from sentiflow.locks import MemoryLocks
    from sentiflow.queue.memory import MemoryBroker

    await seed(store, [(f"old {i}", NEG) for i in range(4)])  # created in January 2026
    settings = Settings(data_dir=tmp_path / "data", retention_days=30)
    scheduler = await build_scheduler(
        store=store, broker=MemoryBroker(), locks=MemoryLocks(), settings=settings
    )
    job = scheduler.jobs["retention"]
    assert job.interval_s == RETENTION_S
    await job.func()
    assert await rows(store, posts) == 0

    without = await build_scheduler(
        store=store,
        broker=MemoryBroker(),
        locks=MemoryLocks(),
        settings=Settings(data_dir=tmp_path / "data"),
    )
    assert "retention" not in without.jobs
