"""The live hub behind WS /ws/live: after committed batches, a throttled summary for every
dashboard and client.

One hub per process reads the event bus and, at most once per `interval_s`, builds and
encodes one summary per distinct filter; every client with that filter is handed the same
encoded message. Each client has a bounded backlog of summaries that drops its oldest and its
own sending task, so the worker publishes without waiting for anyone and a stalled client only
loses its own oldest summaries.
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
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from sentiflow.events import BatchEvent, Event, EventBus
from sentiflow.events.base import Sample
from sentiflow.models import Alert
from sentiflow.settings import LiveSettings

log = structlog.get_logger("sentiflow.live")

# Close code for a client that could not take a message within `send_timeout_s`.
TOO_SLOW = 4008
# Batch events the hub may have waiting between two ticks; it drains them every tick, so only a
# blocked event loop reaches this.
EVENTS_MAX = 10_000
# Clients handed a message per turn of the event loop.
SLICE = 64


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
    alerts: list[Alert] = field(default_factory=list)
    samples: deque[Sample] = field(init=False)

    def __post_init__(self) -> None:
        self.samples = deque(maxlen=self.samples_max)

    def add(self, event: Event) -> None:
        if event["type"] == "batch":
            self._add_batch(event)
        elif event["type"] == "alert" and self.where.matches(
            event.get("source") or self.where.source, event.get("topic") or self.where.topic, None
        ):
            self.alerts.append(event)

    def _add_batch(self, event: BatchEvent) -> None:
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


def _send_text(message: dict[str, Any]) -> dict[str, Any]:
    """The ASGI message that sends `message` as one JSON text frame."""
    return {"type": "websocket.send", "text": orjson.dumps(message).decode()}


@dataclass(frozen=True, slots=True)
class _Window:
    """One tick as the clients of one filter see it: the events it covers and the encoded
    message for a client that has dropped nothing, shared by all of them."""

    events: tuple[Event, ...]
    message: dict[str, Any]


class LiveStats(BaseModel):
    clients: int = 0
    messages: int = 0
    dropped: int = 0
    disconnected_slow: int = 0


class Client:
    """One WebSocket of the feed: a bounded backlog of windows (the oldest dropped when full) and
    a task that sends them; the hub only appends, so it never waits for this client."""

    def __init__(self, websocket: WebSocket, where: LiveFilter, settings: LiveSettings) -> None:
        self.websocket = websocket
        self.where = where
        self.samples = settings.samples
        self.backlog: deque[_Window] = deque(maxlen=settings.queue)
        self.max_message_bytes = settings.max_message_bytes
        self.max_messages_per_s = settings.max_messages_per_s
        self.dropped = 0
        self.too_slow = False
        self.loop = asyncio.get_running_loop()
        self.last_sent = self.loop.time()
        self.sending_since: float | None = None
        self._wake: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def offer(self, window: _Window) -> None:
        if len(self.backlog) == self.backlog.maxlen:
            self.dropped += 1
        self.backlog.append(window)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def quiet(self, now: float, heartbeat: float) -> bool:
        """Nothing sent or waiting for most of a heartbeat: time for a ping."""
        return (
            self.sending_since is None
            and not self.backlog
            and now - self.last_sent >= heartbeat * 0.9
        )

    def stuck(self, now: float, timeout: float) -> bool:
        return self.sending_since is not None and now - self.sending_since > timeout

    def disconnect_slow(self) -> None:
        self.too_slow = True
        if self._pump is not None:
            self._pump.cancel()

    async def serve(self, stats: LiveStats) -> None:
        pump = self._pump = asyncio.create_task(self._send_all(stats))
        listen = asyncio.create_task(self._listen())
        try:
            await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, listen):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError):
                    await task
        if self.too_slow:
            stats.disconnected_slow += 1
            log.info("live.too_slow", dropped=self.dropped)
            # The close frame is a courtesy: a client that reads nothing will not read it either.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.websocket.close(TOO_SLOW, "too slow to read the live feed")

    async def _listen(self) -> None:
        """Read until the client goes; what it sends is ignored, but a client that sends too
        much, or too often, is closed (1009, 1008)."""
        window, count = self.loop.time(), 0
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            size = len(message.get("text") or "") + len(message.get("bytes") or b"")
            if size > self.max_message_bytes:
                await self.websocket.close(1009, "message too large")
                return
            now = self.loop.time()
            if now - window >= 1.0:
                window, count = now, 0
            count += 1
            if count > self.max_messages_per_s:
                await self.websocket.close(1008, "too many messages")
                return

    async def _send_all(self, stats: LiveStats) -> None:
        while True:
            if not self.backlog:
                self._wake = self.loop.create_future()
                await self._wake
            message = self._next_message()
            self.sending_since = self.loop.time()
            await self.websocket.send(message)
            self.sending_since = None
            self.last_sent = self.loop.time()
            stats.messages += 1

    def _next_message(self) -> dict[str, Any]:
        if len(self.backlog) == 1 and not self.dropped:
            return self.backlog.popleft().message
        # A client that fell behind gets what it has waiting merged into one message, which
        # says how many windows it lost; only such clients cost an encoding of their own.
        summary = LiveSummary(self.where, self.samples)
        for window in self.backlog:
            for event in window.events:
                summary.add(event)
        self.backlog.clear()
        if summary.empty:
            return _send_text({"type": "ping", "at": time.time()})
        return _send_text(summary.message(self.dropped))


class LiveHub:
    """The live feed of one process: its clients grouped by filter, and a ticker that, at most
    once per `interval_s` after events arrived, hands each group one shared encoded summary."""

    def __init__(self, events: EventBus, settings: LiveSettings) -> None:
        self.stats = LiveStats()
        self.events = events
        self.settings = settings
        self._groups: dict[LiveFilter, set[Client]] = {}
        self._ticker: asyncio.Task[None] | None = None

    def join(self, client: Client) -> None:
        self._groups.setdefault(client.where, set()).add(client)
        self.stats.clients += 1
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._run())

    def leave(self, client: Client) -> None:
        group = self._groups.get(client.where, set())
        group.discard(client)
        if not group:
            self._groups.pop(client.where, None)
        self.stats.clients -= 1
        self.stats.dropped += client.dropped
        if not self._groups and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def snapshot(self) -> LiveStats:
        open_dropped = sum(c.dropped for group in self._groups.values() for c in group)
        return self.stats.model_copy(update={"dropped": self.stats.dropped + open_dropped})

    async def _run(self) -> None:
        # A quiet spell of `heartbeat` seconds fires an empty tick, on which clients with
        # nothing to say get a ping: one timer, not one per client.
        interval, heartbeat = self.settings.interval_s, self.settings.heartbeat_s
        subscription = self.events.subscribe(maxsize=EVENTS_MAX)
        loop = asyncio.get_running_loop()
        last = loop.time() - interval
        try:
            while True:
                try:
                    async with asyncio.timeout(heartbeat):
                        first = await subscription.queue.get()
                except TimeoutError:
                    await self.tick([])
                    continue
                wait = last + interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                events = [first]
                while not subscription.queue.empty():
                    events.append(subscription.queue.get_nowait())
                last = loop.time()
                if subscription.dropped:
                    log.warning("live.events_lost", n=subscription.dropped)
                    subscription.dropped = 0
                await self.tick(events)
        finally:
            self.events.unsubscribe(subscription)

    async def tick(self, events: list[Event]) -> None:
        """Hand every client the summary of `events` for its filter, or a ping when it has had
        nothing for a while; disconnect those stuck in one send for too long."""
        settings = self.settings
        now = asyncio.get_running_loop().time()
        covered = tuple(events)
        ping: _Window | None = None
        handed = 0
        for where, group in list(self._groups.items()):
            summary = LiveSummary(where, settings.samples)
            for event in covered:
                summary.add(event)
            window = None if summary.empty else _Window(covered, _send_text(summary.message(0)))
            for client in list(group):
                if window is not None:
                    client.offer(window)
                elif client.quiet(now, settings.heartbeat_s):
                    ping = ping or _Window((), _send_text({"type": "ping", "at": time.time()}))
                    client.offer(ping)
                if client.stuck(now, settings.send_timeout_s):
                    client.disconnect_slow()
                handed += 1
                if handed % SLICE == 0:
                    # The clients woken so far send in the next turn of the loop; yielding
                    # here lets the worker's callbacks run between slices, so a thousand
                    # clients never hold the loop for one long stretch.
                    await asyncio.sleep(0)
