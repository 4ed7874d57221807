"""The `Cache` contract and `single_flight`, on the in-process cache. tests/connected runs the
same tests on `RedisCache`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from sentiflow.analytics.cache import Cache, Change, Flight, MemoryCache, Scope, single_flight
from tests.conftest import wait_for


@pytest.fixture
async def cache() -> AsyncIterator[Cache]:
    memory = MemoryCache()
    yield memory
    await memory.close()


async def test_values_expire(cache: Cache) -> None:
    await cache.set("k", b"v", ttl=0.2)
    assert await cache.get("k") == b"v"

    async def gone() -> bool:
        return await cache.get("k") is None

    await wait_for(gone, timeout=5)
    await cache.set("k", b"v", ttl=30)
    await cache.delete("k")
    assert await cache.get("k") is None


async def test_lock_is_exclusive_and_released_only_by_its_holder(cache: Cache) -> None:
    token = await cache.acquire("job", 30)
    assert token is not None
    assert await cache.acquire("job", 30) is None
    assert not await cache.release("job", "not-the-token")
    assert await cache.acquire("job", 30) is None
    assert await cache.release("job", token)
    assert await cache.acquire("job", 30) is not None


async def test_lock_lease_runs_out(cache: Cache) -> None:
    assert await cache.acquire("short", 0.2) is not None

    async def free() -> bool:
        return await cache.acquire("short", 30) is not None

    await wait_for(free, timeout=5)


async def test_invalidation_drops_only_touched_scopes(cache: Cache) -> None:
    scopes = {
        "all": Scope(None, None, 0, 2**31 - 1),
        "a": Scope("a", None, 0, 2**31 - 1),
        "b": Scope("b", None, 0, 2**31 - 1),
        "a-old": Scope("a", None, 0, 100),
        "a-billing": Scope("a", "billing", 0, 2**31 - 1),
        "a-login": Scope("a", "login", 0, 2**31 - 1),
        "a-no-topic": Scope("a", "", 0, 2**31 - 1),
    }
    for key, scope in scopes.items():
        token = await cache.track(key, scope, ttl=30)
        assert await cache.store(key, key.encode(), token=token, ttl=30)
    dropped = await cache.invalidate(
        Change(sources=frozenset({"a"}), topics=frozenset({"billing"}), buckets=(500, 501))
    )
    left = {key for key in scopes if await cache.get(key) is not None}
    assert left == {"b", "a-old", "a-login"}
    assert dropped == len(scopes) - len(left)


async def test_result_computed_before_an_invalidation_is_not_stored(cache: Cache) -> None:
    scope = Scope("a", None, 0, 1000)
    token = await cache.track("k", scope, ttl=30)
    await cache.invalidate(Change(frozenset({"a"}), frozenset(), (10,)))
    assert not await cache.store("k", b"stale", token=token, ttl=30)
    assert await cache.get("k") is None


async def test_clear_empties_the_cache(cache: Cache) -> None:
    await cache.set("k", b"v", ttl=30)
    token = await cache.track("s", Scope(None, None, 0, 10), ttl=30)
    await cache.store("s", b"v", token=token, ttl=30)
    await cache.clear()
    assert await cache.get("k") is None
    assert await cache.get("s") is None


async def test_concurrent_misses_compute_once(cache: Cache) -> None:
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return {"answer": 42}

    flight = Flight()
    results = await asyncio.gather(
        *(
            single_flight(
                cache,
                "q",
                compute,
                scope=Scope(None, None, 0, 10),
                ttl=30,
                lock_ttl=10,
                stats=flight,
            )
            for _ in range(100)
        )
    )
    assert calls == 1
    assert flight.computed == 1
    assert {orjson.loads(r)["answer"] for r in results} == {42}


async def test_failed_computation_lets_the_next_caller_retry(cache: Cache) -> None:
    async def broken() -> dict[str, int]:
        raise RuntimeError("database went away")

    async def fine() -> dict[str, int]:
        return {"ok": 1}

    with pytest.raises(RuntimeError):
        await single_flight(cache, "q", broken, scope=None, ttl=30, lock_ttl=10)
    raw = await single_flight(cache, "q", fine, scope=None, ttl=30, lock_ttl=10)
    assert orjson.loads(raw) == {"ok": 1}
