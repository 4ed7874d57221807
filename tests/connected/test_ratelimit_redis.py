"""Rate limits in distributed mode: the Redis token buckets meet the same contract as the
memory ones, and two API processes share one bucket per key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sentiflow.api import create_app
from sentiflow.connections import RedisConnection
from sentiflow.feedback.auth import create_key
from sentiflow.ratelimit.redis import RedisRateLimiter
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from tests.unit.ratelimit_contract import check_contract
from tests.unit.test_ratelimit import check_limited_key

pytestmark = pytest.mark.connected


async def test_redis_limiter_contract(redis_connection: RedisConnection, redis_prefix: str) -> None:
    await check_contract(RedisRateLimiter(redis_connection, f"{redis_prefix}:ratelimit"))
    client = redis_connection.client
    assert await client.exists(f"{redis_prefix}:ratelimit:a")
    assert 0 < await client.pttl(f"{redis_prefix}:ratelimit:a") <= 2000


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_two_api_processes_share_the_buckets(connected_settings: Settings) -> None:
    settings = connected_settings.model_copy(update={"auth": "required"})
    store = Store.from_settings(settings)
    await store.migrate()
    admin, _ = await create_key(store, name="root", scopes=["admin"])
    await store.close()
    first, second = _client(settings), _client(settings)
    one, two = await anext(first), await anext(second)
    try:
        assert one._transport.app is not two._transport.app  # type: ignore[attr-defined]
        await check_limited_key([one, two], admin)
    finally:
        for gen in (first, second):
            await anext(gen, None)
