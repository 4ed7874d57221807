"""Batch events: after each commit a worker publishes what it wrote, for caches and live clients.

`EventBus` is the protocol; `MemoryEventBus` fans out in process (embedded mode). Subscribers
get a bounded queue that drops its oldest event when full, so a slow reader never blocks a
publisher.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sentiflow.models import Analysis, PostIn


def batch_event(
    fresh: Sequence[tuple[PostIn, Analysis]],
    *,
    committed_at: float,
    samples: int = 5,
    minute_sums: Mapping[tuple[int, str, str, str, str], Sequence[float]] | None = None,
) -> dict[str, Any]:
    """The summary of one committed batch; `fresh` holds only the newly stored posts.
    `minute_sums`, the store's minute rollup increments of the same posts (`Written.sums`),
    spares a pass over them."""
    groups: Counter[tuple[str, str | None, int, str, str]]
    if minute_sums is not None:
        groups = Counter(
            {
                (source, topic or None, minute, s, e): int(sums[0])
                for (minute, source, topic, s, e), sums in minute_sums.items()
            }
        )
    else:
        # One pass over the posts builds the groups; every other figure comes from the
        # groups, which are few (a batch spans few minutes, sources and topics).
        groups = Counter(
            (p.source, p.topic, int(p.created_at.timestamp() // 60), a.sentiment, a.emotion)
            for p, a in fresh
        )
    sentiment: Counter[str] = Counter()
    emotion: Counter[str] = Counter()
    for (_, _, _, s, e), n in groups.items():
        sentiment[s] += n
        emotion[e] += n
    return {
        "type": "batch",
        "committed_at": committed_at,
        "count": len(fresh),
        "sentiment": dict(sentiment),
        "emotion": dict(emotion),
        "sources": sorted({key[0] for key in groups}),
        "topics": sorted({key[1] for key in groups if key[1]}),
        "buckets": sorted({key[2] for key in groups}),
        # [source, topic, minute, sentiment, emotion, count]: lets a live client that filters
        # by source, topic or sentiment count exactly its own share of a mixed batch.
        "groups": [[*key, n] for key, n in groups.items()],
        "samples": [
            {
                "id": p.id,
                "source": p.source,
                "topic": p.topic,
                "text": p.text[:280],
                "created_at": p.created_at.isoformat(),
                "sentiment": a.sentiment,
                "sentiment_confidence": a.sentiment_confidence,
                "emotion": a.emotion,
                "emotion_confidence": a.emotion_confidence,
            }
            for p, a in fresh[-samples:]
        ],
    }


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class EventBus(Protocol):
    async def publish(self, event: dict[str, Any]) -> None: ...

    def subscribe(self, maxsize: int = 100) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def close(self) -> None: ...


class MemoryEventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    async def publish(self, event: dict[str, Any]) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def subscribe(self, maxsize: int = 100) -> Subscription:
        subscription = Subscription(maxsize)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def close(self) -> None:
        self._subscribers.clear()
