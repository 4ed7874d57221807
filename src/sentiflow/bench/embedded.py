"""`sentiflow bench embedded`: posts through the real embedded path (validate → memory broker →
analyzer process → SQLite), and the analyzer alone on the same texts, in one run.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from sentiflow.analyze.registry import build_analyzer
from sentiflow.ingest.demo import demo_posts
from sentiflow.ingest.service import submit
from sentiflow.roles import feed
from sentiflow.settings import Settings


def bench_texts(n: int) -> list[dict[str, Any]]:
    base = demo_posts()
    return [
        {
            "source": "bench",
            "external_id": f"b{i}",
            "text": base[i % len(base)]["text"],
            "topic": base[i % len(base)]["topic"],
        }
        for i in range(n)
    ]


def analyzer_only(settings: Settings, texts: list[str], batch: int = 1000) -> float:
    """Texts/s of the analyzer alone, in this process, on one core. The collector is off
    while it runs (the model makes no reference cycles): what this process holds besides,
    such as a bench's posts, must not slow the baseline down."""
    analyzer = build_analyzer(settings.analyzer, settings)
    analyzer.analyze(texts[:batch])  # warm: the model loaded, the allocator grown to a batch
    collecting = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            analyzer.analyze(texts[i : i + batch])
        return len(texts) / (time.perf_counter() - started)
    finally:
        if collecting:
            gc.enable()


async def run_embedded(settings: Settings, *, posts: int) -> dict[str, Any]:
    items = bench_texts(posts)
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-") as tmp:
        settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": None,
                "redis_url": None,
                "queue_max": max(settings.queue_max, posts),
            }
        )
        async with feed(settings) as fed:
            assert fed.worker is not None
            started = time.perf_counter()
            for i in range(0, posts, 1000):
                await submit(fed.broker, items[i : i + 1000])
                await asyncio.sleep(0)
            await fed.drain()
            elapsed = time.perf_counter() - started
            stored = fed.worker.stats.stored
    pipeline = posts / elapsed
    analyzer = analyzer_only(settings, [i["text"] for i in items[: min(posts, 50_000)]])
    return {
        "bench": "embedded",
        "posts": posts,
        "stored": stored,
        "analyzer": settings.analyzer,
        "seconds": round(elapsed, 2),
        "pipeline_posts_per_s": round(pipeline, 1),
        "analyzer_only_texts_per_s": round(analyzer, 1),
        "pipeline_vs_analyzer": round(pipeline / analyzer, 3),
    }
