"""`sentiflow bench analytics`: p50/p95 of every stats endpoint over seeded data, cold and warm
cache, and in the same run the same questions answered by a plain GROUP BY over posts ⋈
analyses (and by minute rollups alone, the design the hour/day tables replaced).

PostgreSQL when SENTIFLOW_DATABASE_URL is set (a bench database is created beside it and
dropped afterwards), else SQLite in a temporary directory. Redis cache when SENTIFLOW_REDIS_URL
is set, else the in-process cache.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from sentiflow.analytics.cache import Cache, Change, MemoryCache
from sentiflow.analytics.cache.redis import RedisCache
from sentiflow.analytics.seed import seed
from sentiflow.analytics.service import Analytics
from sentiflow.bench import oracles
from sentiflow.connections import RedisConnection, connect
from sentiflow.keys import Keys
from sentiflow.locks import Locks, MemoryLocks
from sentiflow.locks.redis import RedisLocks
from sentiflow.settings import Settings
from sentiflow.store import stats
from sentiflow.store.db import Store, make_engine
from sentiflow.store.seed import analyze_tables
from sentiflow.store.stats import RollupFilter

Call = Callable[[], Awaitable[Any]]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


async def timed(call: Call, reps: int, before: Call | None = None) -> dict[str, float]:
    samples = []
    for _ in range(reps):
        if before is not None:
            await before()
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50": round(pct(samples, 0.5), 2), "p95": round(pct(samples, 0.95), 2)}


def questions(analytics: Analytics, now: datetime) -> dict[str, tuple[Call, Call, Call | None]]:
    """name → (through the cache, plain GROUP BY, minute rollups only)."""
    store = analytics.store
    week = RollupFilter(source="twitter", since=now - timedelta(days=7))
    day = RollupFilter(topic="billing", since=now - timedelta(hours=24))
    every = RollupFilter()
    out: dict[str, tuple[Call, Call, Call | None]] = {
        "summary": (
            lambda: analytics.summary(every),
            lambda: oracles.summary(store, every),
            lambda: stats.summary(store, every, coarsest="minute"),
        ),
        "summary_source_7d": (
            lambda: analytics.summary(week),
            lambda: oracles.summary(store, week),
            lambda: stats.summary(store, week, coarsest="minute"),
        ),
        "summary_topic_24h": (
            lambda: analytics.summary(day),
            lambda: oracles.summary(store, day),
            lambda: stats.summary(store, day, coarsest="minute"),
        ),
    }
    for by in ("sentiment", "emotion", "source", "topic"):
        out[f"distribution_{by}"] = (
            lambda by=by: analytics.distribution(every, by=by),  # type: ignore[misc]
            lambda by=by: oracles.distribution(store, every, by=by),  # type: ignore[misc]
            lambda by=by: stats.distribution(store, every, by=by, coarsest="minute"),  # type: ignore[misc]
        )
    for bucket, by, back in (
        ("minute", "sentiment", timedelta(hours=1)),
        ("hour", "emotion", timedelta(hours=48)),
        ("day", "sentiment", timedelta(days=30)),
    ):
        f = RollupFilter(since=now - back, until=now)
        out[f"timeseries_{bucket}_{by}"] = (
            lambda f=f, bucket=bucket, by=by: analytics.timeseries(f, bucket=bucket, by=by),  # type: ignore[misc]
            lambda f=f, bucket=bucket, by=by: oracles.timeseries(store, f, bucket=bucket, by=by),  # type: ignore[misc]
            None,
        )
    return out


async def _pg_database(url: str, name: str, *, create: bool) -> str:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = await asyncpg.connect(
        base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    try:
        if create:
            await admin.execute(f'CREATE DATABASE "{name}"')
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    return base.set(database=name).render_as_string(hide_password=False)


async def run_analytics(
    settings: Settings,
    *,
    posts: int,
    days: float = 30.0,
    reps: int = 30,
    plain_reps: int = 5,
    console: Console | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    console = console or Console(stderr=True)
    backend = "postgresql" if settings.database_url else "sqlite"
    tmp = tempfile.TemporaryDirectory(prefix="sentiflow-bench-")
    db_name = f"sentiflow_bench_{secrets.token_hex(4)}"
    if settings.database_url:
        url = await _pg_database(settings.database_url, db_name, create=True)
    else:
        url = f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    store = Store(make_engine(url))
    keys = Keys(f"bench-{db_name}")
    redis: RedisConnection | None = None
    cache: Cache
    locks: Locks
    if settings.redis is not None:
        redis = connect(settings.redis)
        cache, locks = RedisCache(redis, keys), RedisLocks(redis)
    else:
        cache, locks = MemoryCache(), MemoryLocks()

    async def emptied() -> None:
        await cache.invalidate(Change.unknown())

    try:
        await store.migrate()
        started = time.perf_counter()
        with Progress(console=console, transient=False) as bar:
            task = bar.add_task(f"seed {backend}", total=posts)
            await seed(
                store,
                posts=posts,
                days=days,
                progress=lambda n: bar.advance(task, n),
                stage=lambda name: bar.update(task, description=f"seed {backend}: {name}"),
            )
        await analyze_tables(store)
        seed_s = time.perf_counter() - started
        # What the rollup path reads grows with these, not with the posts.
        async with store.engine.connect() as conn:
            rows = {
                table: (await conn.exec_driver_sql(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("posts", "rollups", "rollups_hour", "rollups_day")
            }
        analytics = Analytics(store, cache, locks, keys, settings.cache)
        now = datetime.now(UTC)
        results: dict[str, Any] = {}
        for name, (cached, plain, minute_only) in questions(analytics, now).items():
            console.print(f"measuring {name}")
            row: dict[str, Any] = {
                "cold": await timed(cached, reps, before=emptied),
                "warm": await timed(cached, reps),
                "plain_group_by": await timed(plain, plain_reps),
            }
            if minute_only is not None:
                row["minute_rollups_only"] = await timed(minute_only, plain_reps)
            row["plain_p95_over_cold_p95"] = round(
                row["plain_group_by"]["p95"] / max(row["cold"]["p95"], 0.01), 1
            )
            results[name] = row
        cold = max(r["cold"]["p95"] for r in results.values())
        warm = max(r["warm"]["p95"] for r in results.values())
        plain_worst = max(r["plain_group_by"]["p95"] for r in results.values())
        return {
            "bench": "analytics",
            "backend": backend,
            "cache": "redis" if settings.redis_url else "memory",
            "posts": posts,
            "days": days,
            "reps": reps,
            "seed_seconds": round(seed_s, 1),
            "seed_posts_per_s": round(posts / seed_s, 1),
            "table_rows": rows,
            "worst_cold_p95_ms": cold,
            "worst_warm_p95_ms": warm,
            "worst_plain_group_by_p95_ms": plain_worst,
            "plain_over_cold_worst_p95": round(plain_worst / max(cold, 0.01), 1),
            "endpoints": results,
        }
    finally:
        if redis is not None:
            bench_keys = [k async for k in redis.client.scan_iter(f"{keys.prefix}:*")]
            if bench_keys:
                await redis.client.delete(*bench_keys)
            await redis.close()
        await store.close()
        if settings.database_url and not keep:
            await _pg_database(settings.database_url, db_name, create=False)
        elif keep:
            console.print(f"kept bench database {db_name if settings.database_url else url}")
        tmp.cleanup()
