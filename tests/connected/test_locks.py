"""The lock contract, against Redis and in process: only the holder renews or releases, a
lease lapses when not renewed, fencing tokens grow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sentiflow.locks import Locks, MemoryLocks, RedisLocks
from tests.conftest import REDIS_URL, wait_for


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.connected)])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Locks, str]]:
    if request.param == "memory":
        yield MemoryLocks(), "t"
        return
    prefix: str = request.getfixturevalue("redis_prefix")
    redis_locks = RedisLocks.from_url(REDIS_URL)
    yield redis_locks, prefix
    await redis_locks.close()


async def test_lock_contract(locks: tuple[Locks, str]) -> None:
    lock, prefix = locks
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
