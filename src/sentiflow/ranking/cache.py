"""The stored analyses an API process looked up lately, reused for `ttl_s` seconds.

Feeds overlap: the posts a client sends to be ranked come back in its next feed and in other
users' feeds. Reading 450 stored analyses and turning them into objects was half of a 500-item
request's CPU; a recent one costs a dictionary lookup. What is reused may be up to `ttl_s` old,
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
        # Insertion order is expiry order (one TTL for all), so the oldest entries come first.
        self._entries: OrderedDict[Hashable, tuple[float, Analysis]] = OrderedDict()

    def get(self, keys: Sequence[Hashable]) -> list[Analysis | None]:
        """The fresh entry of each key, else None."""
        if not self.ttl_s:
            return [None] * len(keys)
        now = time.monotonic()
        get = self._entries.get
        return [
            entry[1] if (entry := get(key)) is not None and entry[0] > now else None for key in keys
        ]

    def put(self, entries: dict[Hashable, Analysis]) -> None:
        if not self.ttl_s or not entries:
            return
        now = time.monotonic()
        expires = now + self.ttl_s
        store = self._entries
        for key, analysis in entries.items():
            store[key] = (expires, analysis)
            store.move_to_end(key)  # it expires last
        excess = len(store) - self.max_entries
        while store:  # drop the expired, and the oldest while over the bound
            if excess <= 0 and next(iter(store.values()))[0] > now:
                break
            store.popitem(last=False)
            excess -= 1

    def __len__(self) -> int:
        return len(self._entries)
