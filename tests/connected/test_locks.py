"""The lock contract, against Redis and in process: only the holder renews or releases, a
lease lapses when not renewed, fencing tokens grow."""

from __future__ import annotations

import asyncio

import pytest

from sentiflow.connections import RedisConnection
from sentiflow.locks import Locks, MemoryLocks
from sentiflow.locks.redis import RedisLocks
from tests.conftest import wait_for


async def check_contract(lock: Locks, prefix: str) -> None:
    key = f"{prefix}:lock:x"
    assert await lock.acquire(key, "a", 5)
    assert not await lock.acquire(key, "b", 5)
    assert await lock.get(key) == "a"
    assert not await lock.renew(key, "b", 5)
    assert not await lock.release(key, "b")
    assert await lock.renew(key, "a", 0.2)

    async def lapsed() -> bool:
        return await lock.get(key) is None

    await wait_for(lapsed, timeout=5)
    assert not await lock.renew(key, "a", 5), "an expired lease came back"
    assert await lock.acquire(key, "b", 5)
    assert not await lock.release(key, "a")
    assert await lock.release(key, "b")
    first, second = await asyncio.gather(lock.fence(f"{prefix}:f"), lock.fence(f"{prefix}:f"))
    assert {first, second} == {1, 2}


async def test_memory_locks() -> None:
    await check_contract(MemoryLocks(), "t")


@pytest.mark.connected
async def test_redis_locks(redis_connection: RedisConnection, redis_prefix: str) -> None:
    await check_contract(RedisLocks(redis_connection), redis_prefix)
