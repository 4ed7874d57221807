"""The running parts of one process, built from settings: store, broker, events, and, where
this process analyses, the analyzer pool and worker. The API's lifespan and the CLI use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from dataclasses import dataclass, field
from typing import Any

import structlog

from sentiflow.analytics.cache import Cache, MemoryCache
from sentiflow.analytics.service import Analytics
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.events import EventBus, MemoryEventBus
from sentiflow.feedback.jobs import Jobs
from sentiflow.keys import Keys
from sentiflow.locks import Locks, build_locks
from sentiflow.queue.base import Broker
from sentiflow.queue.memory import MemoryBroker
from sentiflow.ranking.engine import Ranker
from sentiflow.ranking.signals import SignalStore, build_signal_store, refresh_signals
from sentiflow.ratelimit.base import RateLimiter
from sentiflow.ratelimit.memory import MemoryRateLimiter
from sentiflow.scheduler import Scheduler
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.worker import Worker

log = structlog.get_logger("sentiflow.runtime")

# A young collection every 100,000 net allocations instead of CPython's 700, and a middle one
# every 20 of those. The pipeline makes many short-lived objects per post; a batch in flight
# (4,000 posts, tens of thousands of objects) is walked by every collection it lives through,
# so fewer collections walk it less often; and at the defaults the full collections also walk
# every live object made after start-up: about 180 per WebSocket client. Under `bench live`
# the defaults ran two full collections per 20,000 posts, which took about 0.25 s more with
# 1,000 clients connected; under `bench pipeline` a worker spent 5 µs per post collecting at
# (10,000, 10, 10) and 2 at (100,000, 20, 100) (gc callbacks, thread CPU time).
GC_THRESHOLDS = (100_000, 20, 10)


def freeze_startup_heap() -> None:
    """Keep the collector off everything built at start-up (models, routes, SQLAlchemy's
    tables: ~150,000 objects), which lives as long as the process. Otherwise each full
    collection walks all of it: about 3 ms per ranking request on average, and pauses of 100+
    ms, measured under `sentiflow bench rank`."""
    gc.collect()
    gc.freeze()


def build_broker(settings: Settings) -> Broker:
    if settings.redis_url is None:
        return MemoryBroker(
            max_backlog=settings.queue_max,
            max_deliveries=settings.max_deliveries,
            visibility_timeout_s=settings.visibility_timeout_s,
        )
    from sentiflow.queue.redis import RedisStreamsBroker  # type: ignore[import-not-found, unused-ignore]

    broker: Broker = RedisStreamsBroker.from_settings(settings)
    return broker


def build_events(settings: Settings) -> EventBus:
    if settings.redis_url is None:
        return MemoryEventBus()
    from sentiflow.queue.redis import RedisEventBus  # type: ignore[import-not-found, unused-ignore]

    events: EventBus = RedisEventBus.from_settings(settings)
    return events


def build_cache(settings: Settings) -> Cache:
    if settings.redis_url is None:
        return MemoryCache()
    from sentiflow.analytics.redis_cache import RedisCache

    return RedisCache.from_settings(settings)


def build_ratelimiter(settings: Settings) -> tuple[RateLimiter, Any]:
    """The rate limiter, and the Redis client it uses (closed by the runtime) if any."""
    if settings.redis_url is None:
        return MemoryRateLimiter(), None
    import redis.asyncio as redis

    from sentiflow.ratelimit.redis import RedisRateLimiter

    client = redis.Redis.from_url(settings.redis_url)
    return RedisRateLimiter(client, Keys(settings.redis_prefix).ratelimit), client


@dataclass
class Runtime:
    settings: Settings
    store: Store
    broker: Broker
    events: EventBus
    locks: Locks
    signals: SignalStore
    cache: Cache
    analytics: Analytics
    worker: Worker | None = None
    scheduler: Scheduler | None = None
    ranker: Ranker | None = None
    ratelimiter: RateLimiter = field(default_factory=MemoryRateLimiter)
    ratelimit_redis: Any = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    jobs: Jobs = field(default_factory=Jobs)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        store = Store.from_settings(settings)
        cache = build_cache(settings)
        ratelimiter, ratelimit_redis = build_ratelimiter(settings)
        return cls(
            ratelimiter=ratelimiter,
            ratelimit_redis=ratelimit_redis,
            settings=settings,
            store=store,
            broker=build_broker(settings),
            events=build_events(settings),
            locks=build_locks(settings),
            signals=build_signal_store(settings),
            cache=cache,
            analytics=Analytics(store, cache, settings),
        )

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.redis_prefix)

    async def start(
        self,
        *,
        worker: bool = False,
        demo: bool = False,
        schedule: bool = False,
        rank: bool = False,
        consumer: str = "worker-1",
        concurrency: int | None = None,
    ) -> None:
        """Connect everything; embedded mode migrates its SQLite file here. `schedule` runs
        the periodic jobs (source polls, search jobs, …) of `sentiflow.jobs` here too."""
        gc.set_threshold(*GC_THRESHOLDS)
        if self.settings.database_url is None:
            await self.store.migrate()
        await self.store.ping()
        await self.broker.start()
        self.tasks.append(asyncio.create_task(self.analytics.follow(self.events, self.stop_event)))
        if worker:
            pool = AnalyzerPool(self.settings, processes=self.settings.analyzer_processes)
            await pool.warm_up()
            self.worker = Worker(
                broker=self.broker,
                store=self.store,
                pool=pool,
                events=self.events,
                batch_size=self.settings.batch_size,
                concurrency=concurrency or self.settings.worker_concurrency,
                consumer=consumer,
            )
            self.tasks.append(asyncio.create_task(self.worker.run(self.stop_event)))
            log.info("analyzer.ready", model=pool.name, version=pool.version)
        if schedule and self.settings.scheduler:
            from sentiflow.jobs import build_scheduler

            self.scheduler = await build_scheduler(
                store=self.store, broker=self.broker, locks=self.locks, settings=self.settings
            )
            if self.settings.signals_interval_s > 0:
                self.scheduler.register(
                    "signals",
                    self.settings.signals_interval_s,
                    functools.partial(refresh_signals, self),
                    history=False,
                )
            self.tasks.append(asyncio.create_task(self.scheduler.run(self.stop_event)))
        if rank:
            self.ranker = Ranker(self.settings, store=self.store, signals=self.signals)
            await self.ranker.start()
        if worker or self.scheduler is not None:
            self._schedule_alerts()
        if demo:
            from sentiflow.ingest.demo import replay

            rate = self.settings.demo_rate
            self.tasks.append(
                asyncio.create_task(replay(self.broker, rate=rate, stop=self.stop_event))
            )

    def _schedule_alerts(self) -> None:
        """Spike alerts: on the cross-worker scheduler where this process runs one (once across
        all workers), else every `alert_interval_s` in this worker; either way the alerts'
        unique key stores a spike once."""
        from sentiflow.analytics.alerts import evaluate_alerts, run_periodically

        if self.scheduler is None:
            self.tasks.append(asyncio.create_task(run_periodically(self, self.stop_event)))
            return

        async def alerts() -> None:
            await evaluate_alerts(self)

        self.scheduler.register("alerts", self.settings.alert_interval_s, alerts, history=False)

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait until the broker has nothing queued or in flight."""
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.broker.backlog():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{await self.broker.backlog()} posts still queued")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Finish the batches in hand, then close everything."""
        self.stop_event.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.jobs.close()
        if self.worker is not None:
            self.worker.pool.close()
        if self.ranker is not None:
            await self.ranker.close()
        await self.signals.close()
        await self.analytics.close()
        await self.cache.close()
        await self.broker.close()
        await self.events.close()
        await self.locks.close()
        await self.ratelimiter.close()
        if self.ratelimit_redis is not None:
            await self.ratelimit_redis.aclose()
        await self.store.close()
