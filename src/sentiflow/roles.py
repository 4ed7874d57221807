"""What each kind of process runs, built on `open_services`: the API (`serve_api`, with an
in-process worker in embedded mode), a worker (`run_worker`), and the lighter needs of CLI
commands (`feed` for commands that queue posts, `preflight` before a server starts).

Each role asks the services for what it uses and hands each component only that. Background
tasks stop (and are awaited) before the services they use close.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from sentiflow import plugins
from sentiflow.analytics.alerts import evaluate_alerts, run_periodically
from sentiflow.analytics.service import Analytics, follow_batches
from sentiflow.analyze.auto import TierSwitch
from sentiflow.analyze.ondemand import OnDemand
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.events import EventBus
from sentiflow.feedback.bootstrap import ensure_bootstrap_key
from sentiflow.feedback.corrections import Corrector
from sentiflow.feedback.datasets import Snapshots
from sentiflow.feedback.jobs import Jobs
from sentiflow.ingest.authors import hasher_for
from sentiflow.ingest.demo import replay
from sentiflow.jobs import build_scheduler
from sentiflow.keys import Keys, consumer_name
from sentiflow.lifecycle import Eraser
from sentiflow.locks import Locks
from sentiflow.queue.base import Broker, BrokerAdmin, drain
from sentiflow.ranking.engine import Ranker
from sentiflow.ranking.sessions import user_keyer
from sentiflow.ranking.trending import refresh_signals
from sentiflow.ratelimit import RateLimiter
from sentiflow.scheduler import Scheduler
from sentiflow.services import Services, open_services
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.worker import Worker, WorkerStats

log = structlog.get_logger("sentiflow.roles")

# A young collection every 100,000 net allocations instead of CPython's 700, and a middle one
# every 20 of those. The pipeline makes many short-lived objects per post, and a batch in
# flight is walked by every collection it lives through, so fewer collections walk it less
# often; at the defaults the full collections also walk every live object made after start-up
# (each WebSocket client's among them).
GC_THRESHOLDS = (100_000, 20, 10)


def freeze_startup_heap() -> None:
    """Keep the collector off everything built at start-up (models, routes, SQLAlchemy's
    tables), which lives as long as the process: otherwise each full collection walks all of
    it, a cost every request pays in pauses."""
    gc.collect()
    gc.freeze()


class Background:
    """The tasks a process runs until it stops: `close` sets `stop`, lets each finish what it
    has in hand, and waits for them."""

    def __init__(self, stop: asyncio.Event | None = None) -> None:
        self.stop = stop or asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def close(self) -> None:
        self.stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the API's routes are handed (one `Annotated` dependency each, in api/deps.py)."""

    settings: Settings
    store: Store
    broker: Broker
    admin: BrokerAdmin
    events: EventBus
    locks: Locks
    keys: Keys
    analytics: Analytics
    ranker: Ranker
    snapshots: Snapshots
    corrector: Corrector
    eraser: Eraser
    ratelimiter: RateLimiter
    on_demand: OnDemand  # POST /api/analyze, on the ranker's analyzer path
    user_key: Callable[[str], str]  # a ranking session's user id as stored (hashed or not)
    worker: Worker | None  # embedded mode's in-process worker


@contextlib.asynccontextmanager
async def serve_api(settings: Settings, *, worker: bool, demo: bool) -> AsyncIterator[ApiServices]:
    """The API's services for as long as it serves; with `worker`, the analysis, the periodic
    jobs and (with `demo`) the demo stream run in this process too."""
    gc.set_threshold(*GC_THRESHOLDS)
    _load_plugins()
    async with open_services(settings) as services:
        await services.store.ping()
        in_process = await _start_worker(services, consumer="worker-1") if worker else None
        scheduler = await _scheduler(services) if worker else None
        api = await _api_services(services, in_process)
        await ensure_bootstrap_key(services.store, settings.bootstrap_admin_key)
        background = Background()
        if in_process is not None:
            background.spawn(in_process.run(background.stop))
            _alerts(services, scheduler, background)
        if scheduler is not None:
            background.spawn(scheduler.run(background.stop))
        if demo:
            background.spawn(replay(api.broker, rate=settings.demo_rate, stop=background.stop))
        background.spawn(follow_batches(services.cache(), api.events, background.stop))
        services.close_with(background.close)
        yield api


def _load_plugins() -> None:
    """Import the installed plug-ins before serving: a broken one stops the start, named."""
    loaded = plugins.load_installed()
    if loaded:
        log.info("plugins.loaded", plugins=",".join(f"{p.group}:{p.name}" for p in loaded))


async def _api_services(services: Services, worker: Worker | None) -> ApiServices:
    settings, store = services.settings, services.store
    broker, events, cache, locks = (
        await services.broker(),
        services.events(),
        services.cache(),
        services.locks(),
    )
    ranker = Ranker(settings, store=store, signals=services.signals())
    await ranker.start()
    services.close_with(ranker.close)
    analytics = Analytics(store, cache, locks, services.keys, settings.cache)
    services.close_with(analytics.close)
    jobs = Jobs()
    services.close_with(jobs.close)
    snapshots = Snapshots(settings, store, events, jobs)
    on_demand = OnDemand(settings, ranker.analyzer.analyze)

    async def close_on_demand() -> None:
        await asyncio.to_thread(on_demand.close)

    services.close_with(close_on_demand)
    return ApiServices(
        settings=settings,
        store=store,
        broker=broker,
        admin=services.admin(),
        events=events,
        locks=locks,
        keys=services.keys,
        analytics=analytics,
        ranker=ranker,
        snapshots=snapshots,
        corrector=Corrector(store, cache, snapshots),
        eraser=Eraser(store, cache, _author_hash(settings)),
        ratelimiter=services.ratelimiter(),
        on_demand=on_demand,
        user_key=user_keyer(_author_hash(settings)),
        worker=worker,
    )


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event,
    consumer: str | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> WorkerStats:
    """One worker process's life: analyse batches, run the periodic jobs (their lease makes
    each run happen once across workers), until `stop` is set; then finish cleanly.
    `heartbeat` is called as the worker's loops turn."""
    gc.set_threshold(*GC_THRESHOLDS)
    _load_plugins()
    name = consumer or consumer_name()
    async with open_services(settings) as services:
        await services.store.ping()
        worker = await _start_worker(services, consumer=name)
        worker.heartbeat = heartbeat
        scheduler = await _scheduler(services)
        background = Background(stop)
        background.spawn(worker.run(stop))
        _alerts(services, scheduler, background)
        if scheduler is not None:
            background.spawn(scheduler.run(stop))
        background.spawn(follow_batches(services.cache(), services.events(), stop))
        services.close_with(background.close)
        freeze_startup_heap()
        log.info("worker.ready", consumer=name, batch_size=settings.batch_size)
        await stop.wait()
        log.info("worker.stopping", consumer=name)
    return worker.stats


async def _start_worker(services: Services, *, consumer: str) -> Worker:
    settings, auto = services.settings, services.settings.auto
    pool = AnalyzerPool(settings, processes=settings.analyzer_processes)

    async def close_pool() -> None:
        pool.close()

    services.close_with(close_pool)
    await pool.warm_up()
    log.info("analyzer.ready", model=pool.name, version=pool.version)
    return Worker(
        broker=await services.broker(),
        store=services.store,
        pool=pool,
        events=services.events(),
        duplicates=services.duplicates() if settings.near_duplicates else None,
        batch_size=settings.batch_size,
        concurrency=settings.worker_concurrency,
        consumer=consumer,
        authors=_author_hash(settings),
        tiers=TierSwitch(auto.fast_above, auto.accurate_below) if pool.name == "auto" else None,
        accurate_batch=auto.accurate_batch,
    )


def _author_hash(settings: Settings) -> Callable[[str], str] | None:
    return hasher_for(settings.author_hash)


async def _scheduler(services: Services) -> Scheduler | None:
    """The periodic jobs (source polls, search jobs, signals), unless settings turn them off."""
    settings = services.settings
    if not settings.scheduler:
        return None
    scheduler = await build_scheduler(
        store=services.store,
        broker=await services.broker(),
        locks=services.locks(),
        settings=settings,
    )
    if settings.signals_interval_s > 0:
        refresh = functools.partial(
            refresh_signals, settings.signals, services.store, services.signals()
        )
        scheduler.register("signals", settings.signals_interval_s, refresh, history=False)
    return scheduler


def _alerts(services: Services, scheduler: Scheduler | None, background: Background) -> None:
    """Spike alerts: on the cross-worker scheduler where this process runs one (once across
    all workers), else every `alert_interval_s` in this worker; either way the alerts' unique
    key stores a spike once."""
    settings, store, events = services.settings.alerts, services.store, services.events()
    if scheduler is None:
        background.spawn(run_periodically(settings, store, events, background.stop))
        return

    async def alerts() -> None:
        await evaluate_alerts(settings, store, events)

    scheduler.register("alerts", settings.interval_s, alerts, history=False)


@dataclass(frozen=True, slots=True)
class Feed:
    """What a command that queues posts uses: the store, the broker, and whether a worker of
    this process analyses them (embedded mode)."""

    store: Store
    broker: Broker
    worker: Worker | None

    async def drain(self, timeout: float = 3600) -> None:
        """Embedded mode: wait until this process's worker has stored everything queued.
        Distributed mode: nothing to wait for here; the running workers do the rest."""
        if self.worker is not None:
            await drain(self.broker, timeout=timeout)


@contextlib.asynccontextmanager
async def feed(settings: Settings) -> AsyncIterator[Feed]:
    """For `sentiflow import` and `sentiflow sources run`: the store and the broker, and in
    embedded mode a worker in this process, stopped once the block ends."""
    async with open_services(settings) as services:
        await services.store.ping()
        broker = await services.broker()
        worker = None
        if services.mode == "embedded":
            worker = await _start_worker(services, consumer="worker-1")
            background = Background()
            background.spawn(worker.run(background.stop))
            services.close_with(background.close)
        yield Feed(services.store, broker, worker)


async def preflight(settings: Settings) -> None:
    """Fail at once, naming the URL and what to do, when PostgreSQL or Redis cannot be
    reached or the schema is not migrated; a server must not start half-connected."""
    async with open_services(settings) as services:
        await services.store.ping()
        if services.mode == "distributed":
            await services.store.require_schema()
        await services.broker()
