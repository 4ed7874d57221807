"""A Redis that stops answering (SIGSTOP of a private redis-server, mid-traffic) behind real
`sentiflow api` processes: ingest and stats answer 503 within the configured Redis timeout
plus a second, /health within its own timeout plus a second and names the part, nothing
answers 500, and everything recovers after SIGCONT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from sentiflow.settings import Settings
from sentiflow.store.db import Store
from tests.conftest import wait_for
from tests.connected.servers import PrivateRedis, free_port

pytestmark = pytest.mark.connected

REDIS_TIMEOUT_S = 1.0
HEALTH_TIMEOUT_S = 0.5
# What the issue allows on top of each timeout.
SLACK_S = 1.0


@pytest.fixture(params=[True, False], ids=["rate-limits", "no-rate-limits"])
def rate_limits(request: pytest.FixtureRequest) -> bool:
    """With rate limits on (the default) each request first takes a token in Redis, so that
    is the part a 503 names; without, the broker (ingest) and the cache (stats) do."""
    return bool(request.param)


@pytest.fixture
async def api(
    connected_settings: Settings, private_redis: PrivateRedis, rate_limits: bool
) -> AsyncIterator[httpx.AsyncClient]:
    """Two `sentiflow api` processes on a migrated database and the private Redis."""
    store = Store.from_settings(connected_settings)
    await store.migrate()
    await store.close()
    port = free_port()
    env = {
        **os.environ,
        "SENTIFLOW_DATABASE_URL": connected_settings.database_url or "",
        "SENTIFLOW_REDIS_URL": private_redis.url,
        "SENTIFLOW_REDIS_PREFIX": connected_settings.redis_prefix,
        "SENTIFLOW_REDIS_TIMEOUT_S": str(REDIS_TIMEOUT_S),
        "SENTIFLOW_HEALTH_TIMEOUT_S": str(HEALTH_TIMEOUT_S),
        "SENTIFLOW_AUTH": "disabled",
        "SENTIFLOW_RATE_LIMITS": str(rate_limits).lower(),
        "SENTIFLOW_DATA_DIR": str(connected_settings.data_dir),
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "SENTIFLOW_LOG_LEVEL": "WARNING",
    }
    server = start_api(env, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def healthy() -> bool:
                if server.poll() is not None:
                    raise AssertionError(f"`sentiflow api` exited with {server.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/health")).status_code == 200
                return False

            await wait_for(healthy, timeout=90)
            yield client
    finally:
        stop_api(server)


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    # A session of its own, so that the whole group can be killed should it hang.
    return subprocess.Popen(
        [sys.executable, "-m", "sentiflow", "api", "--port", str(port), "--workers", "2"],
        env=env,
        start_new_session=True,
    )


def stop_api(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def batch(tag: str, n: int = 20) -> list[dict[str, str]]:
    return [{"source": "pause", "external_id": f"{tag}-{i}", "text": f"post {i}"} for i in range(n)]


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call()
    return response, time.monotonic() - started


@pytest.mark.timeout(240)
async def test_paused_redis_answers_503_in_time_and_everything_recovers(
    api: httpx.AsyncClient, private_redis: PrivateRedis, rate_limits: bool
) -> None:
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def traffic() -> None:
        """Ingest and stats in a loop, as clients keep calling through the outage."""
        n = 0
        while not stop.is_set():
            n += 1
            for response in await asyncio.gather(
                api.post("/api/posts", json=batch(f"bg{n}")), api.get("/api/stats/summary")
            ):
                statuses[response.status_code] += 1

    background = asyncio.create_task(traffic())
    try:

        async def flowing() -> bool:
            return statuses[202] >= 5 and statuses[200] >= 5

        await wait_for(flowing, timeout=60)
        private_redis.pause()

        ingest, ingest_s = await timed(lambda: api.post("/api/posts", json=batch("paused")))
        stats, stats_s = await timed(lambda: api.get("/api/stats/summary"))
        health, health_s = await timed(lambda: api.get("/health"))
    finally:
        private_redis.resume()
    try:
        assert ingest.status_code == 503, ingest.text
        assert ingest.json()["error"]["code"] == "unavailable"
        assert ingest.json()["error"]["field"] == ("ratelimit" if rate_limits else "broker")
        assert f"127.0.0.1:{private_redis.port}" in ingest.json()["error"]["message"]
        assert ingest_s < REDIS_TIMEOUT_S + SLACK_S, ingest_s
        assert stats.status_code == 503, stats.text
        assert stats.json()["error"]["field"] == ("ratelimit" if rate_limits else "cache")
        assert stats_s < REDIS_TIMEOUT_S + SLACK_S, stats_s
        assert health.status_code == 503, health.text
        assert health.json()["parts"] == {"store": "ok", "broker": "down"}
        assert health.json()["error"]["field"] == "broker"
        assert health_s < HEALTH_TIMEOUT_S + SLACK_S, health_s

        async def recovered() -> bool:
            answers = await asyncio.gather(
                api.post("/api/posts", json=batch(f"after{time.monotonic_ns()}")),
                api.get("/api/stats/summary"),
                api.get("/health"),
            )
            return [r.status_code for r in answers] == [202, 200, 200]

        await wait_for(recovered, timeout=30)
    finally:
        stop.set()
        await background
    # Throughout, Redis trouble was a 503, never an unexplained 500.
    assert set(statuses) <= {200, 202, 503}, statuses
    assert statuses[503] > 0
