"""The periodic jobs a worker runs through the scheduler: one poll job per enabled source
(each at its own interval), the search-job runner, a refresh that picks up sources
added or removed while running, and retention (SENTIFLOW_RETENTION_DAYS). Other parts register
theirs with `scheduler.register`.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from sentiflow.ingest.connectors.registry import parse_spec
from sentiflow.ingest.connectors.runner import poll_source
from sentiflow.keys import Keys
from sentiflow.lifecycle import purge
from sentiflow.locks import Locks
from sentiflow.queue.base import Broker
from sentiflow.scheduler import JobFunc, Scheduler
from sentiflow.searches import SearchRunner
from sentiflow.settings import Settings
from sentiflow.store import sources as source_store
from sentiflow.store.db import Store

log = structlog.get_logger("sentiflow.jobs")
SOURCE_PREFIX = "source:"
REFRESH_S = 10.0
SEARCH_POLL_S = 1.0
RETENTION_S = 3600.0
# Posts one retention run deletes at most; a first run over years of posts goes on next hour.
RETENTION_BATCHES = 500


async def configure_sources(store: Store, settings: Settings) -> list[str]:
    """Store the sources named by SENTIFLOW_SOURCES (their cursors are kept across restarts)."""
    names = []
    for spec in settings.sources:
        parsed = parse_spec(spec)
        await source_store.upsert_source(
            store,
            name=parsed.name,
            kind=parsed.kind,
            config=parsed.config,
            interval_s=parsed.interval_s or settings.source_interval_s,
        )
        names.append(parsed.name)
    return names


def _poller(store: Store, broker: Broker, settings: Settings, name: str) -> JobFunc:
    async def poll() -> None:
        await poll_source(store, broker, settings, name)

    return poll


async def refresh_source_jobs(
    scheduler: Scheduler, store: Store, broker: Broker, settings: Settings
) -> None:
    """One `source:NAME` job per enabled source; jobs of removed sources go."""
    wanted = {s.name: s for s in await source_store.list_sources(store, enabled_only=True)}
    for name in [n for n in scheduler.jobs if n.startswith(SOURCE_PREFIX)]:
        if name.removeprefix(SOURCE_PREFIX) not in wanted:
            scheduler.unregister(name)
    for name, source in wanted.items():
        job = scheduler.jobs.get(SOURCE_PREFIX + name)
        if job is None or job.interval_s != source.interval_s:
            scheduler.register(
                SOURCE_PREFIX + name, source.interval_s, _poller(store, broker, settings, name)
            )


async def build_scheduler(
    *, store: Store, broker: Broker, locks: Locks, settings: Settings
) -> Scheduler:
    keys = Keys(settings.redis_prefix)
    scheduler = Scheduler(
        locks,
        keys,
        store=store,
        lease_s=settings.scheduler_lease_s,
        misfire_grace_s=settings.scheduler_misfire_grace_s,
    )
    searches = SearchRunner(
        store=store,
        broker=broker,
        locks=locks,
        keys=keys,
        settings=settings,
        runner=scheduler.runner,
    )

    async def run_searches() -> None:
        await searches.run_pending()

    async def refresh() -> None:
        await refresh_source_jobs(scheduler, store, broker, settings)

    await configure_sources(store, settings)
    await refresh()
    scheduler.register("searches", SEARCH_POLL_S, run_searches, history=False)
    scheduler.register("sources.refresh", REFRESH_S, refresh)
    if settings.retention_days is not None:
        scheduler.register("retention", RETENTION_S, _retention(store, settings.retention_days))
    return scheduler


def _retention(store: Store, days: int) -> JobFunc:
    async def purge_old() -> None:
        await purge(store, timedelta(days=days), max_batches=RETENTION_BATCHES)

    return purge_old
