"""`sentiflow bench export`: does a large dataset export leave the API responsive? A real API
process (uvicorn, embedded store) holds N analysed posts; /health latency is measured idle,
then while POST /api/datasets exports all N rows in the background, in one run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from sentiflow.analyze.registry import build_analyzer
from sentiflow.ingest.demo import demo_posts
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, posts
from sentiflow.store.write.base import analysis_row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed(settings: Settings, rows: int, chunk: int = 10_000) -> float:
    """Store `rows` analysed posts (demo texts, lexicon labels) with plain bulk inserts, as
    the export only reads posts and analyses; returns seconds taken."""
    base = demo_posts()
    labelled = build_analyzer("lexicon", settings).analyze([p["text"] for p in base])
    store = Store.from_settings(settings)
    now = datetime.now(UTC)
    started = time.perf_counter()
    try:
        await store.migrate()
        for start in range(0, rows, chunk):
            span = range(start, min(rows, start + chunk))
            post_rows = [
                {
                    "id": f"bench{i:019d}",
                    "source": "bench",
                    "external_id": f"x{i}",
                    "text": base[i % len(base)]["text"],
                    "author": None,
                    "created_at": now - timedelta(seconds=rows - i),
                    "url": None,
                    "topic": base[i % len(base)]["topic"],
                    "meta": {},
                    "ingested_at": now,
                }
                for i in span
            ]
            analysis_rows = [
                {**analysis_row(f"bench{i:019d}", labelled[i % len(base)]), "analyzed_at": now}
                for i in span
            ]
            async with store.engine.begin() as conn:
                await conn.execute(posts.insert(), post_rows)
                await conn.execute(analyses.insert(), analysis_rows)
    finally:
        await store.close()
    return time.perf_counter() - started


def api_env(data_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a bench's API process: embedded in `data_dir`, keys off, no demo."""
    env = {
        **os.environ,
        "SENTIFLOW_DATA_DIR": data_dir,
        "SENTIFLOW_AUTH": "disabled",
        "SENTIFLOW_DEMO_RATE": "0",
        "SENTIFLOW_LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("SENTIFLOW_DATABASE_URL", None)
    env.pop("SENTIFLOW_REDIS_URL", None)
    return env


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """The API in a process of its own, as `sentiflow api` runs it."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "sentiflow.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env)


async def wait_healthy(client: httpx.AsyncClient, timeout_s: float = 60.0) -> None:
    """Return once the API answers /health with 200; RuntimeError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _stream(client: httpx.AsyncClient, pid: int, fmt: str) -> dict[str, float]:
    """GET /api/posts/export of every post, read as it streams, with the API process's
    resident memory sampled all along: flat if the export holds one chunk at a time."""
    before = _rss_mb(pid)
    peak = before
    size = 0
    started = time.perf_counter()
    async with client.stream("GET", "/api/posts/export", params={"format": fmt}) as response:
        response.raise_for_status()
        async for piece in response.aiter_bytes():
            size += len(piece)
            peak = max(peak, _rss_mb(pid))
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "mb": round(size / 2**20, 1),
        "rss_before_mb": before,
        "rss_peak_mb": peak,
    }


async def _latencies(client: httpx.AsyncClient, until: Any, gap: float) -> list[float]:
    out = []
    while not await until():
        started = time.perf_counter()
        response = await client.get("/health")
        out.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        await asyncio.sleep(gap)
    return out


def percentile(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 2) if len(values) > 1 else 0.0


async def run_export(settings: Settings, *, rows: int, idle_s: float = 5.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-export-") as tmp:
        settings = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": None, "redis_url": None}
        )
        seed_s = await seed(settings, rows)
        port = free_port()
        server = start_api(api_env(tmp, SENTIFLOW_ANALYZER_PROCESSES="0"), port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                await wait_healthy(c)
                idle_end = time.monotonic() + idle_s

                async def idle_over() -> bool:
                    return time.monotonic() > idle_end

                idle = await _latencies(c, idle_over, 0.01)
                started = time.perf_counter()
                made = (await c.post("/api/datasets", json={"scope": "all"})).json()
                progress: list[float] = []
                last_check = 0.0

                async def exported() -> bool:
                    nonlocal last_check
                    if time.monotonic() - last_check < 0.5:
                        return False
                    last_check = time.monotonic()
                    state = (await c.get(f"/api/datasets/{made['id']}")).json()
                    if state["status"] == "failed":
                        raise RuntimeError(f"export failed: {state['error']}")
                    progress.append(state["progress"] or 0.0)
                    return bool(state["status"] == "ready")

                busy = await _latencies(c, exported, 0.01)
                export_s = time.perf_counter() - started
                final = (await c.get(f"/api/datasets/{made['id']}")).json()
                streamed = {fmt: await _stream(c, server.pid, fmt) for fmt in ("csv", "parquet")}
        finally:
            server.terminate()
            server.wait(timeout=30)
    files = final["manifest"]["files"]
    return {
        "bench": "export",
        "rows": rows,
        "exported_rows": final["rows"],
        "seed_seconds": round(seed_s, 1),
        "export_seconds": round(export_s, 2),
        "export_rows_per_s": round(final["rows"] / export_s, 1),
        "progress_samples": len(progress),
        "health_idle_n": len(idle),
        "health_idle_p50_ms": percentile(idle, 50),
        "health_idle_p95_ms": percentile(idle, 95),
        "health_exporting_n": len(busy),
        "health_exporting_p50_ms": percentile(busy, 50),
        "health_exporting_p95_ms": percentile(busy, 95),
        "health_p95_exporting_vs_idle": round(
            percentile(busy, 95) / max(percentile(idle, 95), 1e-9), 2
        ),
        "bytes": {fmt: f["bytes"] for fmt, f in files.items()},
        "streamed_export": streamed,
    }
