"""`RedisEventBus`: distributed mode's events over Redis pub/sub, fanned out to this process's
subscribers, so every API process sees every worker's batches."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import orjson
import structlog
from redis import exceptions as rex

from sentiflow.connections import RedisConnection
from sentiflow.events.base import Event, Subscription
from sentiflow.keys import Keys

log = structlog.get_logger("sentiflow.events")


class RedisEventBus:
    """Publishing never fails the caller: events refresh caches and live views, and the data
    they describe is committed already."""

    def __init__(self, redis: RedisConnection, keys: Keys) -> None:
        self.redis = redis
        self.channel = keys.events_channel
        self._subscribers: set[Subscription] = set()
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, event: Event) -> None:
        try:
            await self.redis.client.publish(self.channel, orjson.dumps(event))
        except (rex.RedisError, OSError) as exc:
            log.warning("events.publish_failed", error=repr(exc))

    def subscribe(self, maxsize: int = 100) -> Subscription:
        subscription = Subscription(maxsize)
        self._subscribers.add(subscription)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def _listen(self) -> None:
        backoff = 0.1
        while self._subscribers:
            try:
                async with self.redis.client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    backoff = 0.1
                    await self._fan_out(pubsub)
            except (rex.RedisError, OSError) as exc:
                log.warning("events.listen_failed", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _fan_out(self, pubsub: Any) -> None:
        while self._subscribers:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            event = cast(Event, orjson.loads(message["data"]))
            for subscription in list(self._subscribers):
                subscription.offer(event)

    async def close(self) -> None:
        self._subscribers.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
