"""`sentiflow bench rank`: latency of POST /api/rank on a real server (uvicorn with `--workers`
processes, embedded store, started as `sentiflow api` starts it) under concurrent clients, split
into engine time and overhead, beside the bare analyzer's speed on the same texts, in one run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from sentiflow.analyze.registry import build_analyzer
from sentiflow.api import create_app
from sentiflow.bench.cpu import connections_by_process, descendants, tree_cpu_s
from sentiflow.bench.embedded import analyzer_only
from sentiflow.ingest.demo import demo_posts
from sentiflow.models import PostIn
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.write import save_batch

STORED = 5_000  # posts in the store that requests can name
UNLIMITED = "1000000/s"  # a rate limit no bench client reaches


def bench_app() -> FastAPI:
    """The app each server process runs: settings from the environment `_serve` sets, and no
    worker in process (the bench stores its posts itself)."""
    return create_app(Settings(), worker=False)


def _serve(env: dict[str, str | None], port: int, workers: int) -> None:
    from sentiflow.api import server

    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.serve(
        "sentiflow.bench.rank:bench_app",
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _seed(settings: Settings, texts: list[str]) -> None:
    """Store `STORED` analysed posts directly, as the worker would have."""
    store = Store.from_settings(settings)
    await store.migrate()
    analyzer = build_analyzer(settings.analyzer, settings)
    posts = [
        PostIn(source="bench", external_id=f"s{i}", text=texts[i % len(texts)])
        for i in range(STORED)
    ]
    for start in range(0, STORED, 1000):
        batch = posts[start : start + 1000]
        await save_batch(store, batch, analyzer.analyze([p.text for p in batch]))
    await store.close()


def _bodies(
    texts: list[str], *, n: int, items: int, unknown: float, strategy: str, sessions: bool
) -> list[bytes]:
    """`n` feeds; with `sessions`, each names one of 100 users, so the server stores it."""
    rng = random.Random(7)
    n_unknown = round(items * unknown)
    bodies = []
    for r in range(n):
        known = rng.sample(range(STORED), items - n_unknown)
        feed: list[dict[str, Any]] = [
            {"id": f"s{i}", "source": "bench", "text": texts[i % len(texts)]} for i in known
        ]
        feed += [{"id": f"u{r}-{k}", "text": rng.choice(texts)} for k in range(n_unknown)]
        rng.shuffle(feed)
        body: dict[str, Any] = {"items": feed, "strategy": strategy}
        if sessions:
            body["session"] = {"user_id": f"user-{r % 100}", "platform": "bench"}
        bodies.append(orjson.dumps(body))
    return bodies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


class _Connection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON bodies. The load generator shares
    the cores with the server and is not what is measured, so it spends far less CPU per
    request than httpx would. It is still real HTTP over TCP to the real server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        async with asyncio.timeout(30):
            lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
            answer = await self._reader.readexactly(int(headers["content-length"]))
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {answer[:300]!r}")
        return answer

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


async def _load(
    port: int, bodies: list[bytes], concurrency: int
) -> tuple[list[float], list[dict[str, Any]], float]:
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    queue = iter(bodies)

    async def one_client() -> None:
        connection = await _Connection.open("127.0.0.1", port)
        try:
            for body in queue:
                started = time.perf_counter()
                answer = await connection.post("/api/rank", body)
                latencies.append((time.perf_counter() - started) * 1000)
                answers.append(orjson.loads(answer))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies, answers, time.perf_counter() - started


async def _spread(server: int, port: int) -> list[int]:
    """The clients' connections per API process, once they are open: a process that holds
    more of them than the others is where the latency tail comes from."""
    await asyncio.sleep(0.5)
    held = connections_by_process(descendants(server), port)
    return sorted((n for n in held.values() if n), reverse=True)


async def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the bench server did not start within 60 s")
            await asyncio.sleep(0.1)


async def run_rank(
    settings: Settings,
    *,
    items: int,
    concurrency: int,
    requests: int,
    unknown: float,
    strategy: str,
    workers: int | None = None,
    warmup_s: float = 5.0,
    sessions: bool = False,
) -> dict[str, Any]:
    """`workers` API processes (default: one per core, as a deployment runs `sentiflow api`)."""
    workers = workers or os.cpu_count() or 1
    texts = [p["text"] for p in demo_posts()]
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-rank-") as tmp:
        settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": None,
                "redis_url": None,
                "demo_rate": 0,
                "signals_interval_s": 0,
            }
        )
        await _seed(settings, texts)
        env = {
            "SENTIFLOW_DATA_DIR": tmp,
            "SENTIFLOW_DATABASE_URL": None,
            "SENTIFLOW_REDIS_URL": None,
            "SENTIFLOW_DEMO_RATE": "0",
            "SENTIFLOW_SIGNALS_INTERVAL_S": "0",
            # With limits on, every request is checked but none refused: the bench measures
            # what the check costs, not a client being throttled.
            "SENTIFLOW_RATE_LIMITS": str(settings.rate_limits).lower(),
            "SENTIFLOW_RATE_LIMIT_RANK": UNLIMITED,
        }
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(env, port, workers)
        )
        server.start()
        try:
            await _wait_up(f"http://127.0.0.1:{port}")
            # The analyzer processes start in the background: warm up until they serve.
            warm = _bodies(
                texts,
                n=concurrency * 2,
                items=items,
                unknown=unknown,
                strategy=strategy,
                sessions=sessions,
            )
            until = time.monotonic() + warmup_s
            while time.monotonic() < until:
                await _load(port, warm, concurrency)
            bodies = _bodies(
                texts,
                n=requests,
                items=items,
                unknown=unknown,
                strategy=strategy,
                sessions=sessions,
            )
            assert server.pid is not None
            load_before = os.getloadavg()[0]
            cpu_before = tree_cpu_s(server.pid)
            client_before = time.process_time()
            spread = asyncio.create_task(_spread(server.pid, port))
            latencies, answers, elapsed = await _load(port, bodies, concurrency)
            connections = await spread
            client_s = time.process_time() - client_before
            cpu_after = tree_cpu_s(server.pid)
            load_after = os.getloadavg()[0]
        finally:
            server.terminate()
            server.join(10)
    engine = [a["timings_ms"]["total"] for a in answers]
    overhead = [wall - e for wall, e in zip(latencies, engine, strict=False)]
    analyze = [a["timings_ms"].get("analyze", 0.0) for a in answers]
    lookup = [a["timings_ms"].get("lookup", 0.0) for a in answers]
    per_s = analyzer_only(settings, [texts[i % len(texts)] for i in range(5_000)])
    analyzer_ms = items * unknown / per_s * 1000 if unknown else items / per_s * 1000
    p50 = _pct(latencies, 0.50)
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None:
        cpu_ms = round((cpu_after - cpu_before) / len(latencies) * 1000, 2)
    return {
        "bench": "rank",
        "rate_limits": settings.rate_limits,
        "analyzer": settings.analyzer,
        "strategy": strategy,
        "sessions": sessions,
        "items": items,
        "unknown_fraction": unknown,
        "concurrency": concurrency,
        "workers": workers,
        "connections_by_process": connections,
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": p50,
        "p95_ms": _pct(latencies, 0.95),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": round(max(latencies), 2),
        "partial": sum(1 for a in answers if a["partial"]),
        "engine_p50_ms": _pct(engine, 0.50),
        "engine_p99_ms": _pct(engine, 0.99),
        "lookup_mean_ms": round(statistics.fmean(lookup), 2),
        "analyze_mean_ms": round(statistics.fmean(analyze), 2),
        "overhead_p50_ms": _pct(overhead, 0.50),
        "server_cpu_ms_per_request": cpu_ms,
        "client_cpu_ms_per_request": round(client_s / len(latencies) * 1000, 2),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(load_after, 2),
        "analyzer_only_texts_per_s": round(per_s, 1),
        "analyzer_only_feed_ms": round(analyzer_ms, 2),
        "p50_vs_analyzer_only": round(p50 / analyzer_ms, 2),
    }
