"""Distributed mode under failure: a worker killed mid-batch, PostgreSQL gone for a few seconds,
Redis killed and restarted. Each time: nothing lost, nothing counted twice.

The shared services are never stopped. PostgreSQL's outage is a TCP proxy this test owns, put
between the worker and the shared server, that drops every connection and refuses new ones for
a few seconds. Redis's restart is a private redis-server (AOF on) on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from sentiflow.api import create_app
from sentiflow.errors import Unavailable
from sentiflow.ingest.service import submit
from sentiflow.keys import Keys
from sentiflow.queue.redis import RedisStreamsBroker
from sentiflow.queue.redis_admin import RedisStreamsAdmin
from sentiflow.roles import run_worker
from sentiflow.settings import Settings
from sentiflow.store import stats
from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, posts
from tests.conftest import redis_at, wait_for
from tests.connected.servers import PrivateRedis, free_port

pytestmark = pytest.mark.connected
SRC = str(Path(__file__).resolve().parents[2] / "src")


def bodies(n: int, *, tag: str = "p", per: int = 1000) -> Iterator[list[dict[str, str]]]:
    moods = ("I love it, wonderful", "this is awful and I hate it", "it arrived on tuesday")
    for start in range(0, n, per):
        yield [
            {"source": "chaos", "external_id": f"{tag}{i}", "text": f"{moods[i % 3]} #{i}"}
            for i in range(start, min(n, start + per))
        ]


async def counts(settings: Settings) -> tuple[int, int, int]:
    """Posts, analyses, and the rollups' total, read straight from the database."""
    store = Store.from_settings(settings)
    try:
        async with store.engine.connect() as conn:
            n_posts = (await conn.execute(select(func.count()).select_from(posts))).scalar_one()
            n_analyses = (
                await conn.execute(select(func.count()).select_from(analyses))
            ).scalar_one()
        total = (await stats.summary(store, stats.RollupFilter()))["total"]
    finally:
        await store.close()
    return int(n_posts), int(n_analyses), int(total)


@pytest.fixture
async def migrated(connected_settings: Settings) -> Settings:
    store = Store.from_settings(connected_settings)
    await store.migrate()
    await store.close()
    return connected_settings


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": SRC,
        "SENTIFLOW_DATABASE_URL": settings.database_url or "",
        "SENTIFLOW_REDIS_URL": settings.redis_url or "",
        "SENTIFLOW_REDIS_PREFIX": settings.redis_prefix,
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "SENTIFLOW_LOG_LEVEL": "WARNING",
        **extra,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own, so kill -9 of its group takes any child process with it.
    return subprocess.Popen(
        [sys.executable, "-m", "sentiflow", "worker", "--batch-size", "1000", "--concurrency", "2"],
        env=env,
        start_new_session=True,
    )


@pytest.mark.timeout(600)
async def test_worker_killed_mid_batch_loses_and_doubles_nothing(migrated: Settings) -> None:
    n = 100_000
    settings = migrated.model_copy(update={"queue_max": n, "visibility_timeout_s": 3.0})
    env = worker_env(settings, SENTIFLOW_VISIBILITY_TIMEOUT_S="3")
    redis = redis_at(settings.redis_url or "")
    keys = Keys(settings.redis_prefix)
    broker = RedisStreamsBroker(redis, keys, settings.queue)
    admin = RedisStreamsAdmin(redis, keys)
    await broker.start()
    victim, survivor = start_worker(env), start_worker(env)
    workers = [victim, survivor]
    try:
        for body in bodies(n):
            assert not (await submit(broker, body)).rejected
        victim_name = f"{socket.gethostname()}-{victim.pid}"

        async def victim_mid_batch() -> bool:
            summary = await redis.client.xpending(broker.stream, broker.group)
            held = {c["name"].decode(): c["pending"] for c in summary["consumers"]}
            return held.get(victim_name, 0) > 0 and (await counts(settings))[0] >= 5_000

        await wait_for(victim_mid_batch, timeout=120)
        os.killpg(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        workers.append(start_worker(env))  # what a supervisor would do

        async def all_stored() -> bool:
            return await broker.backlog() == 0 and (await counts(settings))[0] == n

        await wait_for(all_stored, timeout=420)
        assert await counts(settings) == (n, n, n)
        assert await admin.dead_letters() == []
        pending = await redis.client.xpending(broker.stream, broker.group)
        assert pending["pending"] == 0  # the victim's batch was reclaimed and acknowledged

        # SIGTERM: each live worker finishes what it holds and exits cleanly.
        for worker in workers[1:]:
            worker.terminate()
        assert [w.wait(timeout=60) for w in workers[1:]] == [0, 0]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        await redis.close()


class TcpProxy:
    """A TCP proxy in front of PostgreSQL that can drop everything and refuse connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """The database 'stops': every open connection is cut, new ones are refused."""
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.writers -= {writer, up_writer}


async def test_postgres_outage_workers_wait_and_resume(migrated: Settings) -> None:
    n = 20_000
    proxy = TcpProxy(("127.0.0.1", 5432))
    await proxy.start()
    db = migrated.database_url or ""
    via_proxy = db.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert via_proxy != db
    settings = migrated.model_copy(
        update={"database_url": via_proxy, "queue_max": n, "scheduler": False}
    )
    redis = redis_at(settings.redis_url or "")
    keys = Keys(settings.redis_prefix)
    broker, admin = RedisStreamsBroker(redis, keys, settings.queue), RedisStreamsAdmin(redis, keys)
    # A worker in this process, its store behind the proxy.
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, consumer="chaos"))
    store = Store.from_settings(settings)
    try:
        await broker.start()
        for body in bodies(n):
            await submit(broker, body)

        async def some_stored() -> bool:
            return (await counts(migrated))[0] >= 3_000

        await wait_for(some_stored, timeout=60)
        await proxy.stop()
        with pytest.raises(Unavailable) as down:
            await store.ping()
        assert down.value.part == "store"
        assert f"127.0.0.1:{proxy.port}" in down.value.message
        held_back = (await counts(migrated))[0]
        await asyncio.sleep(3)  # the outage itself, not a wait for a condition
        assert (await counts(migrated))[0] == held_back
        await proxy.start()

        async def all_stored() -> bool:
            return await broker.backlog() == 0 and (await counts(migrated))[0] == n

        await wait_for(all_stored, timeout=120)
        assert await counts(migrated) == (n, n, n)
        assert await admin.dead_letters() == []
    finally:
        stop.set()
        await worker
        await store.close()
        await redis.close()
        with contextlib.suppress(AssertionError, RuntimeError):
            await proxy.stop()


async def test_redis_restart_api_answers_503_then_everything_reconnects(
    migrated: Settings, private_redis: PrivateRedis
) -> None:
    settings = migrated.model_copy(
        update={"redis_url": private_redis.url, "redis_prefix": "sentiflow", "batch_size": 200}
    )
    app = create_app(settings, worker=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            for body in bodies(3_000, tag="before"):
                assert (await api.post("/api/posts", json=body)).status_code == 202

            async def some_stored() -> bool:
                return (await counts(settings))[0] >= 200

            await wait_for(some_stored, timeout=60)
            private_redis.kill()

            refused = await api.post("/api/posts", json={"source": "s", "text": "while down"})
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "unavailable"
            assert f"127.0.0.1:{private_redis.port}" in refused.json()["error"]["message"]
            health = await api.get("/health")
            assert health.status_code == 503
            assert health.json()["parts"] == {"store": "ok", "broker": "down"}
            assert health.json()["error"]["field"] == "broker"

            await private_redis.start()

            async def healthy() -> bool:
                return (await api.get("/health")).status_code == 200

            await wait_for(healthy, timeout=30)
            for body in bodies(3_000, tag="after"):
                accepted = await api.post("/api/posts", json=body)
                assert accepted.status_code == 202, accepted.text

            async def all_stored() -> bool:
                broker = app.state.services.broker
                return await broker.backlog() == 0 and (await counts(settings))[0] == 6_000

            await wait_for(all_stored, timeout=120)
            assert await counts(settings) == (6_000, 6_000, 6_000)


def test_keys_are_private_to_the_prefix() -> None:
    keys = Keys("p1")
    assert {keys.posts_stream, keys.dead_letters, keys.workers_group} == {
        "p1:stream:posts",
        "p1:stream:dead",
        "p1:workers",
    }
