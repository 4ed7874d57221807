"""`sentiflow bench pipeline`: distributed mode end to end. A producer feeds Redis through the
real ingest code, K worker processes analyse and commit to PostgreSQL; beside it, in the same
run, the analyzer alone on the same texts. Uses a scratch database and key prefix, dropped after.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from sentiflow.bench.cpu import matching_cpu_s, tree_cpu_s
from sentiflow.bench.embedded import analyzer_only, bench_texts
from sentiflow.connections import RedisConnection, connect
from sentiflow.errors import Backpressure, ConfigError
from sentiflow.ingest.service import submit
from sentiflow.keys import Keys
from sentiflow.queue.redis import RedisStreamsBroker
from sentiflow.ratelimit.base import Rate
from sentiflow.ratelimit.redis import RedisRateLimiter
from sentiflow.roles import GC_THRESHOLDS, freeze_startup_heap
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


async def _checkpoints(url: str, *, start: bool = False) -> int:
    """Checkpoints the server has made so far; with `start`, make one first, so that the WAL
    that earlier runs left behind (up to `max_wal_size`) is not flushed in the middle of this
    one, at this run's expense."""
    admin = await asyncpg.connect(_admin_dsn(url))
    try:
        if start:
            await admin.execute("CHECKPOINT")
        query = (
            "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
            if admin.get_server_version().major >= 17
            else "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
        )
        return int(await admin.fetchval(query))
    finally:
        await admin.close()


async def _stored(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(posts_table))).scalar_one())


def _start_workers(settings: Settings, workers: int) -> subprocess.Popen[bytes]:
    """The real `sentiflow worker --processes K`, as deployed, on the scratch database."""
    overrides = {
        "SENTIFLOW_DATABASE_URL": settings.database_url or "",
        "SENTIFLOW_REDIS_URL": settings.redis_url or "",
        "SENTIFLOW_REDIS_PREFIX": settings.redis_prefix,
        "SENTIFLOW_BATCH_SIZE": str(settings.batch_size),
        "SENTIFLOW_LOG_LEVEL": "WARNING",
        # Each worker process is one core's worth of analysis: the model runs in a thread of
        # it (off the event loop), sparing the copy of every batch to an analyzer process.
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
    }
    # The child inherits this environment (PATH, PYTHONPATH, the other SENTIFLOW_ settings).
    return subprocess.Popen(
        [sys.executable, "-m", "sentiflow", "worker", "--processes", str(workers)],
        env={**os.environ, **overrides},
        start_new_session=True,
    )


async def _written_at(store: Store) -> dict[str, float]:
    """When each post's batch was written (its `ingested_at`), by external id."""
    query = select(posts_table.c.external_id, posts_table.c.ingested_at)
    async with store.engine.connect() as conn:
        return {eid: at.timestamp() for eid, at in await conn.execute(query)}


async def _poll(check: Callable[[], Awaitable[bool]], *, every: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline bench made no progress for {timeout:.0f} s")
        await asyncio.sleep(every)


def _cpu_readings(database: str, redis_url: str, workers: int) -> dict[str, float | None]:
    """CPU seconds so far of each part: this process (the producer), the worker processes,
    PostgreSQL (this database's backends and the shared WAL writer, checkpointer and background
    writer) and the Redis server."""
    port = f":{urlsplit(redis_url).port or 6379}"
    shared = ("walwriter", "checkpointer", "background writer")
    return {
        "producer": time.process_time(),
        "workers": tree_cpu_s(workers),
        "postgres": matching_cpu_s(
            lambda c: c.startswith("postgres: ") and (database in c or any(s in c for s in shared))
        ),
        "redis": matching_cpu_s(lambda c: c.startswith("redis-server") and port in c),
    }


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


@dataclass
class _Measured:
    """What one run measured, between the producer's first post and the last one stored."""

    elapsed: float = 0.0
    stored: int = 0
    checkpoints: int = 0
    cpu_before: dict[str, float | None] = field(default_factory=dict)
    cpu_after: dict[str, float | None] = field(default_factory=dict)
    accepted_at: list[float] = field(default_factory=list)
    written: dict[str, float] = field(default_factory=dict)


async def run_pipeline(
    settings: Settings,
    *,
    posts: int,
    workers: int,
    batch_size: int,
    rate: float = 0.0,
    rate_limits: bool = True,
) -> dict[str, Any]:
    """`rate` 0 floods the queue (throughput; latency is then mostly time spent queued);
    a rate in posts/s paces the producer in requests of 100 (latency at that load).
    `rate_limits`: each request first takes a token from a Redis bucket, as the API's
    ingest does (with a limit no request reaches: the check's cost, not throttling)."""
    if settings.database_url is None or settings.redis_url is None:
        raise ConfigError(
            "the pipeline bench needs SENTIFLOW_DATABASE_URL (PostgreSQL) and SENTIFLOW_REDIS_URL; "
            "it creates a scratch database and key prefix there and removes them after"
        )
    items = bench_texts(posts)
    texts = [i["text"] for i in items[: min(posts, 50_000)]]
    # The baseline before and after the pipeline, averaged: the machine's speed drifts.
    analyzer_before = analyzer_only(settings, texts)
    server = settings.database_url
    url, name = await _scratch_database(server)
    settings = settings.model_copy(
        update={
            "database_url": url,
            "redis_prefix": f"sentiflow-bench-{uuid.uuid4().hex[:10]}",
            "queue_max": max(settings.queue_max, posts),
            "batch_size": batch_size,
            "log_level": "WARNING",
        }
    )
    try:
        measured = await _run_on_scratch(
            settings, items, workers=workers, rate=rate, rate_limits=rate_limits, server=server
        )
    finally:
        await _drop_database(server, name)
    analyzer_after = analyzer_only(settings, texts)
    return _report(
        measured,
        posts=posts,
        workers=workers,
        batch_size=batch_size,
        rate=rate,
        rate_limits=rate_limits,
        analyzer=settings.analyzer,
        per_request=100 if rate else 1000,
        items=items,
        analyzer_runs=(analyzer_before, analyzer_after),
    )


async def _run_on_scratch(
    settings: Settings,
    items: list[dict[str, Any]],
    *,
    workers: int,
    rate: float,
    rate_limits: bool,
    server: str,
) -> _Measured:
    """Start the workers on the scratch database, feed every post, wait until all are stored;
    then stop the workers and remove the key prefix, whatever happened."""
    assert settings.redis is not None and settings.database_url is not None
    name = make_url(settings.database_url).database or ""
    store = Store.from_settings(settings)
    redis = connect(settings.redis)
    broker = RedisStreamsBroker(redis, Keys(settings.redis_prefix), settings.queue)
    limiter = RedisRateLimiter(redis, Keys(settings.redis_prefix).ratelimit)
    workers_cli: subprocess.Popen[bytes] | None = None
    measured = _Measured()
    try:
        await store.migrate()
        await broker.start()
        workers_cli = _start_workers(settings, workers)
        await _wait_for_consumers(redis, broker, workers_cli, workers)
        measured.checkpoints = await _checkpoints(server, start=True)
        # This process stands in for the API, which collects as `roles` sets and freezes
        # its start-up heap: here that is the bench's own posts, which an API never holds.
        gc.set_threshold(*GC_THRESHOLDS)
        freeze_startup_heap()
        measured.cpu_before = _cpu_readings(name, settings.redis.url, workers_cli.pid)
        started = time.perf_counter()
        measured.accepted_at = await _produce(broker, items, rate, limiter if rate_limits else None)

        async def done() -> bool:
            # The backlog first: counting the posts table is a scan, too dear to repeat while
            # the pipeline runs on the same cores.
            return not await broker.backlog() and await _stored(store) >= len(items)

        await _poll(done, every=0.05, timeout=3600)
        measured.elapsed = time.perf_counter() - started
        measured.cpu_after = _cpu_readings(name, settings.redis.url, workers_cli.pid)
        measured.checkpoints = await _checkpoints(server) - measured.checkpoints
        measured.stored = await _stored(store)
        measured.written = await _written_at(store)
    finally:
        if workers_cli is not None:
            await _stop(workers_cli)
        keys = [k async for k in redis.client.scan_iter(f"{settings.redis_prefix}:*")]
        if keys:
            await redis.client.delete(*keys)
        await broker.close()
        await redis.close()
        await store.close()
    return measured


async def _wait_for_consumers(
    redis: RedisConnection,
    broker: RedisStreamsBroker,
    workers_cli: subprocess.Popen[bytes],
    workers: int,
) -> None:
    async def consuming() -> bool:
        if workers_cli.poll() is not None:
            raise RuntimeError(f"`sentiflow worker` exited with {workers_cli.returncode}")
        found = await redis.client.xinfo_consumers(broker.stream, broker.group)
        return len(found) >= workers

    await _poll(consuming, every=0.1, timeout=300)


# A rate limit no request reaches: the bench measures the check's cost, not throttling.
UNLIMITED = Rate.parse("1000000/s")


async def _produce(
    broker: RedisStreamsBroker,
    items: list[dict[str, Any]],
    rate: float,
    limiter: RedisRateLimiter | None,
) -> list[float]:
    """Submit every post through the real ingest code, flooding or at `rate` posts/s, each
    request first taking a rate-limit token as the API's ingest does (when `limiter`); when
    each request was accepted."""
    accepted_at: list[float] = []
    started = time.perf_counter()
    per_request = 100 if rate else 1000
    for i in range(0, len(items), per_request):
        if rate:
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        chunk = items[i : i + per_request]
        if limiter is not None:
            await limiter.hit("addr:127.0.0.1:ingest", UNLIMITED)
        while True:
            try:
                await submit(broker, chunk)
                break
            except Backpressure as exc:
                await asyncio.sleep(exc.retry_after)
        # Per request: per post, this bookkeeping would count in the producer's CPU.
        accepted_at.append(time.time())
    return accepted_at


async def _stop(workers_cli: subprocess.Popen[bytes]) -> None:
    workers_cli.send_signal(signal.SIGTERM)  # each finishes its batch and exits
    try:
        await asyncio.to_thread(workers_cli.wait, 60)
    except subprocess.TimeoutExpired:
        os.killpg(workers_cli.pid, signal.SIGKILL)
        workers_cli.wait()


def _report(
    measured: _Measured,
    *,
    posts: int,
    workers: int,
    batch_size: int,
    rate: float,
    rate_limits: bool,
    analyzer: str,
    per_request: int,
    items: list[dict[str, Any]],
    analyzer_runs: tuple[float, float],
) -> dict[str, Any]:
    written, accepted_at, elapsed = measured.written, measured.accepted_at, measured.elapsed
    accepted = (
        (item["external_id"], accepted_at[i // per_request]) for i, item in enumerate(items)
    )
    latencies = sorted(written[key] - at for key, at in accepted if key in written)
    pipeline = posts / elapsed
    analyzer_before, analyzer_after = analyzer_runs
    analyzer_rate = (analyzer_before + analyzer_after) / 2
    # Microseconds of CPU per post in each part: where the cores went, steady under load.
    cpu_us = {
        part: round((after - before) / posts * 1e6, 1)
        for part, after in measured.cpu_after.items()
        if after is not None and (before := measured.cpu_before[part]) is not None
    }
    return {
        "bench": "pipeline",
        "rate_limits": rate_limits,
        "posts": posts,
        "stored": measured.stored,
        "workers": workers,
        "batch_size": batch_size,
        "rate": rate or "flood",
        "analyzer": analyzer,
        "seconds": round(elapsed, 2),
        "pipeline_posts_per_s": round(pipeline, 1),
        # From the moment ingest accepted a post (its 202) to its batch's database write.
        "latency_p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "latency_p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "analyzer_only_texts_per_s": round(analyzer_rate, 1),
        "analyzer_only_before_after": [round(analyzer_before), round(analyzer_after)],
        "pipeline_vs_analyzer": round(pipeline / analyzer_rate, 3),
        **{f"cpu_us_per_post_{part}": us for part, us in cpu_us.items()},
        "cpu_us_per_post_total": round(sum(cpu_us.values()), 1),
        "cores_busy": round(sum(cpu_us.values()) * posts / 1e6 / elapsed, 2),
        "postgres_checkpoints": measured.checkpoints,
    }
