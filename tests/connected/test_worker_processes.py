"""`sentiflow worker --processes 2 --metrics-port P` as a user runs it: a child killed outright
is replaced and the posts still flow; /metrics on the port shows what the processes did."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sentiflow.api import create_app
from sentiflow.bench.cpu import child_pids
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from tests.conftest import wait_for
from tests.connected.servers import free_port

pytestmark = [
    pytest.mark.connected,
    pytest.mark.skipif(not Path("/proc").exists(), reason="needs Linux /proc"),
]
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _workers(parent: int) -> list[int]:
    """The worker processes: the parent's children, less multiprocessing's resource tracker."""
    return [
        pid
        for pid in child_pids(parent)
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _processed(exposition: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("sentiflow_posts_processed_total")
    )


def start_workers(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cli = [sys.executable, "-m", "sentiflow", "worker", "--processes", "2"]
    return subprocess.Popen([*cli, "--metrics-port", str(port)], env=env)


@pytest.mark.timeout(240)
async def test_a_killed_worker_is_replaced_and_metrics_are_served(
    connected_settings: Settings,
) -> None:
    settings = connected_settings
    store = Store.from_settings(settings)
    await store.migrate()
    await store.close()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "SENTIFLOW_DATABASE_URL": str(settings.database_url),
        "SENTIFLOW_REDIS_URL": str(settings.redis_url),
        "SENTIFLOW_REDIS_PREFIX": settings.redis_prefix,
        "SENTIFLOW_DATA_DIR": str(settings.data_dir),
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "SENTIFLOW_SCHEDULER": "false",
    }
    process = start_workers(env, port)
    try:
        metrics = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")

        async def two_serving() -> bool:
            try:
                answered = (await metrics.get("/metrics")).status_code == 200
            except httpx.HTTPError:
                return False
            return answered and len(_workers(process.pid)) == 2

        await wait_for(two_serving, timeout=60)
        first = _workers(process.pid)
        os.kill(first[0], signal.SIGKILL)

        async def replaced() -> bool:
            now = set(_workers(process.pid))
            return len(now) == 2 and first[0] not in now

        await wait_for(replaced, timeout=60)
        assert process.poll() is None

        app = create_app(settings, worker=False)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as api,
        ):
            body = [{"source": "w", "external_id": str(i), "text": f"fine {i}"} for i in range(300)]
            assert (await api.post("/api/posts", json=body)).status_code == 202

            async def counted() -> bool:
                summary = await api.get(
                    "/api/stats/summary", params={"source": "w", "since": "2000-01-01T00:00:00Z"}
                )
                return bool(summary.json()["total"] == 300)

            await wait_for(counted, timeout=90)

        async def shown() -> bool:
            return _processed((await metrics.get("/metrics")).text) >= 300

        await wait_for(shown, timeout=30)
        await metrics.aclose()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
