"""WS /ws/live: after each committed batch, a throttled summary for every dashboard and client.

Each client owns one bounded subscription on the event bus that drops its oldest event when
full, so the worker publishes without waiting for anyone and a stalled client only loses its own
oldest events. Events that arrive within one throttle window are merged into one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from sentiflow.events import EventBus, Subscription
from sentiflow.models import Sentiment
from sentiflow.runtime import Runtime
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.live")
router = APIRouter(tags=["live"])

# Close code for a client that could not take a message within live_send_timeout_s.
TOO_SLOW = 4008


@dataclass(frozen=True, slots=True)
class LiveFilter:
    source: str | None = None
    topic: str | None = None
    sentiment: str | None = None

    def matches(self, source: str | None, topic: str | None, sentiment: str | None) -> bool:
        return (
            (self.source is None or source == self.source)
            and (self.topic is None or topic == self.topic)
            and (self.sentiment is None or sentiment == self.sentiment)
        )


@dataclass
class LiveSummary:
    """What one client is told about the events of one throttle window, filtered for it."""

    where: LiveFilter
    samples_max: int
    count: int = 0
    sentiment: Counter[str] = field(default_factory=Counter)
    emotion: Counter[str] = field(default_factory=Counter)
    series: dict[int, Counter[str]] = field(default_factory=dict)
    commits: list[float] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    samples: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.samples = deque(maxlen=self.samples_max)

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "batch":
            self._add_batch(event)
        elif kind == "alert" and self.where.matches(
            event.get("source") or self.where.source, event.get("topic") or self.where.topic, None
        ):
            self.alerts.append(event)

    def _add_batch(self, event: dict[str, Any]) -> None:
        matched = 0
        for source, topic, minute, sentiment, emotion, n in event.get("groups", ()):
            if not self.where.matches(source, topic, sentiment):
                continue
            matched += n
            self.sentiment[sentiment] += n
            self.emotion[emotion] += n
            self.series.setdefault(minute * 60, Counter())[sentiment] += n
        if not matched:
            return
        self.count += matched
        self.commits.append(event["committed_at"])
        self.samples.extend(
            s
            for s in event.get("samples", ())
            if self.where.matches(s["source"], s["topic"], s["sentiment"])
        )

    @property
    def empty(self) -> bool:
        return not self.count and not self.alerts

    def message(self, dropped: int) -> dict[str, Any]:
        return {
            "type": "summary",
            "count": self.count,
            "sentiment": self.sentiment,
            "emotion": self.emotion,
            "series": [{"t": t, "counts": c} for t, c in sorted(self.series.items())],
            "samples": list(self.samples),
            "alerts": self.alerts,
            "commits": self.commits,
            "dropped": dropped,
        }


class LiveStats(BaseModel):
    clients: int = 0
    messages: int = 0
    dropped: int = 0
    disconnected_slow: int = 0


class LiveHub:
    """The live feed of one process: counters, and a ticker that wakes every client at most
    once per `interval` after events arrived. Clients with the same filter that drained the same
    events share one encoded message, so a thousand dashboards cost one JSON encoding."""

    def __init__(self) -> None:
        self.stats = LiveStats()
        self._open: set[Subscription] = set()
        self._tick = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._cache: dict[tuple[Any, ...], tuple[tuple[dict[str, Any], ...], str | None]] = {}

    def joined(self, subscription: Subscription, events: EventBus, settings: Settings) -> None:
        self._open.add(subscription)
        self.stats.clients += 1
        if self._ticker is None:
            run = self._run(events, settings.live_interval_s, settings.live_heartbeat_s)
            self._ticker = asyncio.create_task(run)

    def left(self, subscription: Subscription) -> None:
        self._open.discard(subscription)
        self.stats.clients -= 1
        self.stats.dropped += subscription.dropped
        if not self._open and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def snapshot(self) -> LiveStats:
        open_dropped = sum(s.dropped for s in self._open)
        return self.stats.model_copy(update={"dropped": self.stats.dropped + open_dropped})

    async def _run(self, events: EventBus, interval: float, heartbeat: float) -> None:
        # The hub's own subscription only says "something arrived"; each client reads the
        # events themselves from its own queue. A quiet spell of `heartbeat` seconds fires an
        # empty tick, on which clients with nothing to say send a ping: one timer, not one each.
        subscription = events.subscribe(maxsize=1)
        loop = asyncio.get_running_loop()
        last = loop.time() - interval
        try:
            while True:
                try:
                    async with asyncio.timeout(heartbeat):
                        await subscription.queue.get()
                except TimeoutError:
                    self._fire()
                    continue
                wait = last + interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                while not subscription.queue.empty():
                    subscription.queue.get_nowait()
                last = loop.time()
                self._fire()
        finally:
            events.unsubscribe(subscription)

    def _fire(self) -> None:
        self._cache.clear()
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def next_tick(self) -> None:
        await self._tick.wait()

    def encode(
        self, where: LiveFilter, samples: int, events: list[dict[str, Any]], dropped: int
    ) -> str | None:
        """The message for these events as `where` sees them; None when none concerns it."""
        key = (where, samples, dropped, *map(id, events))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        summary = LiveSummary(where, samples)
        for event in events:
            summary.add(event)
        payload = None if summary.empty else orjson.dumps(summary.message(dropped)).decode()
        # Holding the events keeps their ids from being reused while the key is cached.
        self._cache[key] = (tuple(events), payload)
        return payload


def hub_of(app: Any) -> LiveHub:
    state = app.state
    if not hasattr(state, "live"):
        state.live = LiveHub()
    hub: LiveHub = state.live
    return hub


@router.get("/api/live", response_model=LiveStats)
async def live_stats(request: Request) -> LiveStats:
    """Live clients connected to this process, messages sent and events dropped for slow ones."""
    return hub_of(request.app).snapshot()


@router.websocket("/ws/live")
async def live(
    websocket: WebSocket,
    source: str | None = None,
    topic: str | None = None,
    sentiment: Sentiment | None = None,
) -> None:
    """Summaries of committed batches (and alerts), at most one per `live_interval_s`,
    filtered by `source`, `topic` and `sentiment`; `{"type": "ping"}` when quiet."""
    runtime: Runtime = websocket.app.state.runtime
    hub = hub_of(websocket.app)
    await websocket.accept()
    subscription = runtime.events.subscribe(maxsize=runtime.settings.live_queue)
    hub.joined(subscription, runtime.events, runtime.settings)
    client = _Client(websocket, subscription, LiveFilter(source, topic, sentiment), runtime, hub)
    try:
        await client.serve()
    finally:
        runtime.events.unsubscribe(subscription)
        hub.left(subscription)


class _Client:
    def __init__(
        self,
        websocket: WebSocket,
        subscription: Subscription,
        where: LiveFilter,
        runtime: Runtime,
        hub: LiveHub,
    ) -> None:
        self.websocket = websocket
        self.subscription = subscription
        self.where = where
        self.settings: Settings = runtime.settings
        self.hub = hub
        self.loop = asyncio.get_running_loop()
        self.last_sent = self.loop.time()

    async def serve(self) -> None:
        pump = asyncio.create_task(self._pump())
        listen = asyncio.create_task(self._listen())
        try:
            await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, listen):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await task
        if pump.done() and not pump.cancelled() and isinstance(pump.exception(), TimeoutError):
            self.hub.stats.disconnected_slow += 1
            log.info("live.too_slow", dropped=self.subscription.dropped)
            with contextlib.suppress(Exception):
                await self.websocket.close(TOO_SLOW, "too slow to read the live feed")

    async def _listen(self) -> None:
        """Read until the client goes; what it sends is ignored."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    async def _pump(self) -> None:
        queue = self.subscription.queue
        while True:
            if queue.empty():
                await self.hub.next_tick()
            else:
                # Events piled up during a slow send: keep to the throttle, then catch up.
                await asyncio.sleep(self.settings.live_interval_s)
            events = []
            while not queue.empty():
                events.append(queue.get_nowait())
            payload = self.hub.encode(
                self.where, self.settings.live_samples, events, self.subscription.dropped
            )
            quiet = self.loop.time() - self.last_sent >= self.settings.live_heartbeat_s * 0.9
            if payload is None and quiet:
                payload = orjson.dumps({"type": "ping", "at": time.time()}).decode()
            if payload is not None:
                await self._send(payload)

    async def _send(self, data: str) -> None:
        async with asyncio.timeout(self.settings.live_send_timeout_s):
            await self.websocket.send_text(data)
        self.last_sent = self.loop.time()
        self.hub.stats.messages += 1
