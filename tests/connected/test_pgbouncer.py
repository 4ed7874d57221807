"""Distributed mode behind a transaction-mode pooler: a real pgbouncer in front of PostgreSQL,
with fewer server connections than clients, so that statements prepared on one server
connection and expected on another would fail. Migrate, ingest, a worker process, analytics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from sentiflow.api import create_app
from sentiflow.settings import Settings
from tests.conftest import REDIS_URL, wait_for
from tests.connected.servers import PgBouncer

pytestmark = pytest.mark.connected
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sentiflow", *args],
        env={**os.environ, **env, "PYTHONPATH": SRC},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def test_ingest_worker_and_analytics_through_pgbouncer(
    tmp_path: Path, pg_url: str, redis_prefix: str, pgbouncer: PgBouncer
) -> None:
    url = pgbouncer.url(str(make_url(pg_url).database))
    env = {
        "SENTIFLOW_DATABASE_URL": url,
        "SENTIFLOW_DATABASE_POOLER": "transaction",
        "SENTIFLOW_REDIS_URL": REDIS_URL,
        "SENTIFLOW_REDIS_PREFIX": redis_prefix,
        "SENTIFLOW_DATA_DIR": str(tmp_path / "data"),
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "SENTIFLOW_BATCH_SIZE": "200",
        "SENTIFLOW_WORKER_CONCURRENCY": "3",
    }
    upgrade = run_cli(env, "db", "upgrade")
    output, _ = await asyncio.to_thread(upgrade.communicate, timeout=60)
    assert upgrade.returncode == 0, output.decode()

    settings = Settings(
        data_dir=tmp_path / "api",
        database_url=url,
        database_pooler="transaction",
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        analyzer_processes=0,
        auth="disabled",
    )
    worker = run_cli(env, "worker", "--processes", "2")
    try:
        app = create_app(settings, worker=False)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as api,
        ):

            async def counted(n: int) -> bool:
                summary = await api.get(
                    "/api/stats/summary", params={"source": "pool", "since": "2000-01-01T00:00:00Z"}
                )
                return bool(summary.json()["total"] == n)

            def chunk(n: int) -> list[dict[str, str]]:
                return [
                    {"source": "pool", "external_id": f"{n}-{i}", "text": f"great day {i}"}
                    for i in range(400)
                ]

            assert (await api.post("/api/posts", json=chunk(0))).status_code == 202
            await wait_for(lambda: counted(400), timeout=60)
            # The first chunk again: stored already, so the COPY fails on the primary key and
            # the batch goes in through the ON CONFLICT path, still behind the pooler.
            for n in (0, 1, 2):
                assert (await api.post("/api/posts", json=chunk(n))).status_code == 202
            broker = app.state.services.broker

            async def drained() -> bool:
                return bool(await broker.backlog() == 0 and await counted(1200))

            await wait_for(drained, timeout=90)
            page = await api.get("/api/posts", params={"source": "pool", "limit": 5})
            assert page.status_code == 200
            assert len(page.json()["items"]) == 5
    finally:
        worker.terminate()
        output, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    assert b"Traceback" not in output, output.decode()
    assert b"prepared statement" not in output, output.decode()
