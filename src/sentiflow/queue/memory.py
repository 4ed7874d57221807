"""`MemoryBroker`: the in-process broker of embedded mode, with the same contract as Redis; it is
its own admin (dead letters live in the process)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Sequence

from sentiflow.errors import Backpressure
from sentiflow.models import PostIn
from sentiflow.queue.base import DeadLetter, Delivery, QueueStats


class MemoryBroker:
    def __init__(
        self,
        *,
        max_backlog: int = 100_000,
        max_deliveries: int = 5,
        visibility_timeout_s: float = 30.0,
    ) -> None:
        self.max_backlog = max_backlog
        self.max_deliveries = max_deliveries
        self.visibility_timeout_s = visibility_timeout_s
        self._ready: deque[Delivery] = deque()
        # Insertion-ordered, so the oldest delivery (the first to time out) comes first.
        self._pending: dict[str, tuple[Delivery, float]] = {}
        self._dead: dict[str, DeadLetter] = {}
        self._ids = itertools.count(1)
        self._wakeup = asyncio.Event()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, posts: Sequence[PostIn]) -> None:
        if await self.backlog() + len(posts) > self.max_backlog:
            raise Backpressure(
                f"the queue holds {await self.backlog():,} posts (limit {self.max_backlog:,}); "
                "retry after a moment or raise SENTIFLOW_QUEUE_MAX",
                retry_after=1.0,
            )
        now = time.time()
        self._ready.extend(
            Delivery(id=str(next(self._ids)), post=post, accepted_at=now) for post in posts
        )
        self._wakeup.set()

    async def consume(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        self._reclaim()
        if not self._ready and block_ms > 0:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), block_ms / 1000)
            except TimeoutError:
                self._reclaim()
        batch = [self._ready.popleft() for _ in range(min(count, len(self._ready)))]
        deadline = time.monotonic() + self.visibility_timeout_s
        self._pending.update((d.id, (d, deadline)) for d in batch)
        return batch

    def _reclaim(self) -> None:
        """Deliveries unacknowledged past the visibility timeout go out again."""
        now = time.monotonic()
        while self._pending:
            delivery_id, (d, deadline) = next(iter(self._pending.items()))
            if deadline > now:
                break
            del self._pending[delivery_id]
            self._retry(d, "delivered too often without an ack")

    def _retry(self, d: Delivery, reason: str) -> None:
        if d.deliveries >= self.max_deliveries:
            self._dead[d.id] = DeadLetter(d.id, d.post, reason, d.deliveries)
        else:
            self._ready.append(Delivery(d.id, d.post, d.deliveries + 1, d.accepted_at))

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._pending.pop(delivery.id, None)

    async def touch(self, deliveries: Sequence[Delivery]) -> None:
        deadline = time.monotonic() + self.visibility_timeout_s
        for d in deliveries:
            if self._pending.pop(d.id, None) is not None:
                self._pending[d.id] = (d, deadline)

    async def fail(self, deliveries: Sequence[Delivery], reason: str) -> None:
        for d in deliveries:
            if self._pending.pop(d.id, None) is not None:
                self._retry(d, reason)
        self._wakeup.set()

    async def backlog(self) -> int:
        return len(self._ready) + len(self._pending)

    async def stats(self) -> QueueStats:
        ready, pending = len(self._ready), len(self._pending)
        return QueueStats(
            length=ready + pending,
            lag=ready,
            pending=pending,
            backlog=ready + pending,
            dead=len(self._dead),
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return list(self._dead.values())[:limit]

    async def replay_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
        now = time.time()
        for dead_id in chosen:
            letter = self._dead.pop(dead_id)
            self._ready.append(Delivery(id=str(next(self._ids)), post=letter.post, accepted_at=now))
        self._wakeup.set()
        return len(chosen)

    async def ping(self) -> None:
        return None
