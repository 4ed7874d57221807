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


def _free_port() -> int:
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


def _start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """The API in a process of its own, as `sentiflow api` runs it."""
    command = [sys.executable, "-m", "uvicorn", "--factory", "sentiflow.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env)


async def _latencies(client: httpx.AsyncClient, until: Any, gap: float) -> list[float]:
    out = []
    while not await until():
        started = time.perf_counter()
        response = await client.get("/health")
        out.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        await asyncio.sleep(gap)
    return out


def _p(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 2) if len(values) > 1 else 0.0


async def run_export(settings: Settings, *, rows: int, idle_s: float = 5.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-export-") as tmp:
        settings = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": None, "redis_url": None}
        )
        seed_s = await seed(settings, rows)
        port = _free_port()
        env = {
            **os.environ,
            "SENTIFLOW_DATA_DIR": tmp,
            "SENTIFLOW_AUTH": "disabled",
            "SENTIFLOW_DEMO_RATE": "0",
            "SENTIFLOW_ANALYZER_PROCESSES": "0",
            "SENTIFLOW_LOG_LEVEL": "WARNING",
        }
        env.pop("SENTIFLOW_DATABASE_URL", None)
        env.pop("SENTIFLOW_REDIS_URL", None)
        server = _start_api(env, port)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await c.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the API did not start within 60 s")
                    await asyncio.sleep(0.1)

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
        "health_idle_p50_ms": _p(idle, 50),
        "health_idle_p95_ms": _p(idle, 95),
        "health_exporting_n": len(busy),
        "health_exporting_p50_ms": _p(busy, 50),
        "health_exporting_p95_ms": _p(busy, 95),
        "health_p95_exporting_vs_idle": round(_p(busy, 95) / max(_p(idle, 95), 1e-9), 2),
        "bytes": {fmt: f["bytes"] for fmt, f in files.items()},
    }
