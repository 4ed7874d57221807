"""`single_flight`: the cached answer of a query, computed at most once at a time across every
process that shares the cache and the locks, however many callers miss together."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from sentiflow.analytics.cache.base import Cache, Scope
from sentiflow.locks import Locks

log = structlog.get_logger("sentiflow.cache")


@dataclass
class Flight:
    """Counters of `single_flight`: how many calls computed, hit, or waited."""

    computed: int = 0
    hits: int = 0
    waited: int = 0
    stale: int = 0


@dataclass(frozen=True, slots=True)
class FlightPlan:
    """Where one query's answer lives and for how long: the cache key, the lock that lets one
    caller compute it, the scope it was computed from (None: only its TTL ends it)."""

    key: str
    lock: str
    scope: Scope | None
    ttl: float
    lock_ttl: float


async def single_flight(
    cache: Cache,
    locks: Locks,
    plan: FlightPlan,
    compute: Callable[[], Awaitable[Any]],
    *,
    stats: Flight | None = None,
) -> bytes:
    """The cached JSON of `plan.key`, computed by one caller at a time.

    The first caller to miss takes the lock (with a token of its own); the others poll the
    cache until the value appears or the lock is gone (its holder failed, or its result was
    invalidated before it was stored), and then try again themselves.
    """
    stats = stats or Flight()
    deadline = time.monotonic() + plan.lock_ttl * 2
    pause = 0.005
    while True:
        value = await cache.get(plan.key)
        if value is not None:
            stats.hits += 1
            return value
        token = secrets.token_hex(16)
        if await locks.acquire(plan.lock, token, plan.lock_ttl):
            try:
                return await _compute(cache, plan, compute, stats)
            finally:
                await locks.release(plan.lock, token)
        stats.waited += 1
        if time.monotonic() > deadline:
            # The lock holder is stuck past twice its lease: answer rather than wait forever.
            log.warning("cache.flight_timeout", key=plan.key)
            stats.computed += 1
            return orjson.dumps(await compute())
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.05)


async def _compute(
    cache: Cache, plan: FlightPlan, compute: Callable[[], Awaitable[Any]], stats: Flight
) -> bytes:
    """Under the lock: compute and store, unless another caller stored it between our miss
    and our lock."""
    value = await cache.get(plan.key)
    if value is not None:
        stats.hits += 1
        return value
    tracked = await cache.track(plan.key, plan.scope, ttl=plan.ttl) if plan.scope else None
    stats.computed += 1
    value = orjson.dumps(await compute())
    if tracked is None:
        await cache.set(plan.key, value, ttl=plan.ttl)
    elif not await cache.store(plan.key, value, token=tracked, ttl=plan.ttl):
        stats.stale += 1
    return value
