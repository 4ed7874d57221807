"""Token buckets in this process's memory (embedded mode: one process serves everything)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from sentiflow.ratelimit.base import Decision, Rate

# Buckets kept at most; the least recently used go first (a full bucket is the same as none).
MAX_BUCKETS: Final = 100_000


class MemoryRateLimiter:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._clock = clock

    async def hit(self, bucket: str, rate: Rate) -> Decision:
        now = self._clock()
        tokens, at = self._buckets.pop(bucket, (rate.capacity, now))
        tokens = min(rate.capacity, tokens + (now - at) * rate.per_s)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[bucket] = (tokens, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return Decision.of(rate, tokens, allowed)

    async def close(self) -> None:
        self._buckets.clear()
