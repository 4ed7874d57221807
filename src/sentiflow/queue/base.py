"""The `Broker` contract: at-least-once delivery of posts from ingest to workers, and the
`BrokerAdmin` side that operators and /metrics use (queue figures, dead letters).

A delivery is acknowledged only after its post is committed to the store. A delivery that
fails is retried; after `max_deliveries` tries it is moved to the dead letters with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sentiflow.models import PostIn


@dataclass(slots=True)
class Delivery:
    """One post handed to a worker. `id` is the broker's handle for ack/fail; `accepted_at`
    (Unix seconds) is when the broker queued it, for accept-to-commit latency. Not frozen:
    one is made per post, and a frozen dataclass costs several times as much to make."""

    id: str
    post: PostIn
    deliveries: int = 1
    accepted_at: float = 0.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    post: PostIn
    reason: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue right now, for /metrics. `length`, `lag` and `pending` count the broker's
    entries (Redis: one per ingest request; memory: one per post); `backlog` and `dead`
    count posts."""

    length: int = 0
    lag: int = 0
    pending: int = 0
    backlog: int = 0
    dead: int = 0


@runtime_checkable
class Broker(Protocol):
    async def start(self) -> None:
        """Connect and create what is needed (idempotent)."""

    async def close(self) -> None: ...

    async def publish(self, posts: Sequence[PostIn]) -> None:
        """Queue all posts or none; raise `Backpressure` when the backlog is full."""

    async def consume(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        """Up to `count` deliveries for `consumer`, waiting up to `block_ms` for the first."""

    async def ack(self, deliveries: Sequence[Delivery]) -> None: ...

    async def touch(self, deliveries: Sequence[Delivery]) -> None:
        """Still working on these (e.g. waiting out a database outage): restart their
        visibility timeout, so they are not reclaimed and counted as another delivery."""

    async def fail(self, deliveries: Sequence[Delivery], reason: str) -> None:
        """Give deliveries back for another try, or dead-letter those out of tries."""

    async def backlog(self) -> int:
        """Posts accepted and not yet acknowledged."""

    async def ping(self) -> None:
        """Raise `Unavailable` when the broker cannot be reached."""


class BrokerAdmin(Protocol):
    async def stats(self) -> QueueStats: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def replay_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        """Queue dead letters again (all, or those ids); returns how many."""


async def drain(broker: Broker, timeout: float = 60.0) -> None:
    """Wait until the broker has nothing queued or in flight."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await broker.backlog():
        if loop.time() > deadline:
            raise TimeoutError(f"{await broker.backlog()} posts still queued")
        await asyncio.sleep(0.05)
