"""The events a process publishes after a commit, and the `EventBus` contract.

Subscribers get a bounded queue that drops its oldest event when full, so a slow reader never
blocks a publisher. Every event is plain JSON (it crosses Redis as it is).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, Protocol, TypedDict

from sentiflow.models import Alert


class Sample(TypedDict):
    """A post of a batch, as live clients show it."""

    id: str
    source: str
    topic: str | None
    lang: str | None
    text: str
    created_at: str
    sentiment: str
    sentiment_confidence: float
    emotion: str
    emotion_confidence: float


class BatchEvent(TypedDict):
    """What one committed batch stored (only posts new to the store)."""

    type: Literal["batch"]
    committed_at: float
    count: int
    sentiment: dict[str, int]
    emotion: dict[str, int]
    sources: list[str]
    topics: list[str]
    buckets: list[int]
    # [source, topic, minute, sentiment, emotion, count]: lets a live client that filters
    # by source, topic or sentiment count exactly its own share of a mixed batch.
    groups: list[list[Any]]
    samples: list[Sample]


class AlertEvent(Alert):
    type: Literal["alert"]


class CorrectionsEvent(TypedDict):
    type: Literal["corrections"]
    count: int
    since_snapshot: int
    threshold: int


class DatasetEvent(TypedDict):
    type: Literal["dataset"]
    id: str
    rows: int


Event = BatchEvent | AlertEvent | CorrectionsEvent | DatasetEvent


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber of every process; never fails the caller."""

    def subscribe(self, maxsize: int = 100) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def close(self) -> None: ...
