"""Events after commits (batches, alerts, corrections, datasets) for caches and live clients:
an `EventBus` protocol (`base`), in process (`memory`) or over Redis pub/sub (`redis`)."""

from sentiflow.events.base import (
    AlertEvent,
    BatchEvent,
    CorrectionsEvent,
    DatasetEvent,
    Event,
    EventBus,
    Subscription,
)
from sentiflow.events.memory import MemoryEventBus

__all__ = [
    "AlertEvent",
    "BatchEvent",
    "CorrectionsEvent",
    "DatasetEvent",
    "Event",
    "EventBus",
    "MemoryEventBus",
    "Subscription",
]
