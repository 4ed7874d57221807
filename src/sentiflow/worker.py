"""The worker: take a batch from the broker, analyse it off the event loop, commit posts,
analyses and rollups in one transaction, acknowledge, then publish one batch event.

`Worker` is an importable object (like arq's WorkerSettings): `sentiflow run` and
`sentiflow worker` build it from settings, tests build it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from sentiflow.analyze.auto import TierSwitch
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.duplicates import DuplicateIndex, fingerprints
from sentiflow.errors import Unavailable, caused_by
from sentiflow.events import EventBus
from sentiflow.events.batch import batch_event
from sentiflow.metrics import metrics
from sentiflow.models import PostIn
from sentiflow.queue.base import Broker, Delivery
from sentiflow.store.db import Store
from sentiflow.store.write import Written, save_batch

log = structlog.get_logger("sentiflow.worker")

# Errors that say a service is away, not that the batch is bad (the store and the broker
# translate their drivers' errors into `Unavailable`).
TRANSIENT = (OSError, Unavailable)


def transient(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says a service is away, not that the data is bad."""
    return caused_by(exc, lambda e: isinstance(e, TRANSIENT))


@dataclass
class WorkerStats:
    batches: int = 0
    processed: int = 0
    stored: int = 0
    failed: int = 0
    last_batch_ms: float = 0.0
    # Seconds from accept (the broker queued it) to commit, per post; the newest million.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=1_000_000))


class Worker:
    def __init__(
        self,
        *,
        broker: Broker,
        store: Store,
        pool: AnalyzerPool,
        events: EventBus | None = None,
        duplicates: DuplicateIndex | None = None,
        batch_size: int = 500,
        concurrency: int = 2,
        consumer: str = "worker-1",
        block_ms: int = 500,
        authors: Callable[[str], str] | None = None,
        tiers: TierSwitch | None = None,
        accurate_batch: int = 64,
    ) -> None:
        self.broker = broker
        self.store = store
        self.pool = pool
        self.events = events
        self.duplicates = duplicates
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.consumer = consumer
        self.block_ms = block_ms
        # SENTIFLOW_HASH_AUTHORS: an author is stored as its keyed hash, never in clear.
        self.authors = authors
        # The auto analyzer's tier per batch, from the backlog; None for any other analyzer.
        self.tiers = tiers
        self.accurate_batch = accurate_batch
        self.stats = WorkerStats()
        self.stop = asyncio.Event()
        # Called as the loops turn, waiting included (`sentiflow worker` touches a file that
        # the container's healthcheck reads).
        self.heartbeat: Callable[[], None] | None = None
        # SQLite has one writer: concurrent batches queue here instead of in its busy handler,
        # which sleeps in steps of milliseconds. Analysis still overlaps with writing.
        self._write_lock = asyncio.Lock() if store.dialect == "sqlite" else contextlib.nullcontext()
        m = metrics()
        self._processed = m.processed.labels(consumer)
        self._failed = m.failed.labels(consumer)
        self._batch_seconds = m.batch_seconds.labels(consumer)
        self._analyzer_texts = m.analyzer_texts.labels(consumer)
        self._analyzer_seconds = m.analyzer_seconds.labels(consumer)
        self._analyzer_rate = m.analyzer_rate.labels(consumer)
        self._analyses = m.analyses

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set; the batch in hand is finished and acked first."""
        self.stop = stop
        log.info("worker.started", consumer=self.consumer, concurrency=self.concurrency)
        # Several loops overlap one batch's analysis (in another process) with another's commit.
        await asyncio.gather(*(self._loop(stop) for _ in range(self.concurrency)))
        log.info("worker.stopped", consumer=self.consumer, processed=self.stats.processed)

    async def _loop(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat()
            try:
                await self.process_batch()
            except Unavailable as exc:
                # The broker is down: nothing is in hand, so wait and ask again.
                log.warning(
                    "broker.unavailable", part=exc.part, error=exc.message, retry_in=backoff
                )
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.1

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        if self.heartbeat is not None:
            self.heartbeat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def process_batch(self) -> int:
        """One batch: returns how many deliveries it took off the broker."""
        deliveries, fast = await self._take()
        if not deliveries:
            return 0
        started = time.perf_counter()
        backoff = 0.1
        while True:
            try:
                try:
                    written = await self._commit(deliveries, fast)
                except Exception as exc:
                    if transient(exc):
                        raise
                    log.warning("batch.failed", n=len(deliveries), error=repr(exc))
                    written = await self._isolate(deliveries, exc, fast)
                else:
                    await self._ack(deliveries)
                break
            except Exception as exc:
                if not transient(exc):
                    raise
                # The store is down: the posts are fine, so hold them and try again rather
                # than count a delivery against them; keep them from being reclaimed meanwhile.
                log.warning("store.unavailable", error=repr(exc), retry_in=backoff)
                if self.stop.is_set():
                    # Asked to stop: leave them unacknowledged; another worker reclaims them.
                    log.warning("batch.abandoned", n=len(deliveries))
                    return len(deliveries)
                await self._pause(backoff)
                with contextlib.suppress(Unavailable):
                    await self.broker.touch(deliveries)
                backoff = min(backoff * 2, 5.0)
        committed = time.time()
        ms = (time.perf_counter() - started) * 1000
        self.stats.batches += 1
        self.stats.processed += len(deliveries)
        fresh = written.fresh
        self.stats.stored += len(fresh)
        self.stats.last_batch_ms = ms
        self.stats.latencies.extend(committed - d.accepted_at for d in deliveries)
        self._processed.inc(len(deliveries))
        self._batch_seconds.observe(ms / 1000)
        log.debug("batch.committed", n=len(deliveries), new=len(fresh), ms=round(ms, 1))
        if fresh and self.events is not None:
            await self.events.publish(
                batch_event(fresh, committed_at=committed, minute_sums=written.sums)
            )
        return len(deliveries)

    async def _take(self) -> tuple[list[Delivery], bool | None]:
        """The next batch, and for the auto analyzer whether it goes to builtin-fast."""
        if self.tiers is None:
            return await self.broker.consume(self.consumer, self.batch_size, self.block_ms), None
        fast = self.tiers.update(await self.broker.backlog())
        # A smaller batch for the slow tier, so that a post waits for few others.
        count = self.batch_size if fast else min(self.batch_size, self.accurate_batch)
        deliveries = await self.broker.consume(self.consumer, count, self.block_ms)
        if deliveries and not fast:
            # The wait for posts may have ended in a flood: the backlog of now decides.
            fast = self.tiers.update(await self.broker.backlog())
        return deliveries, fast

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge committed posts; while the broker is down, keep trying (unless asked to
        stop: unacknowledged, they are delivered again and the store skips them)."""
        backoff = 0.1
        while True:
            try:
                await self.broker.ack(deliveries)
                return
            except Unavailable as exc:
                if self.stop.is_set():
                    return
                log.warning("broker.unavailable", error=exc.message, retry_in=backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _commit(self, deliveries: Sequence[Delivery], fast: bool | None) -> Written:
        batch = [d.post for d in deliveries]
        if self.authors is not None:
            hashed = self.authors
            batch = [
                p if p.author is None else p.model_copy(update={"author": hashed(p.author)})
                for p in batch
            ]
        analysis_started = time.perf_counter()
        # Each post's language: as sent, else identified beside the analysis.
        results = await self.pool.analyze(
            [p.text for p in batch], [p.lang for p in batch], fast=fast
        )
        seconds = time.perf_counter() - analysis_started
        for model, n in Counter(a.model_version for a in results).items():
            self._analyses.labels(model).inc(n)
        self._analyzer_texts.inc(len(batch))
        self._analyzer_seconds.inc(seconds)
        if seconds > 0:
            self._analyzer_rate.set(len(batch) / seconds)
        duplicate_of = await self._near_duplicates(batch)
        async with self._write_lock:
            return await save_batch(self.store, batch, results, duplicate_of=duplicate_of)

    async def _near_duplicates(self, batch: Sequence[PostIn]) -> dict[str, str]:
        """Post id → the earlier post it nearly copies, for the copies in `batch`."""
        if self.duplicates is None:
            return {}
        prints = await asyncio.to_thread(fingerprints, [p.text for p in batch])
        ids = [p.id for p in batch]
        leaders = await self.duplicates.group(list(zip(ids, prints, strict=True)))
        return {pid: leader for pid, leader in zip(ids, leaders, strict=True) if leader}

    async def _isolate(
        self, deliveries: Sequence[Delivery], error: Exception, fast: bool | None
    ) -> Written:
        """After `deliveries` failed together with `error`: commit them in halves, splitting
        each half that fails again, until the posts that fail alone are found; those are
        given back to the broker (and dead-lettered once out of tries). One bad post in a
        batch of n costs about 2·log2(n) commits, not n."""
        written = Written([], {})
        if len(deliveries) == 1:
            await self._give_back(deliveries[0], error)
            return written
        middle = len(deliveries) // 2
        for half in (deliveries[:middle], deliveries[middle:]):
            try:
                found = await self._commit(half, fast)
            except Exception as exc:
                if transient(exc):
                    raise
                written.add(await self._isolate(half, exc, fast))
            else:
                await self._ack(half)
                written.add(found)
        return written

    async def _give_back(self, delivery: Delivery, error: Exception) -> None:
        self.stats.failed += 1
        self._failed.inc()
        log.warning("post.failed", delivery=delivery.id, error=repr(error))
        await self.broker.fail([delivery], reason=_reason(error))


def _reason(exc: BaseException) -> str:
    """Why a post failed, for the dead letters: the driver's own message, not the SQL."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {cause}"[:500]
