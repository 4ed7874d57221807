"""The worker's batch write on PostgreSQL (the bulk path) and SQLite: same results, and a
re-delivered or overlapping batch neither duplicates posts nor double-counts rollups."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.analyze.reload import ReloadingAnalyzer
from sentiflow.models import Analysis, PostIn
from sentiflow.settings import Settings
from sentiflow.store import post_stats, stats
from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter, get_post, list_posts
from sentiflow.store.schema import analyses, posts, rollups
from sentiflow.store.write import save_batch
from sentiflow.store.write.postgres import add_rollups, insert_rows
from tests.conftest import wait_for

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
    assert sorted(p.id for p, _ in new.fresh) == sorted(p.id for p in first)

    again = await save_batch(store, first, analyzer.analyze([p.text for p in first]))
    assert (again.fresh, again.sums) == ([], {})
    overlap = batch(200, 200) + batch(250, 10)  # 100 seen, 100 new, 10 repeats in the batch
    new = await save_batch(store, overlap, analyzer.analyze([p.text for p in overlap]))
    assert sorted(p.id for p, _ in new.fresh) == sorted(p.id for p in batch(300, 100))
    assert sum(count for count, _, _ in new.sums.values()) == 100

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


async def test_batch_racing_another_workers_commit_is_stored_once(pg_url: str) -> None:
    """A re-delivered batch whose posts another worker is committing: the COPY waits on their
    keys, fails on the primary key, and the batch is written again through ON CONFLICT, each
    post once."""
    store = await migrated(Settings(database_url=pg_url))
    analyzer = LexiconAnalyzer()
    posts_ = batch(0, 20)
    results = analyzer.analyze([p.text for p in posts_])
    try:
        # Another worker's transaction holds the first ten, uncommitted: the COPY of all
        # twenty waits on their keys, then fails when that transaction commits.
        other = await store.engine.connect()
        transaction = await other.begin()
        await save_batch_in(other, posts_[:10], results[:10])
        racing = asyncio.create_task(save_batch(store, posts_, results))
        await wait_for(lambda: waiting_on_a_lock(store))
        await transaction.commit()
        await other.close()
        new = await racing
        assert sorted(p.id for p, _ in new.fresh) == sorted(p.id for p in posts_[10:])
        n_posts, n_analyses, counted, _ = await counts(store)
        assert (n_posts, n_analyses, counted) == (20, 20, 20)
    finally:
        await store.close()


async def save_batch_in(
    conn: AsyncConnection, batch_: list[PostIn], results: list[Analysis]
) -> None:
    """What `save_batch` writes, inside a transaction the caller holds open."""
    rows = {p.id: (p, a) for p, a in zip(batch_, results, strict=True)}
    new = await insert_rows({}, conn, rows, datetime.now(UTC))
    await add_rollups(conn, [rows[pid] for pid in new])


async def waiting_on_a_lock(store: Store) -> bool:
    async with store.engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return bool((await conn.exec_driver_sql(query)).scalar_one())


async def test_post_ids_compare_bytewise_and_joins_use_the_indexes(pg_url: str) -> None:
    """Migration 0007: every post id column in collation "C", so one post's rows join through
    the primary keys (a join across two collations could not use them)."""
    store = await migrated(Settings(database_url=pg_url))
    try:
        async with store.engine.connect() as conn:
            found: dict[str, str | None] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT table_name || '.' || column_name, collation_name "
                            "FROM information_schema.columns WHERE table_schema = 'public' "
                            "AND column_name IN ('id', 'post_id') AND data_type = 'character varying'"
                        )
                    )
                ).all()
            )
            await conn.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                (
                    await conn.execute(
                        text(
                            "EXPLAIN SELECT * FROM posts JOIN labels ON labels.post_id = posts.id "
                            "WHERE posts.id = 'abc'"
                        )
                    )
                ).scalars()
            )
    finally:
        await store.close()
    columns = [
        "posts.id",
        "analyses.post_id",
        "urgent_posts.post_id",
        "corrections.post_id",
        "labels.post_id",
        "review_claims.post_id",
    ]
    assert {c: found.get(c) for c in columns} == dict.fromkeys(columns, "C")
    assert "posts_pkey" in plan and "labels_pkey" in plan, plan


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_each_posts_language_is_stored_on_every_write_path_and_filterable(
    dialect: str, pg_url: str, tmp_path: Path
) -> None:
    url = pg_url if dialect == "postgresql" else None
    settings = Settings(database_url=url, data_dir=tmp_path, analyzer="lexicon")
    store = await migrated(settings)
    analyzer = ReloadingAnalyzer("lexicon", settings)

    def post(key: str, text: str, lang: str | None = None, minute: int = 0) -> PostIn:
        return PostIn(
            source="s",
            external_id=key,
            text=text,
            lang=lang,
            created_at=T0 + timedelta(minutes=minute),
        )

    async def save(batch: list[PostIn]) -> int:
        labelled = analyzer.analyze([p.text for p in batch], [p.lang for p in batch])
        return len((await save_batch(store, batch, labelled)).fresh)

    first = [
        post("en", "What a wonderful morning, I love this new phone so much"),
        post("es", "Me encanta este producto, la batería dura muchísimo", minute=1),
        post("told", "Plain words whose language the sender knows", lang="it", minute=2),
        post("emoji", "😀😀", minute=3),
    ]
    try:
        # New posts: PostgreSQL's COPY.
        assert await save(first) == 4
        # One seen before: PostgreSQL falls back to INSERT … ON CONFLICT for the batch.
        assert (
            await save([first[0], post("fr", "Le service client ne répond jamais", minute=4)]) == 1
        )

        async def ids(lang: str) -> list[str]:
            page = await list_posts(store, PostFilter(lang=lang))
            return [p.external_id for p in page.items]

        assert await ids("es") == ["es"]
        assert await ids("fr") == ["fr"]
        assert await ids("it") == ["told"]
        assert await ids("") == ["emoji"]
        spanish = (await list_posts(store, PostFilter(lang="es"))).items[0]
        assert spanish.lang == "es"
        assert spanish.analysis is not None
        assert spanish.analysis.model_version.endswith("+unsupported-lang")

        window = stats.RollupFilter(since=T0, until=T0 + timedelta(hours=1), lang="es")
        assert (await post_stats.summary(store, window))["total"] == 1
        series = await post_stats.timeseries(store, window, bucket="minute", by="sentiment")
        totals = [p["total"] for p in series["points"]]
        assert len(totals) == 60 and totals[1] == 1 and sum(totals) == 1
    finally:
        await store.close()


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_migration_0015_keeps_stored_posts_with_an_unknown_language(
    dialect: str, pg_url: str, tmp_path: Path
) -> None:
    from alembic import command
    from alembic.config import Config

    from sentiflow.store.db import MIGRATIONS

    url = pg_url if dialect == "postgresql" else None
    store = Store.from_settings(Settings(database_url=url, data_dir=tmp_path))

    def to(revision: str, down: bool = False) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

        return run

    pid = "a" * 24
    row = {"id": pid, "source": "s", "external_id": "e", "text": "hola", "now": T0}
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(to("0014_lifecycle"))
            await conn.execute(
                text(
                    "INSERT INTO posts (id, source, external_id, text, created_at, meta, "
                    "ingested_at) VALUES (:id, :source, :external_id, :text, :now, '{}', :now)"
                ),
                row,
            )
            await conn.run_sync(to("head"))
        assert (stored := await get_post(store, pid)) is not None
        assert (stored.text, stored.lang) == ("hola", None)
        async with store.engine.begin() as conn:
            await conn.run_sync(to("0014_lifecycle", down=True))
            count = await conn.execute(text("SELECT count(*) FROM posts"))
            assert count.scalar_one() == 1
    finally:
        await store.close()
