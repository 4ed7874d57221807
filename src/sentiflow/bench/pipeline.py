"""`sentiflow bench pipeline`: distributed mode end to end. A producer feeds Redis through the
real ingest code, K worker processes analyse and commit to PostgreSQL; beside it, in the same
run, the analyzer alone on the same texts. Uses a scratch database and key prefix, dropped after.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from sentiflow.bench.embedded import analyzer_only, bench_texts
from sentiflow.errors import Backpressure, ConfigError
from sentiflow.ingest.service import submit
from sentiflow.processes import worker_process
from sentiflow.queue.redis import RedisStreamsBroker
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import posts as posts_table


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _scratch_database(url: str) -> tuple[str, str]:
    """Create an empty database beside the one `url` names: (its SQLAlchemy URL, its name)."""
    name = f"sentiflow_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


async def _drop_database(url: str, name: str) -> None:
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _stored(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(posts_table))).scalar_one())


async def _poll(check: Callable[[], Awaitable[bool]], *, every: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline bench made no progress for {timeout:.0f} s")
        await asyncio.sleep(every)


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


async def run_pipeline(
    settings: Settings, *, posts: int, workers: int, batch_size: int
) -> dict[str, Any]:
    if settings.database_url is None or settings.redis_url is None:
        raise ConfigError(
            "the pipeline bench needs SENTIFLOW_DATABASE_URL (PostgreSQL) and SENTIFLOW_REDIS_URL; "
            "it creates a scratch database and key prefix there and removes them after"
        )
    items = bench_texts(posts)
    url, name = await _scratch_database(settings.database_url)
    settings = settings.model_copy(
        update={
            "database_url": url,
            "redis_prefix": f"sentiflow-bench-{uuid.uuid4().hex[:10]}",
            "queue_max": max(settings.queue_max, posts),
            "batch_size": batch_size,
            "log_level": "WARNING",
        }
    )
    settings.__dict__.pop("sqlalchemy_url", None)
    store = Store.from_settings(settings)
    broker = RedisStreamsBroker.from_settings(settings)
    context = multiprocessing.get_context("spawn")
    report: Any = context.Queue()
    children = [
        context.Process(target=worker_process, args=(settings, report)) for _ in range(workers)
    ]
    try:
        await store.migrate()
        await broker.start()
        for child in children:
            child.start()

        async def consuming() -> bool:
            found = await broker.redis.xinfo_consumers(broker.stream, broker.group)
            return len(found) >= workers

        await _poll(consuming, every=0.1, timeout=120)
        started = time.perf_counter()
        for i in range(0, posts, 1000):
            while True:
                try:
                    await submit(broker, items[i : i + 1000])
                    break
                except Backpressure as exc:
                    await asyncio.sleep(exc.retry_after)

        async def done() -> bool:
            return await _stored(store) >= posts and not await broker.backlog()

        await _poll(done, every=0.05, timeout=3600)
        elapsed = time.perf_counter() - started
        stored = await _stored(store)
        for child in children:
            child.terminate()  # SIGTERM: each reports its figures and exits
        reports = [await asyncio.to_thread(report.get, True, 60) for _ in children]
        for child in children:
            child.join(30)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
        keys = [k async for k in broker.redis.scan_iter(f"{settings.redis_prefix}:*")]
        if keys:
            await broker.redis.delete(*keys)
        await broker.close()
        await store.close()
        await _drop_database(settings.database_url or "", name)
    latencies = sorted(x for r in reports for x in r["latencies"])
    pipeline = posts / elapsed
    analyzer = analyzer_only(settings, [i["text"] for i in items[: min(posts, 50_000)]])
    return {
        "bench": "pipeline",
        "posts": posts,
        "stored": stored,
        "workers": workers,
        "batch_size": batch_size,
        "analyzer": settings.analyzer,
        "analyzer_processes_per_worker": settings.analyzer_processes,
        "seconds": round(elapsed, 2),
        "pipeline_posts_per_s": round(pipeline, 1),
        "latency_p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "latency_p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "analyzer_only_texts_per_s": round(analyzer, 1),
        "pipeline_vs_analyzer": round(pipeline / analyzer, 3),
    }
