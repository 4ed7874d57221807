"""Distributed mode end to end against the real Redis and PostgreSQL: the API queues on Redis,
a worker stores into PostgreSQL; backpressure, /metrics, /health, a poison entry, the dlq CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sentiflow.api import create_app
from sentiflow.queue.codec import FIELD
from sentiflow.queue.redis import RedisStreamsBroker
from sentiflow.roles import ApiServices
from sentiflow.settings import Settings
from sentiflow.store import stats
from sentiflow.store.db import Store
from tests.conftest import wait_for

pytestmark = pytest.mark.connected
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
async def migrated(connected_settings: Settings) -> Settings:
    store = Store.from_settings(connected_settings)
    await store.migrate()
    await store.close()
    return connected_settings


@contextlib.asynccontextmanager
async def app_client(settings: Settings, *, worker: bool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, worker=worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def sentiflow(env: dict[str, str], *args: str) -> str:
    """Run the CLI as a user would, in its own process; its output (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sentiflow", *args,
        env={**os.environ, **env, "PYTHONPATH": SRC},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def total(settings: Settings) -> int:
    store = Store.from_settings(settings)
    try:
        return int((await stats.summary(store, stats.RollupFilter()))["total"])
    finally:
        await store.close()


async def test_full_redis_queue_answers_429_and_keeps_everything(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"queue_max": 1500})
    async with app_client(settings, worker=False) as api:
        body = [{"source": "s", "external_id": str(i), "text": f"post {i}"} for i in range(1000)]
        assert (await api.post("/api/posts", json=body)).status_code == 202
        more = [{"source": "s", "external_id": f"m{i}", "text": "more"} for i in range(600)]
        full = await api.post("/api/posts", json=more)
        assert full.status_code == 429
        assert int(full.headers["retry-after"]) >= 1
        assert "SENTIFLOW_QUEUE_MAX" in full.json()["error"]["message"]
        assert await api.app.state.services.broker.backlog() == 1000  # type: ignore[attr-defined]

        health = await api.get("/health")
        assert health.json() == {"status": "ok", "parts": {"store": "ok", "broker": "ok"}}
        exposition = (await api.get("/metrics")).text
        # One entry (the request) holding 1,000 posts, none delivered yet.
        assert "sentiflow_queue_backlog 1000.0" in exposition
        assert "sentiflow_queue_lag 1.0" in exposition
        assert "sentiflow_queue_pending 0.0" in exposition

    # A worker drains it; the accepted posts are all stored, the refused ones are not.
    async with app_client(settings, worker=True) as api:

        async def drained() -> bool:
            return await total(settings) == 1000

        await wait_for(drained, timeout=60)


async def test_poison_entry_is_dead_lettered_while_the_rest_flow(migrated: Settings) -> None:
    settings = migrated.model_copy(
        update={"max_deliveries": 3, "visibility_timeout_s": 0.5, "batch_size": 100}
    )
    env = {
        "SENTIFLOW_REDIS_URL": settings.redis_url or "",
        "SENTIFLOW_REDIS_PREFIX": settings.redis_prefix,
        "SENTIFLOW_DATABASE_URL": settings.database_url or "",
    }
    async with app_client(settings, worker=True) as api:
        services: ApiServices = api.app.state.services  # type: ignore[attr-defined]
        broker, admin = services.broker, services.admin
        assert isinstance(broker, RedisStreamsBroker)
        # Written past ingest's validation (an old producer, say): its source is longer than
        # the column, so every commit of it fails.
        poison: dict[str, Any] = {"source": "x" * 300, "text": "poison", "external_id": "p1", "author": None,
                  "created_at": "2026-01-01T00:00:00+00:00", "url": None, "topic": None,
                  "meta": {}}  # fmt: skip
        await broker.client.xadd(broker.stream, {FIELD: orjson.dumps(poison)})
        body = [{"source": "s", "external_id": str(i), "text": f"fine {i}"} for i in range(1000)]
        assert (await api.post("/api/posts", json=body)).status_code == 202

        async def settled() -> bool:
            return len(await admin.dead_letters()) == 1 and await broker.backlog() == 0

        await wait_for(settled, timeout=60)
        assert await total(settings) == 1000
        [letter] = await admin.dead_letters()
        assert letter.deliveries == 3
        assert "too long" in letter.reason
        assert letter.post.external_id == "p1"
        metrics = (await api.get("/metrics")).text
        assert "sentiflow_queue_dead 1.0" in metrics

        listed = await sentiflow(env, "dlq", "list")
        assert letter.id in listed
        assert "deliveries=3" in listed
        assert "1 dead letters queued again" in await sentiflow(env, "dlq", "replay", letter.id)

        async def back_in_the_dead_letters() -> bool:
            letters = await admin.dead_letters()
            return len(letters) == 1 and letters[0].id != letter.id

        await wait_for(back_in_the_dead_letters, timeout=60)
        assert await total(settings) == 1000
