"""`sentiflow bench auto`: the auto analyzer on the embedded path. Flooded, its posts/s beside
builtin-fast alone on the same posts, in the same run; at the demo's rate, the share of posts
that the accurate tier labelled (the goal: all of them).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.bench.embedded import bench_texts
from sentiflow.ingest.demo import replay
from sentiflow.ingest.service import submit
from sentiflow.roles import feed
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import analyses

FAST = "builtin-fast"


async def _accurate_ready(pool: AnalyzerPool, timeout: float) -> bool:
    """Wait until the auto pool's accurate tier answers (it loads in the background, and its
    encoder may be exported first): a bench of the tiers must not time the loading."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = (await pool.analyze(["warm up"]))[0].model_version
        if not version.startswith(FAST):
            return True
        await asyncio.sleep(0.5)
    return False


async def _versions(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(analyses.c.model_version, func.count()).group_by(analyses.c.model_version)
        )
        return {version: int(n) for version, n in rows}


def _fresh(settings: Settings, analyzer: str) -> Settings:
    # One data dir for every phase, so that the accurate tier's exported encoder is reused;
    # a fresh database for each.
    for path in settings.data_dir.glob("sentiflow.db*"):
        path.unlink()
    return settings.model_copy(update={"analyzer": analyzer})


async def _flood(settings: Settings, items: list[dict[str, Any]]) -> dict[str, Any]:
    async with feed(settings) as fed:
        assert fed.worker is not None
        ready = settings.analyzer != "auto" or await _accurate_ready(fed.worker.pool, 600)
        started = time.perf_counter()
        for i in range(0, len(items), 1000):
            await submit(fed.broker, items[i : i + 1000])
            await asyncio.sleep(0)
        await fed.drain()
        elapsed = time.perf_counter() - started
        versions = await _versions(fed.store)
    return {
        "posts_per_s": round(len(items) / elapsed, 1),
        "accurate_ready": ready,
        "by_model": versions,
    }


async def _steady(settings: Settings, rate: float, seconds: float) -> dict[str, Any]:
    async with feed(settings) as fed:
        assert fed.worker is not None
        ready = await _accurate_ready(fed.worker.pool, 600)
        stop = asyncio.Event()
        feeding = asyncio.create_task(replay(fed.broker, rate=rate, stop=stop))
        await asyncio.sleep(seconds)
        stop.set()
        await feeding
        await fed.drain()
        versions = await _versions(fed.store)
        latencies = sorted(fed.worker.stats.latencies)
    return {
        "accurate_ready": ready,
        "by_model": versions,
        "latency_p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_max_ms": round(1000 * latencies[-1], 1) if latencies else None,
    }


def _accurate_share(by_model: dict[str, int]) -> float:
    total = sum(by_model.values())
    accurate = sum(n for version, n in by_model.items() if not version.startswith(FAST))
    return round(accurate / total, 4) if total else 0.0


async def run_auto(
    settings: Settings, *, posts: int, rate: float, seconds: float
) -> dict[str, Any]:
    items = bench_texts(posts)
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-") as tmp:
        base = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": None,
                "redis_url": None,
                "queue_max": max(settings.queue_max, posts),
                "demo_rate": 0.0,
            }
        )
        fast = await _flood(_fresh(base, FAST), items)
        auto = await _flood(_fresh(base, "auto"), items)
        steady = await _steady(_fresh(base, "auto"), rate, seconds)
    return {
        "bench": "auto",
        "posts": posts,
        "fast_posts_per_s": fast["posts_per_s"],
        "auto_posts_per_s": auto["posts_per_s"],
        "auto_vs_fast": round(auto["posts_per_s"] / fast["posts_per_s"], 3),
        "flood_accurate_share": _accurate_share(auto["by_model"]),
        "rate": rate,
        "seconds": seconds,
        "steady_posts": sum(steady["by_model"].values()),
        "steady_accurate_share": _accurate_share(steady["by_model"]),
        "steady_latency_p50_ms": steady["latency_p50_ms"],
        "steady_latency_max_ms": steady["latency_max_ms"],
        "accurate_ready": auto["accurate_ready"] and steady["accurate_ready"],
        "by_model": {"flood": auto["by_model"], "steady": steady["by_model"]},
    }
