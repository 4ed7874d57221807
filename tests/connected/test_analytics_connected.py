"""Analytics against the real PostgreSQL and Redis: single-flight across two API processes'
worth of clients, invalidation by batch events, rollups under re-delivery, spike alerts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from sentiflow.analytics.alerts import evaluate_alerts
from sentiflow.analytics.cache import Cache
from sentiflow.analytics.cache.redis import RedisCache
from sentiflow.analytics.service import Analytics, follow_batches
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.connections import RedisConnection
from sentiflow.events import MemoryEventBus
from sentiflow.keys import Keys
from sentiflow.locks import Locks
from sentiflow.locks.redis import RedisLocks
from sentiflow.models import Analysis, PostIn
from sentiflow.queue.memory import MemoryBroker
from sentiflow.settings import Settings
from sentiflow.store.alerts import list_alerts
from sentiflow.store.db import Store
from sentiflow.store.schema import (
    alerts,
    analyses,
    posts,
    rollups,
    rollups_day,
    rollups_hour,
    urgent_posts,
)
from sentiflow.store.stats import RollupFilter
from sentiflow.store.write import save_batch
from sentiflow.worker import Worker
from tests.conftest import redis_at, wait_for
from tests.unit.test_cache import (  # the same contract, on Redis
    test_concurrent_misses_compute_once,
    test_failed_computation_lets_the_next_caller_retry,
    test_invalidation_drops_only_touched_scopes,
    test_result_computed_before_an_invalidation_is_not_stored,
    test_unknown_change_drops_every_scoped_entry,
    test_values_expire,
)

pytestmark = pytest.mark.connected

__all__ = [
    "test_concurrent_misses_compute_once",
    "test_failed_computation_lets_the_next_caller_retry",
    "test_invalidation_drops_only_touched_scopes",
    "test_result_computed_before_an_invalidation_is_not_stored",
    "test_unknown_change_drops_every_scoped_entry",
    "test_values_expire",
]


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
def cache(redis_connection: RedisConnection, keys: Keys) -> Cache:
    return RedisCache(redis_connection, keys)


@pytest.fixture
def locks(redis_connection: RedisConnection) -> Locks:
    return RedisLocks(redis_connection)


@pytest.fixture
async def store(connected_settings: Settings) -> AsyncIterator[Store]:
    pg = Store.from_settings(connected_settings)
    await pg.migrate()
    yield pg
    await pg.close()


def analysis(sentiment: str, emotion: str, *, polarity: float | None = None) -> Analysis:
    sign = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}[sentiment]
    return Analysis(
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_confidence=0.8,
        sentiment_probs={sentiment: 0.8},
        polarity=sign * 0.6 if polarity is None else polarity,
        emotion=emotion,  # type: ignore[arg-type]
        emotion_confidence=0.7,
        emotion_probs={emotion: 0.7},
        model_version="test",
    )


def post(i: int, *, source: str, topic: str | None, created: datetime, tag: str = "") -> PostIn:
    return PostIn(
        source=source,
        external_id=f"{tag}{i}",
        text=f"post {tag}{i}",
        topic=topic,
        created_at=created,
    )


async def test_hundred_concurrent_cold_requests_compute_once(
    connected_settings: Settings, store: Store
) -> None:
    now = datetime.now(UTC)
    batch = [
        post(i, source="tw", topic="billing", created=now - timedelta(minutes=i)) for i in range(50)
    ]
    await save_batch(store, batch, [analysis("negative", "anger")] * 50)
    # Two API processes' worth of services, each with its own Redis connection pool.
    connections = [redis_at(), redis_at()]
    keys = Keys(connected_settings.redis_prefix)
    services = [
        Analytics(store, RedisCache(c, keys), RedisLocks(c), keys, connected_settings.cache)
        for c in connections
    ]
    slow_store_calls = 0
    real_summary = __import__("sentiflow.store.stats", fromlist=["summary"]).summary

    async def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal slow_store_calls
        slow_store_calls += 1
        await asyncio.sleep(0.2)  # a query long enough for every request to arrive meanwhile
        result: dict[str, Any] = await real_summary(*args, **kwargs)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sentiflow.store.stats.summary", counted)
        f = RollupFilter(source="tw")
        answers = await asyncio.gather(*(services[i % 2].summary(f) for i in range(100)))
    assert slow_store_calls == 1
    assert sum(s.computations["summary"] for s in services) == 1
    assert {orjson.loads(a)["total"] for a in answers} == {50}
    for connection in connections:
        await connection.close()


async def test_batch_event_invalidates_only_affected_keys(
    connected_settings: Settings, store: Store, cache: Cache, locks: Locks, keys: Keys
) -> None:
    broker = MemoryBroker()
    events = MemoryEventBus()
    service = Analytics(store, cache, locks, keys, connected_settings.cache)
    pool = AnalyzerPool(connected_settings, processes=0)
    worker = Worker(broker=broker, store=store, pool=pool, events=events, block_ms=50)
    stop = asyncio.Event()
    follower = asyncio.create_task(follow_batches(cache, events, stop))
    await asyncio.sleep(0)
    try:
        now = datetime.now(UTC)
        await broker.publish(
            [post(i, source="tw", topic="billing", created=now, tag="a") for i in range(5)]
            + [post(i, source="rd", topic="app", created=now, tag="b") for i in range(3)]
        )
        await worker.process_batch()
        tw = RollupFilter(source="tw")
        rd = RollupFilter(source="rd")
        old = RollupFilter(since=now - timedelta(days=3), until=now - timedelta(days=2))
        assert orjson.loads(await service.summary(tw))["total"] == 5
        assert orjson.loads(await service.summary(rd))["total"] == 3
        assert orjson.loads(await service.summary(old))["total"] == 0
        assert service.computations["summary"] == 3

        await broker.publish(
            [post(i, source="tw", topic="billing", created=now, tag="c") for i in range(4)]
        )
        await worker.process_batch()

        async def reflected() -> bool:
            return bool(orjson.loads(await service.summary(tw))["total"] == 9)

        await wait_for(reflected)
        computed = service.computations["summary"]
        assert orjson.loads(await service.summary(rd))["total"] == 3
        assert orjson.loads(await service.summary(old))["total"] == 0
        # The rd and old answers came from the cache: the tw batch did not touch them.
        assert service.computations["summary"] == computed
    finally:
        stop.set()
        await follower
        pool.close()


async def _sums(store: Store, table: Any) -> dict[tuple[str, str, str, str], tuple[int, float]]:
    stmt = select(
        table.c.source, table.c.topic, table.c.sentiment, table.c.emotion,
        func.sum(table.c.count), func.sum(table.c.polarity_sum),
    ).group_by(table.c.source, table.c.topic, table.c.sentiment, table.c.emotion)  # fmt: skip
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {(r[0], r[1], r[2], r[3]): (int(r[4]), round(float(r[5]), 6)) for r in rows}


async def test_rollups_equal_group_by_after_redelivered_batches(
    connected_settings: Settings, store: Store
) -> None:
    broker = MemoryBroker()
    pool = AnalyzerPool(connected_settings, processes=0)
    worker = Worker(broker=broker, store=store, pool=pool, batch_size=40, block_ms=50)
    now = datetime.now(UTC)
    texts = ["I hate this so much", "love it, great", "it is a table", "so scared and afraid"]
    batch = [
        PostIn(
            source=("tw", "rd")[i % 2],
            external_id=f"r{i}",
            text=f"{texts[i % 4]} {i}",
            topic=(None, "billing", "app")[i % 3],
            created_at=now - timedelta(minutes=37 * i),
        )
        for i in range(120)
    ]
    try:
        await broker.publish(batch)
        # Re-delivery: the broker hands out posts already committed (overlapping batches).
        await broker.publish(batch[:60])
        await broker.publish(batch[30:90])
        while await broker.backlog():
            await worker.process_batch()
        # A worker that crashed after commit and before ack: the same batch committed twice.
        results = await pool.analyze([p.text for p in batch[:40]])
        assert (await save_batch(store, batch[:40], results)).fresh == []
    finally:
        pool.close()
    joined = posts.join(analyses, analyses.c.post_id == posts.c.id)
    topic = func.coalesce(posts.c.topic, "")
    stmt = (
        select(posts.c.source, topic, analyses.c.sentiment, analyses.c.emotion,
               func.count(), func.sum(analyses.c.polarity))
        .select_from(joined)
        .group_by(posts.c.source, topic, analyses.c.sentiment, analyses.c.emotion)
    )  # fmt: skip
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
        negative = (
            await conn.execute(
                select(func.count()).select_from(joined).where(analyses.c.sentiment == "negative")
            )
        ).scalar_one()
        urgent = (await conn.execute(select(func.count()).select_from(urgent_posts))).scalar_one()
    expected = {(r[0], r[1], r[2], r[3]): (int(r[4]), round(float(r[5]), 6)) for r in rows}
    assert sum(n for n, _ in expected.values()) == 120
    for table in (rollups, rollups_hour, rollups_day):
        assert await _sums(store, table) == expected, table.name
    assert urgent == negative > 0


def alert_settings(base: Settings, **extra: Any) -> Settings:
    return base.model_copy(
        update={"alert_window_s": 300, "alert_baseline_windows": 12, "alert_k": 3.0,
                "alert_min_posts": 20, **extra}
    )  # fmt: skip


async def stream(
    store: Store,
    *,
    now: datetime,
    windows: int,
    per_window: int,
    negative: int,
    topic: str,
    tag: str,
) -> None:
    """`per_window` posts in each 5-minute window before `now`, `negative` of them negative."""
    batch, results = [], []
    for w in range(windows):
        start = now - timedelta(minutes=5 * (windows - w))
        for i in range(per_window):
            batch.append(
                post(
                    w * 1000 + i,
                    source="tw",
                    topic=topic,
                    created=start + timedelta(seconds=9 * i),
                    tag=tag,
                )
            )
            neg = i < negative + (w % 2)
            results.append(analysis("negative", "anger") if neg else analysis("positive", "joy"))
    await save_batch(store, batch, results)


class Webhook:
    """A local HTTP endpoint that answers 500 to its first request and 200 after."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        body = await reader.readexactly(length)
        self.attempts += 1
        status = b"500 Internal Server Error" if self.attempts == 1 else b"200 OK"
        if self.attempts > 1:
            self.bodies.append(orjson.loads(body))
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_negative_burst_raises_exactly_one_alert(
    connected_settings: Settings, store: Store
) -> None:
    hook = Webhook()
    server = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = alert_settings(connected_settings, alert_webhook_url=f"http://127.0.0.1:{port}/hook")
    bus = MemoryEventBus()
    events = bus.subscribe()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    try:
        await stream(
            store, now=now, windows=13, per_window=30, negative=6, topic="billing", tag="s"
        )
        await stream(store, now=now, windows=13, per_window=25, negative=5, topic="app", tag="q")
        # The burst: 40 more negative posts on billing in the latest window.
        burst = [
            post(
                i, source="tw", topic="billing", created=now - timedelta(seconds=5 * i + 1), tag="x"
            )
            for i in range(40)
        ]
        await save_batch(store, burst, [analysis("negative", "anger")] * 40)

        raised = await evaluate_alerts(settings.alerts, store, bus, now=now)
        assert len(raised) == 1
        alert = raised[0]
        assert (alert["kind"], alert["source"], alert["topic"]) == (
            "negative_share",
            "tw",
            "billing",
        )
        assert alert["value"] > alert["baseline_mean"] + alert["k"] * alert["baseline_std"]
        assert alert["evidence"]["posts"] == 70 and alert["evidence"]["negative"] >= 46
        assert len(alert["evidence"]["baseline"]) == 12
        assert len(alert["evidence"]["sample_post_ids"]) == 5
        assert datetime.fromisoformat(alert["window_end"]) == now
        published = events.queue.get_nowait()
        assert published["type"] == "alert" and published["id"] == alert["id"]
        assert hook.attempts == 2 and hook.bodies[0]["id"] == alert["id"]

        # Evaluated again (another worker, or the next tick): stored once, announced once.
        assert await evaluate_alerts(settings.alerts, store, bus, now=now) == []
        async with store.engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(alerts))).scalar_one() == 1
        listed = orjson.loads(orjson.dumps(await list_alerts(store, RollupFilter(), limit=10)))
        assert [a["id"] for a in listed] == [alert["id"]]
    finally:
        server.close()
        await server.wait_closed()


async def test_steady_stream_raises_no_alert(connected_settings: Settings, store: Store) -> None:
    settings = alert_settings(connected_settings)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    await stream(store, now=now, windows=13, per_window=30, negative=6, topic="billing", tag="s")
    await stream(store, now=now, windows=13, per_window=25, negative=5, topic="app", tag="q")
    assert await evaluate_alerts(settings.alerts, store, MemoryEventBus(), now=now) == []


async def _keys(store: Store) -> set[tuple[str, str]]:
    """Every index and key of the database, with its definition."""
    async with store.engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "UNION SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace"
        )
        return {(row["indexname"], row["indexdef"]) for row in rows.mappings()}


async def test_seed_writes_consistent_rollups_and_keeps_indexes(store: Store) -> None:
    from sentiflow.analytics.seed import seed
    from tests.unit.rollup_helpers import every_grain_counts_the_posts

    before = await _keys(store)
    stages: list[str] = []
    # Into empty tables (keys built after the load); chunks end inside minutes, hours, days.
    assert (
        await seed(store, posts=7_000, days=3, chunk=2_000, seed_value=1, stage=stages.append)
        == 7_000
    )
    assert stages == ["building indexes"]
    # Into tables that hold posts: a second run adds to the cells the first one wrote.
    assert (
        await seed(store, posts=3_000, days=3, chunk=700, seed_value=2, stage=stages.append)
        == 3_000
    )
    assert stages == ["building indexes"]
    assert await _keys(store) == before
    for cells in (await every_grain_counts_the_posts(store)).values():
        assert sum(n for n, _, _ in cells.values()) == 10_000


async def test_failed_seed_into_empty_tables_leaves_them_as_they_were(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentiflow.analytics.seed import seed
    from sentiflow.store.seed import PgBulkWriter

    before = await _keys(store)
    write = PgBulkWriter.write
    calls = 0

    async def write_twice(self: PgBulkWriter, chunk: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk full")
        await write(self, chunk)

    monkeypatch.setattr(PgBulkWriter, "write", write_twice)
    with pytest.raises(RuntimeError, match="disk full"):
        await seed(store, posts=5_000, days=1, chunk=1_000, seed_value=5)
    assert await _keys(store) == before
    async with store.engine.connect() as conn:
        for table in ("posts", "analyses", "urgent_posts", "rollups", "rollups_hour"):
            assert (await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")).scalar_one() == 0
