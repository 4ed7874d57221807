"""The worker: take a batch from the broker, analyse it off the event loop, commit posts,
analyses and rollups in one transaction, acknowledge, then publish one batch event.

`Worker` is an importable object (like arq's WorkerSettings): `sentiflow run` and
`sentiflow worker` build it from settings, tests build it directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.errors import Unavailable
from sentiflow.events import EventBus, batch_event
from sentiflow.models import Analysis, PostIn
from sentiflow.queue.base import Broker, Delivery
from sentiflow.store.db import Store
from sentiflow.store.posts import save_batch

log = structlog.get_logger("sentiflow.worker")

# Errors that say the database is unreachable, not that the batch is bad.
TRANSIENT = (OSError, OperationalError, InterfaceError, Unavailable)


@dataclass
class WorkerStats:
    batches: int = 0
    processed: int = 0
    stored: int = 0
    failed: int = 0
    last_batch_ms: float = 0.0
    latencies: list[float] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        *,
        broker: Broker,
        store: Store,
        pool: AnalyzerPool,
        events: EventBus | None = None,
        batch_size: int = 500,
        concurrency: int = 2,
        consumer: str = "worker-1",
        block_ms: int = 500,
    ) -> None:
        self.broker = broker
        self.store = store
        self.pool = pool
        self.events = events
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.consumer = consumer
        self.block_ms = block_ms
        self.stats = WorkerStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set; the batch in hand is finished and acked first."""
        log.info("worker.started", consumer=self.consumer, concurrency=self.concurrency)
        # Several loops overlap one batch's analysis (in another process) with another's commit.
        await asyncio.gather(*(self._loop(stop) for _ in range(self.concurrency)))
        log.info("worker.stopped", consumer=self.consumer, processed=self.stats.processed)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.process_batch()

    async def process_batch(self) -> int:
        """One batch: returns how many deliveries it took off the broker."""
        deliveries = await self.broker.consume(self.consumer, self.batch_size, self.block_ms)
        if not deliveries:
            return 0
        started = time.perf_counter()
        backoff = 0.1
        while True:
            try:
                fresh = await self._commit(deliveries)
            except TRANSIENT as exc:
                # The store is down: the posts are fine, so hold them and try again rather
                # than count a delivery against them.
                log.warning("store.unavailable", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception as exc:
                log.warning("batch.failed", n=len(deliveries), error=repr(exc))
                fresh = await self._one_by_one(deliveries)
            else:
                await self.broker.ack(deliveries)
            break
        ms = (time.perf_counter() - started) * 1000
        self.stats.batches += 1
        self.stats.processed += len(deliveries)
        self.stats.stored += len(fresh)
        self.stats.last_batch_ms = ms
        log.debug("batch.committed", n=len(deliveries), new=len(fresh), ms=round(ms, 1))
        if fresh and self.events is not None:
            await self.events.publish(batch_event(fresh, committed_at=time.time()))
        return len(deliveries)

    async def _commit(self, deliveries: Sequence[Delivery]) -> list[tuple[PostIn, Analysis]]:
        batch = [d.post for d in deliveries]
        results = await self.pool.analyze([p.text for p in batch])
        new_ids = set(await save_batch(self.store, batch, results))
        fresh: list[tuple[PostIn, Analysis]] = []
        for post, analysis in zip(batch, results, strict=True):
            if post.id in new_ids:
                fresh.append((post, analysis))
                new_ids.discard(post.id)
        return fresh

    async def _one_by_one(self, deliveries: Sequence[Delivery]) -> list[tuple[PostIn, Analysis]]:
        """After a batch failed: find the posts that fail alone; the others go through."""
        fresh: list[tuple[PostIn, Analysis]] = []
        for delivery in deliveries:
            try:
                fresh.extend(await self._commit([delivery]))
            except Exception as exc:
                self.stats.failed += 1
                log.warning("post.failed", delivery=delivery.id, error=repr(exc))
                await self.broker.fail([delivery], reason=f"{type(exc).__name__}: {exc}")
            else:
                await self.broker.ack([delivery])
        return fresh
