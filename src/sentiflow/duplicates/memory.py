"""The near-duplicate index in this process's memory (embedded mode: one worker sees every
post): the leaders of the last `window_s` seconds, at most `capacity` of them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from sentiflow.duplicates.base import MAX_DISTANCE, Item
from sentiflow.duplicates.fingerprint import bands, distance

DAY_S: Final = 86_400.0

# A leader: (fingerprint, post id, when it was seen).
_Leader = tuple[int, str, float]


class MemoryDuplicateIndex:
    def __init__(
        self,
        *,
        window_s: float = DAY_S,
        capacity: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._clock = clock
        self._bands: dict[tuple[int, int], list[_Leader]] = {}
        self._leaders: deque[_Leader] = deque()

    async def group(self, items: Sequence[Item]) -> list[str | None]:
        now = self._clock()
        self._forget(now)
        out: list[str | None] = []
        for post_id, fingerprint in items:
            if fingerprint is None:
                out.append(None)
                continue
            leader = self._find(fingerprint)
            if leader is None:
                self._remember((fingerprint, post_id, now))
            out.append(None if leader in (None, post_id) else leader)
        return out

    def _find(self, fingerprint: int) -> str | None:
        for band, value in enumerate(bands(fingerprint)):
            for known, post_id, _ in self._bands.get((band, value), ()):
                if distance(known, fingerprint) <= MAX_DISTANCE:
                    return post_id
        return None

    def _remember(self, leader: _Leader) -> None:
        self._leaders.append(leader)
        for band, value in enumerate(bands(leader[0])):
            self._bands.setdefault((band, value), []).append(leader)

    def _forget(self, now: float) -> None:
        """Drop the leaders past the window, and the oldest past the capacity."""
        leaders = self._leaders
        while leaders and (len(leaders) > self.capacity or leaders[0][2] < now - self.window_s):
            old = leaders.popleft()
            for band, value in enumerate(bands(old[0])):
                bucket = self._bands[(band, value)]
                bucket.remove(old)
                if not bucket:
                    del self._bands[(band, value)]

    async def close(self) -> None:
        self._bands.clear()
        self._leaders.clear()
