"""The analytics cache: a small `Cache` protocol, the in-process `MemoryCache`, and
`single_flight`, which makes N concurrent identical misses run one computation.

Every entry may carry a `Scope` (source, topic, minute range). A batch event becomes a
`Change`; `invalidate(change)` drops only entries whose scope it touches. `track` registers a
scope before computing and `store` writes only if no invalidation hit the scope meanwhile, so a
result computed from data older than a batch is never cached after that batch's event.
"""

from __future__ import annotations

import asyncio
import bisect
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import structlog

log = structlog.get_logger("sentiflow.cache")


@dataclass(frozen=True, slots=True)
class Scope:
    """What an entry was computed from: None means every source / topic."""

    source: str | None
    topic: str | None
    lo: int
    hi: int

    def dumps(self) -> str:
        return orjson.dumps([self.source, self.topic, self.lo, self.hi]).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> Scope:
        source, topic, lo, hi = orjson.loads(raw)
        return cls(source, topic, lo, hi)


@dataclass(frozen=True, slots=True)
class Change:
    """What one committed batch touched (from `events.batch_event`)."""

    sources: frozenset[str]
    topics: frozenset[str]
    buckets: tuple[int, ...] = field(default=())

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Change:
        return cls(
            sources=frozenset(event.get("sources", ())),
            topics=frozenset(event.get("topics", ())),
            buckets=tuple(sorted(event.get("buckets", ()))),
        )

    def affects(self, scope: Scope) -> bool:
        if scope.source is not None and scope.source not in self.sources:
            return False
        # Events list only named topics, so an entry about posts without one ('') is always hit.
        if scope.topic and scope.topic not in self.topics:
            return False
        i = bisect.bisect_left(self.buckets, scope.lo)
        return i < len(self.buckets) and self.buckets[i] < scope.hi


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """Store unconditionally (no scope: only the TTL ends it)."""

    async def delete(self, key: str) -> None: ...

    async def track(self, key: str, scope: Scope, *, ttl: float) -> str:
        """Register `key`'s scope before computing it; returns a token for `store`."""

    async def store(self, key: str, value: bytes, *, token: str, ttl: float) -> bool:
        """Store iff no invalidation has hit the scope registered with `token`."""

    async def invalidate(self, change: Change) -> int:
        """Drop the entries whose scope `change` touches; returns how many."""

    async def acquire(self, name: str, ttl: float) -> str | None:
        """Take lock `name` for `ttl` seconds: a token, or None when someone holds it."""

    async def release(self, name: str, token: str) -> bool:
        """Free lock `name` only if `token` still holds it."""

    async def clear(self) -> None:
        """Drop every entry (benches measure cold reads with it)."""

    async def close(self) -> None: ...


class MemoryCache:
    """In-process cache for embedded mode; same contract as `RedisCache`."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}
        self._scopes: dict[str, dict[str, tuple[Scope, str]]] = {}
        self._locks: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> bytes | None:
        hit = self._values.get(key)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            del self._values[key]
            return None
        return hit[0]

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._values[key] = (value, time.monotonic() + ttl)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def track(self, key: str, scope: Scope, *, ttl: float) -> str:
        token = secrets.token_hex(8)
        self._scopes.setdefault(scope.source or "*", {})[key] = (scope, token)
        return token

    async def store(self, key: str, value: bytes, *, token: str, ttl: float) -> bool:
        for entries in self._scopes.values():
            held = entries.get(key)
            if held is not None and held[1] == token:
                await self.set(key, value, ttl=ttl)
                return True
        return False

    async def invalidate(self, change: Change) -> int:
        dropped = 0
        for source in [*change.sources, "*"]:
            entries = self._scopes.get(source, {})
            for key in [k for k, (scope, _) in entries.items() if change.affects(scope)]:
                del entries[key]
                dropped += self._values.pop(key, None) is not None
        return dropped

    async def acquire(self, name: str, ttl: float) -> str | None:
        held = self._locks.get(name)
        if held is not None and held[1] > time.monotonic():
            return None
        token = secrets.token_hex(8)
        self._locks[name] = (token, time.monotonic() + ttl)
        return token

    async def release(self, name: str, token: str) -> bool:
        held = self._locks.get(name)
        if held is None or held[0] != token:
            return False
        del self._locks[name]
        return True

    async def clear(self) -> None:
        self._values.clear()
        self._scopes.clear()

    async def close(self) -> None:
        await self.clear()


@dataclass
class Flight:
    """Counters of `single_flight`: how many calls computed, hit, or waited."""

    computed: int = 0
    hits: int = 0
    waited: int = 0
    stale: int = 0


async def single_flight(
    cache: Cache,
    key: str,
    compute: Callable[[], Awaitable[Any]],
    *,
    scope: Scope | None,
    ttl: float,
    lock_ttl: float,
    stats: Flight | None = None,
) -> bytes:
    """The cached JSON of `key`, computing it at most once across every process sharing `cache`.

    The first caller to miss takes a lock (SET NX EX with a token); the others poll the cache
    until the value appears or the lock is gone (its holder failed, or its result was
    invalidated before it was stored), and then try again themselves.
    """
    stats = stats or Flight()
    deadline = time.monotonic() + lock_ttl * 2
    pause = 0.005
    while True:
        value = await cache.get(key)
        if value is not None:
            stats.hits += 1
            return value
        token = await cache.acquire(f"flight:{key}", lock_ttl)
        if token is not None:
            try:
                # Another caller may have stored it between our miss and our lock.
                value = await cache.get(key)
                if value is not None:
                    stats.hits += 1
                    return value
                tracked = await cache.track(key, scope, ttl=ttl) if scope else None
                stats.computed += 1
                value = orjson.dumps(await compute())
                if tracked is None:
                    await cache.set(key, value, ttl=ttl)
                elif not await cache.store(key, value, token=tracked, ttl=ttl):
                    stats.stale += 1
                return value
            finally:
                await cache.release(f"flight:{key}", token)
        stats.waited += 1
        if time.monotonic() > deadline:
            # The lock holder is stuck past twice its lease: answer rather than wait forever.
            log.warning("cache.flight_timeout", key=key)
            stats.computed += 1
            return orjson.dumps(await compute())
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.05)


def cache_key(name: str, params: Sequence[tuple[str, Any]]) -> str:
    """A stable key for a normalised query: name, then its non-empty parameters in order."""
    parts = [name, *(f"{k}={v}" for k, v in sorted(params) if v is not None)]
    return "|".join(parts)
