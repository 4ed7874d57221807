"""The stored analyses an API process looked up lately, reused for `ttl_s` seconds.

Feeds overlap: the posts a client sends to be ranked come back in its next feed and in other
users' feeds. Reading stored analyses and turning them into objects is a large share of a
ranking request's CPU; a recent one costs a dictionary lookup. What is reused may be up to `ttl_s` old,
so a human correction or a re-analysis shows in rankings that much later (the store is the
truth; every API process keeps its own cache). Posts not in the store are not remembered:
one stored a moment later is found on the next request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from sentiflow.models import Analysis


class RecentAnalyses:
    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        # When each entry expires. Insertion order is expiry order (one TTL for all), so the
        # oldest come first and expiring them stops at the first fresh one.
        self._entries: OrderedDict[Hashable, float] = OrderedDict()
        self._analyses: dict[Hashable, Analysis] = {}

    def get(self, keys: Sequence[Hashable]) -> list[Analysis | None]:
        """The fresh entry of each key, else None."""
        if not self.ttl_s:
            return [None] * len(keys)
        self._expire(time.monotonic())
        # One C-level pass: every entry left is fresh.
        return list(map(self._analyses.get, keys))

    def _expire(self, now: float) -> None:
        expiry, analyses = self._entries, self._analyses
        while expiry:
            key, expires = next(iter(expiry.items()))
            if expires > now:
                return
            del expiry[key], analyses[key]

    def put(self, entries: dict[Hashable, Analysis]) -> None:
        if not self.ttl_s or not entries:
            return
        now = time.monotonic()
        expires = now + self.ttl_s
        expiry = self._entries
        for key in entries:
            expiry[key] = expires
            expiry.move_to_end(key)  # it expires last
        self._analyses.update(entries)
        self._expire(now)
        while len(expiry) > self.max_entries:  # drop the oldest while over the bound
            key, _ = expiry.popitem(last=False)
            del self._analyses[key]

    def __len__(self) -> int:
        return len(self._entries)
