"""`sentiflow bench analyze`: POST /api/analyze latency (p50/p99) for 1, 100 and 1,000 texts on
a real API process (uvicorn, embedded store); beside it, in the same run, the same texts
through the analyzer called directly in this process, the floor the endpoint adds to.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import httpx

from sentiflow.analyze.registry import build_analyzer
from sentiflow.bench.export import api_env, free_port, percentile, start_api, wait_healthy
from sentiflow.ingest.demo import demo_posts
from sentiflow.settings import Settings

SIZES = (1, 100, 1_000)


def _texts(n: int, offset: int) -> list[str]:
    base = demo_posts()
    return [base[(offset + i) % len(base)]["text"] for i in range(n)]


def _requests_for(size: int, requests: int) -> int:
    """Fewer requests of the big sizes: each costs about `size` times more."""
    return max(10, requests // max(1, size // 10)) if size > 1 else requests


def _direct(settings: Settings, requests: int) -> dict[int, list[float]]:
    analyzer = build_analyzer(settings.analyzer, settings)
    out: dict[int, list[float]] = {}
    try:
        analyzer.analyze(_texts(10, 0))  # warm up
        for size in SIZES:
            times = []
            for r in range(_requests_for(size, requests)):
                texts = _texts(size, r * size)
                started = time.perf_counter()
                analyzer.analyze(texts)
                times.append((time.perf_counter() - started) * 1000)
            out[size] = times
    finally:
        analyzer.close()
    return out


async def _endpoint(client: httpx.AsyncClient, requests: int) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for _ in range(3):  # warm up: the first requests start the analyzer processes' models
        (await client.post("/api/analyze", json={"texts": _texts(100, 0)})).raise_for_status()
    for size in SIZES:
        times = []
        for r in range(_requests_for(size, requests)):
            body = {"texts": _texts(size, r * size)}
            started = time.perf_counter()
            response = await client.post("/api/analyze", json=body)
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            assert len(response.json()["results"]) == size
        out[size] = times
    return out


async def run_analyze(settings: Settings, *, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-analyze-") as tmp:
        port = free_port()
        server = start_api(api_env(tmp, SENTIFLOW_RATE_LIMITS="false"), port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
                await wait_healthy(c)
                endpoint = await _endpoint(c, requests)
        finally:
            server.terminate()
            server.wait(timeout=30)
    direct = _direct(settings, requests)
    result: dict[str, Any] = {"bench": "analyze", "analyzer": settings.analyzer}
    for size in SIZES:
        api, floor = endpoint[size], direct[size]
        result[f"texts_{size}"] = {
            "requests": len(api),
            "p50_ms": percentile(api, 50),
            "p99_ms": percentile(api, 99),
            "texts_per_s": round(size / (statistics.median(api) / 1000), 1),
            "direct_p50_ms": percentile(floor, 50),
            "p50_vs_direct": round(percentile(api, 50) / max(percentile(floor, 50), 1e-9), 2),
        }
    return result
