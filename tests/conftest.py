"""Shared fixtures: embedded settings in a temp dir, and, for connected tests, a fresh
PostgreSQL database and Redis key prefix per test. Under CI=true a missing service fails the
run instead of skipping it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from sentiflow.connections import RedisConnection, connect
from sentiflow.settings import RedisSettings, Settings

PG_ADMIN = os.environ.get("SENTIFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SENTIFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Embedded mode's default analyzer, auto, runs the accurate tier (a few hundred texts/s): the
# tests pin builtin-fast, and those of auto ask for it by name.
os.environ.setdefault("SENTIFLOW_ANALYZER", "builtin-fast")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}; connected tests must run under CI=true", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings with a private data dir."""
    return Settings(data_dir=tmp_path / "data", demo_rate=0, analyzer_processes=0)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg  # type: ignore[import-untyped]

    name = f"sentiflow_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix private to one test; its keys are deleted afterwards."""
    require("Redis", "127.0.0.1", 6379)
    import redis.asyncio as redis

    prefix = f"sftest-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def redis_at(url: str = REDIS_URL, *, timeout_s: float = 5.0) -> RedisConnection:
    """A Redis connection made as a sentiflow process makes its own (close it after)."""
    return connect(RedisSettings(url=url, prefix="", connect_timeout_s=2.0, timeout_s=timeout_s))


@pytest.fixture
async def redis_connection(redis_prefix: str) -> AsyncIterator[RedisConnection]:
    """A connection to the shared Redis, closed afterwards (keys under `redis_prefix`)."""
    connection = redis_at()
    yield connection
    await connection.close()


@pytest.fixture
def connected_settings(tmp_path: Path, pg_url: str, redis_prefix: str) -> Settings:
    """Distributed-mode settings against the real services, isolated per test."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=pg_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        demo_rate=0,
        analyzer_processes=0,
        # Distributed mode requires keys by default; tests of keys and scopes turn it back on.
        auth="disabled",
    )


@contextlib.asynccontextmanager
async def app_client(settings: Settings, *, worker: bool) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on an app of `settings`, lifespan included; `.app` is the app."""
    from sentiflow.api import create_app

    app = create_app(settings, worker=worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on an embedded app (worker in process), lifespan included."""
    async with app_client(settings, worker=True) as c:
        yield c


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Poll `predicate` until it is true, failing after `timeout` seconds: a ceiling for a
    loaded machine (a passing test returns as soon as the condition holds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)
