"""Pure parts of analytics: range planning over the rollup tables, spike detection, terms,
and the urgency ranking key."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sentiflow.analytics.alerts import detect
from sentiflow.analytics.trends import count, parse_window, ranked, terms
from sentiflow.bench import oracles
from sentiflow.errors import ValidationFailed
from sentiflow.store import stats
from sentiflow.store.rollups import GRAINS, minute_bucket
from sentiflow.store.stats import RollupFilter, plan
from sentiflow.store.urgency import base_score, rank_key, urgency


def covered(segments: Sequence[tuple[str, int, int]]) -> list[int]:
    minutes: list[int] = []
    for grain, first, end in segments:
        size = GRAINS[grain][1]
        minutes.extend(range(first * size, end * size))
    return sorted(minutes)


@pytest.mark.parametrize("coarsest", ["day", "hour", "minute"])
def test_plan_covers_each_minute_exactly_once(coarsest: str) -> None:
    rng = random.Random(7)
    for _ in range(200):
        lo = rng.randrange(0, 20_000)
        hi = lo + rng.randrange(0, 10_000)
        segments = plan(lo, hi, coarsest=coarsest)  # type: ignore[arg-type]
        assert covered(segments) == list(range(lo, hi))
        assert all(g in ("day", "hour", "minute")[("day", "hour", "minute").index(coarsest) :]
                   for g, _, _ in segments)  # fmt: skip


def test_plan_reads_few_buckets_over_a_month() -> None:
    lo = 28_000_000 + 17
    segments = plan(lo, lo + 30 * 1440 + 5)
    buckets = sum(end - first for _, first, end in segments)
    assert buckets < 30 + 2 * 24 + 2 * 60
    assert {g for g, _, _ in segments} == {"day", "hour", "minute"}


def steady(windows: int, posts: int, negative: int) -> list[tuple[str, str, int, int, int]]:
    return [("s", "billing", i, posts + (i % 3) - 1, negative + (i % 2)) for i in range(windows)]


def test_steady_stream_raises_nothing() -> None:
    counts = [*steady(12, 40, 8), ("s", "billing", 12, 41, 9)]
    assert detect(counts, windows=12, k=3, min_posts=20) == []


def test_negative_burst_raises_one_share_alert_with_volume_evidence() -> None:
    counts = [*steady(12, 40, 8), ("s", "billing", 12, 90, 60)]
    [spike] = detect(counts, windows=12, k=3, min_posts=20)
    assert spike.kind == "negative_share"
    assert spike.evidence["posts"] == 90
    assert spike.evidence["negative"] == 60
    assert len(spike.evidence["baseline"]) == 12
    assert spike.value > spike.mean + 3 * max(spike.std, 0.05)


def test_volume_burst_of_ordinary_posts_raises_a_volume_alert() -> None:
    counts = [*steady(12, 40, 8), ("s", "billing", 12, 120, 24)]
    [spike] = detect(counts, windows=12, k=3, min_posts=20)
    assert spike.kind == "volume"
    assert spike.value == 120


def test_small_windows_raise_nothing() -> None:
    counts = [("s", "t", 12, 10, 10)]
    assert detect(counts, windows=12, k=3, min_posts=20) == []


def test_terms_find_words_hashtags_and_mentions() -> None:
    found = set(terms("The refund is LATE again #Refund @AcmeSupport it's the worst"))
    assert ("#refund", "hashtag") in found
    assert ("@acmesupport", "mention") in found
    assert ("refund", "word") in found
    assert ("worst", "word") in found
    assert ("the", "word") not in found


def test_terms_skip_stop_words_of_the_language_fragments_and_placeholders() -> None:
    words = {
        t
        for t, kind in terms("[NAME] said that's why I don't trust [NAME] at all, don t")
        if kind == "word"
    }
    assert words == {"trust"}
    assert {t for t, _ in terms("Qué desastre de servicio, muy decepcionante", "es")} == {
        "desastre",
        "servicio",
        "decepcionante",
    }
    assert "sind" not in {t for t, _ in terms("Die Preise sind schrecklich", "de")}
    assert {t for t, _ in terms("The company's refund", "xx")} == {"company", "refund"}


def test_case_and_simple_plurals_merge() -> None:
    from collections import Counter

    counter: Counter[tuple[str, str]] = Counter()
    count(
        [
            ("Refund please", "negative", "en"),
            ("REFUNDS are late", "negative", None),
            ("batteries and a battery", "negative", "en"),
            ("dead battery", "negative", "en"),
            ("the news", "negative", "en"),
        ],
        {"negative": counter},
    )
    out = {r["term"]: r["count"] for r in ranked(counter, Counter(), top=10)}
    assert out["refund"] == 2 and "refunds" not in out
    assert out["battery"] == 2 and "batteries" not in out
    assert out["news"] == 1


def test_ranked_reports_change_against_previous_window() -> None:
    from collections import Counter

    current = Counter({("late", "word"): 10, ("#fail", "hashtag"): 4})
    previous = Counter({("late", "word"): 5})
    out = ranked(current, previous, top=5)
    assert out[0] == {"term": "late", "kind": "word", "count": 10, "previous": 5, "change": 1.0}
    assert out[1]["previous"] == 0 and out[1]["change"] == 4.0


@pytest.mark.parametrize("bad", ["", "1x", "0m", "31d", "h1", "-5m"])
def test_bad_windows_are_rejected(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_window(bad)


def test_windows_parse() -> None:
    assert parse_window("15m") == timedelta(minutes=15)
    assert parse_window("7d") == timedelta(days=7)


def test_rank_key_orders_by_urgency_at_any_moment() -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    posts = [
        (base_score(0.9, "anger", {"followers": 50_000}), now - timedelta(hours=10)),
        (base_score(0.6, "sadness", {}), now - timedelta(minutes=5)),
        (base_score(0.95, "fear", {"reach": 10}), now - timedelta(hours=2)),
        (base_score(0.7, "disgust", {"score": 3}), now - timedelta(hours=30)),
    ]
    keys = [rank_key(base, created) for base, created in posts]
    for later in (now, now + timedelta(hours=5), now + timedelta(days=3)):
        scores = [urgency(k, later) for k in keys]
        assert sorted(range(4), key=lambda i: keys[i]) == sorted(range(4), key=lambda i: scores[i])
    # Same age: anger/fear and reach raise the score.
    assert base_score(0.8, "anger", {}) > base_score(0.8, "sadness", {})
    assert base_score(0.8, "sadness", {"followers": 1000}) > base_score(0.8, "sadness", {})
    # Recency: six hours halve it.
    key = rank_key(1.0, now)
    assert urgency(key, now + timedelta(hours=6)) == pytest.approx(urgency(key, now) / 2)


async def test_seed_on_sqlite_matches_a_group_by(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from sentiflow.analytics.seed import seed
    from sentiflow.store.db import Store, make_engine
    from sentiflow.store.schema import analyses, urgent_posts
    from tests.unit.rollup_helpers import every_grain_counts_the_posts

    store = Store(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'seed.db'}"))

    async def indexes() -> list[tuple[str, str]]:
        async with store.engine.connect() as conn:
            rows = await conn.exec_driver_sql("SELECT name, sql FROM sqlite_master ORDER BY name")
            return [tuple(r) for r in rows]

    try:
        await store.migrate()
        before = await indexes()
        seen: list[int] = []
        stages: list[str] = []
        written = await seed(
            store, posts=3_000, days=2, chunk=1_000, seed_value=3,
            progress=seen.append, stage=stages.append,
        )  # fmt: skip
        assert written == 3_000
        assert seen == [1_000, 1_000, 1_000]
        assert stages == ["building indexes"]
        # Into tables that hold posts: chunks of a few minutes each, all in the hour and day
        # buckets the first seed ended in, so every grain adds to cells already there.
        assert await seed(store, posts=2_000, days=0.01, chunk=300, seed_value=4) == 2_000
        assert await indexes() == before
        for cells in (await every_grain_counts_the_posts(store)).values():
            assert sum(n for n, _, _ in cells.values()) == 5_000
        f = RollupFilter()
        # Both count "the last hour" from the clock, so compare answers from one minute.
        while True:
            minute = minute_bucket(datetime.now(UTC))
            rolled, plain = await stats.summary(store, f), await oracles.summary(store, f)
            if minute_bucket(datetime.now(UTC)) == minute:
                break
        assert rolled == plain
        async with store.engine.connect() as conn:
            negative = (
                await conn.execute(
                    select(func.count())
                    .select_from(analyses)
                    .where(analyses.c.sentiment == "negative")
                )
            ).scalar_one()
            urgent = (
                await conn.execute(select(func.count()).select_from(urgent_posts))
            ).scalar_one()
        assert urgent == negative > 0
    finally:
        await store.close()


async def test_posts_in_a_minutes_last_millisecond_count_in_that_minute(tmp_path: Path) -> None:
    from sentiflow.analytics.seed import seed
    from sentiflow.store.db import Store, make_engine
    from tests.unit.rollup_helpers import every_grain_counts_the_posts

    store = Store(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'edge.db'}"))
    end = datetime(2026, 12, 7, 10, 1, tzinfo=UTC)
    try:
        await store.migrate()
        # Every post in the last 0.4 ms before 10:01, which SQLite alone would round up.
        await seed(store, posts=20, days=0.0004 / 86_400, chunk=20, seed_value=5, now=end)
        stored = await every_grain_counts_the_posts(store)
        buckets = {bucket for bucket, *_ in stored["rollups"]}
        assert buckets == {minute_bucket(end) - 1}
    finally:
        await store.close()


async def test_migration_folds_existing_rollups_and_urgent_posts(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import func, select
    from sqlalchemy.engine import Connection

    from sentiflow.models import Analysis, PostIn
    from sentiflow.store.db import MIGRATIONS, Store, make_engine
    from sentiflow.store.rollups import rollup_sums, rollup_upsert
    from sentiflow.store.schema import (
        analyses,
        posts,
        rollups,
        rollups_day,
        rollups_hour,
        urgent_posts,
    )

    store = Store(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"))
    KEYS = ("bucket", "source", "topic", "sentiment", "emotion", "count", "polarity_sum",
            "confidence_sum")  # fmt: skip

    def upgrade(to: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, to)

        return run

    now = datetime.now(UTC)
    items = [
        (
            PostIn(
                source="s",
                external_id=str(i),
                text=f"t{i}",
                created_at=now - timedelta(hours=7 * i),
            ),
            Analysis(
                sentiment="negative" if i % 2 else "positive",
                sentiment_confidence=0.9,
                sentiment_probs={},
                polarity=-0.5 if i % 2 else 0.5,
                emotion="anger" if i % 2 else "joy",
                emotion_confidence=0.8,
                emotion_probs={},
                model_version="t",
            ),
        )
        for i in range(10)
    ]
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(upgrade("0001"))
            for p, a in items:
                await conn.execute(
                    posts.insert().values(
                        id=p.id, source=p.source, external_id=p.dedup_key[1], text=p.text,
                        created_at=p.created_at, topic=None, meta={}, ingested_at=now,
                    )
                )  # fmt: skip
                await conn.execute(
                    analyses.insert().values(
                        post_id=p.id, sentiment=a.sentiment, sentiment_confidence=0.9,
                        sentiment_probs={}, polarity=a.polarity, emotion=a.emotion,
                        emotion_confidence=0.8, emotion_probs={}, model_version="t",
                        analyzed_at=now,
                    )
                )  # fmt: skip
            # The 0001 worker wrote minute rollups only.
            await conn.execute(
                rollup_upsert(store, rollups),
                [
                    dict(zip(KEYS, (*k, int(v[0]), v[1], v[2]), strict=True))
                    for k, v in rollup_sums(items).items()
                ],
            )
        async with store.engine.begin() as conn:
            await conn.run_sync(upgrade("heads"))
        async with store.engine.connect() as conn:
            for table in (rollups, rollups_hour, rollups_day):
                total = (await conn.execute(select(func.sum(table.c.count)))).scalar_one()
                assert total == 10, table.name
            urgent = (await conn.execute(select(urgent_posts.c.post_id))).scalars().all()
        assert sorted(urgent) == sorted(p.id for p, a in items if a.sentiment == "negative")
    finally:
        await store.close()
