"""`MemoryEventBus`: embedded mode's events, fanned out in process."""

from __future__ import annotations

from sentiflow.events.base import Event, Subscription


class MemoryEventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    async def publish(self, event: Event) -> None:
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
