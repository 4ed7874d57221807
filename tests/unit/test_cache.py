"""The `Cache` contract and `single_flight`, on the in-process cache and locks. tests/connected
runs the same tests on `RedisCache` and `RedisLocks` (the locks' own contract is in
tests/connected/test_locks.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from sentiflow.analytics.cache import Cache, Change, MemoryCache, Scope
from sentiflow.analytics.flight import Flight, FlightPlan, single_flight
from sentiflow.keys import Keys
from sentiflow.locks import Locks, MemoryLocks
from tests.conftest import wait_for


@pytest.fixture
async def cache() -> AsyncIterator[Cache]:
    yield MemoryCache()


@pytest.fixture
def locks() -> Locks:
    return MemoryLocks()


@pytest.fixture
def keys() -> Keys:
    return Keys("t")


def plan(keys: Keys, key: str, scope: Scope | None) -> FlightPlan:
    return FlightPlan(key=key, lock=keys.lock(f"flight:{key}"), scope=scope, ttl=30, lock_ttl=10)


async def test_values_expire(cache: Cache) -> None:
    await cache.set("k", b"v", ttl=0.2)
    assert await cache.get("k") == b"v"

    async def gone() -> bool:
        return await cache.get("k") is None

    await wait_for(gone, timeout=5)
    await cache.set("k", b"v", ttl=30)
    await cache.delete("k")
    assert await cache.get("k") is None


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


async def test_unknown_change_drops_every_scoped_entry(cache: Cache) -> None:
    """What lost batch events would have touched is unknown: every scoped entry goes. An entry
    stored without a scope is ended by its TTL only, as batch events never touch it."""
    await cache.set("k", b"v", ttl=30)
    for key, scope in {
        "s": Scope(None, None, 0, 10),
        "a": Scope("a", "billing", 5, 6),
        "b": Scope("b", None, 0, 2**31 - 1),
    }.items():
        token = await cache.track(key, scope, ttl=30)
        assert await cache.store(key, b"v", token=token, ttl=30)
    assert await cache.invalidate(Change.unknown()) == 3
    assert [await cache.get(key) for key in ("s", "a", "b")] == [None, None, None]
    assert await cache.get("k") == b"v"


async def test_concurrent_misses_compute_once(cache: Cache, locks: Locks, keys: Keys) -> None:
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
                cache, locks, plan(keys, "q", Scope(None, None, 0, 10)), compute, stats=flight
            )
            for _ in range(100)
        )
    )
    assert calls == 1
    assert flight.computed == 1
    assert {orjson.loads(r)["answer"] for r in results} == {42}


async def test_failed_computation_lets_the_next_caller_retry(
    cache: Cache, locks: Locks, keys: Keys
) -> None:
    async def broken() -> dict[str, int]:
        raise RuntimeError("database went away")

    async def fine() -> dict[str, int]:
        return {"ok": 1}

    with pytest.raises(RuntimeError):
        await single_flight(cache, locks, plan(keys, "q", None), broken)
    raw = await single_flight(cache, locks, plan(keys, "q", None), fine)
    assert orjson.loads(raw) == {"ok": 1}
