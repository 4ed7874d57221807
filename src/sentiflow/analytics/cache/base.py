"""The `Cache` contract. Every entry may carry a `Scope` (source, topic, minute range). A batch
event becomes a `Change`; `invalidate(change)` drops only entries whose scope it touches.
`track` registers a scope before computing and `store` writes only if no invalidation hit the
scope meanwhile, so a result computed from data older than a batch is never cached after that
batch's event.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from sentiflow.events import BatchEvent


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
    """What one committed batch touched (from its `BatchEvent`); `everything` when that is
    unknown (events were lost), which touches every scope."""

    sources: frozenset[str]
    topics: frozenset[str]
    buckets: tuple[int, ...] = field(default=())
    everything: bool = False

    @classmethod
    def from_event(cls, event: BatchEvent) -> Change:
        return cls(
            sources=frozenset(event.get("sources", ())),
            topics=frozenset(event.get("topics", ())),
            buckets=tuple(sorted(event.get("buckets", ()))),
        )

    @classmethod
    def unknown(cls) -> Change:
        return cls(frozenset(), frozenset(), (), everything=True)

    def affects(self, scope: Scope) -> bool:
        if self.everything:
            return True
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


def cache_key(name: str, params: Sequence[tuple[str, Any]]) -> str:
    """A stable key for a normalised query: name, then its non-empty parameters in order."""
    parts = [name, *(f"{k}={v}" for k, v in sorted(params) if v is not None)]
    return "|".join(parts)
