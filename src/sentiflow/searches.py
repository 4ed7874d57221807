"""Keyword search jobs: the API starts one, a worker runs it (stored posts and/or the
connectors' own search), and the result keeps its sentiment and emotion breakdown.

Identical searches share one job: the normalised query, sources and limit hash to a key,
and a lock on that key (Redis SET NX, or in process) names the job serving it, for as long
as the job runs and `search_cache_s` after it finished. Job state lives in the database, so
a job survives restarts; a job whose runner stops beating is taken over by another worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog

from sentiflow.errors import SentiflowError, ValidationFailed
from sentiflow.ingest.connectors.registry import build, factory_for
from sentiflow.ingest.connectors.runner import queue_posts
from sentiflow.keys import Keys
from sentiflow.locks import Locks
from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.queue.base import Broker
from sentiflow.settings import Settings
from sentiflow.store import search_jobs as search_store
from sentiflow.store import sources as source_store
from sentiflow.store.db import Store
from sentiflow.store.search_jobs import SearchJobRow

log = structlog.get_logger("sentiflow.searches")
STORED = "stored"
# A running job's heartbeat older than this means its worker died.
STALE_S = 30.0


def normalise(query: str) -> str:
    return " ".join(query.casefold().split())


def search_key(query: str, sources: list[str], limit: int) -> str:
    raw = "\x00".join([normalise(query), ",".join(sorted(set(sources))), str(limit)])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Started:
    job_id: str
    created: bool


async def start_search(
    store: Store,
    locks: Locks,
    keys: Keys,
    settings: Settings,
    *,
    query: str,
    sources: list[str],
    limit: int,
) -> Started:
    """The job serving this search: a running or recently finished identical one, else new."""
    if not normalise(query):
        raise ValidationFailed("query is empty; send the words to search for", field="query")
    sources = sorted(set(sources or [STORED]))
    key = search_key(query, sources, limit)
    pointer = keys.search(key)
    ttl = settings.search_timeout_s + settings.search_cache_s
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        holder = await locks.get(pointer)
        if holder is not None:
            job = await _wait_for_row(store, holder)
            if job is not None and job.status != "failed":
                return Started(job.id, created=False)
            # A failed job is not worth sharing: free the key for a fresh attempt.
            await locks.release(pointer, holder)
            continue
        reusable = await search_store.reusable_search_job(
            store, key, fresh_s=settings.search_cache_s
        )
        if reusable is not None:
            # The lock is gone (Redis restarted, or embedded restart) but the database knows.
            if await locks.acquire(pointer, reusable.id, ttl):
                return Started(reusable.id, created=False)
            continue
        job_id = uuid.uuid4().hex
        if await locks.acquire(pointer, job_id, ttl):
            await search_store.create_search_job(
                store,
                job_id=job_id,
                key=key,
                query=" ".join(query.split()),
                sources=sources,
                max_results=limit,
            )
            log.info("search.created", job=job_id, query=normalise(query), sources=sources)
            return Started(job_id, created=True)
    raise SentiflowError("could not start the search in time; try again")


async def _wait_for_row(store: Store, job_id: str) -> SearchJobRow | None:
    """The winner of the lock inserts its row right after; give it a moment."""
    for _ in range(100):
        job = await search_store.get_search_job(store, job_id)
        if job is not None:
            return job
        await asyncio.sleep(0.02)
    return None


def check_sources(sources: list[str], known: set[str]) -> None:
    for name in sources:
        if name != STORED and name not in known and name != "reddit":
            raise ValidationFailed(
                f"unknown search source {name!r}; use 'stored', 'reddit' or a source name from "
                "GET /api/sources",
                field="sources",
            )


class SearchRunner:
    """Runs claimed search jobs inside a worker."""

    def __init__(
        self,
        *,
        store: Store,
        broker: Broker,
        locks: Locks,
        keys: Keys,
        settings: Settings,
        runner: str,
    ) -> None:
        self.store = store
        self.broker = broker
        self.locks = locks
        self.keys = keys
        self.settings = settings
        self.runner = runner

    async def run_pending(self) -> int:
        jobs = await search_store.claim_search_jobs(
            self.store, runner=self.runner, stale_after_s=STALE_S
        )
        for job in jobs:
            await self.run(job)
        return len(jobs)

    async def run(self, job: SearchJobRow) -> None:
        log.info("search.running", job=job.id, query=job.query)
        try:
            result = await asyncio.wait_for(self._execute(job), self.settings.search_timeout_s)
        except Exception as exc:
            message = exc.message if isinstance(exc, SentiflowError) else repr(exc)
            if isinstance(exc, TimeoutError):
                message = f"the search took longer than {self.settings.search_timeout_s:g}s"
            log.warning("search.failed", job=job.id, error=message)
            await search_store.update_search_job(
                self.store, job.id, runner=self.runner, status="failed", error=message
            )
            await self.locks.release(self.keys.search(job.key), job.id)
            return
        await search_store.update_search_job(
            self.store, job.id, runner=self.runner, status="done", progress=1.0, result=result
        )
        # The key now serves the finished result for search_cache_s.
        await self.locks.renew(self.keys.search(job.key), job.id, self.settings.search_cache_s)
        log.info("search.done", job=job.id, total=result["total"])

    async def _execute(self, job: SearchJobRow) -> dict[str, Any]:
        ids: list[str] = []
        by_source: dict[str, int] = {}
        steps = len(job.sources) + 1
        for step, name in enumerate(job.sources, start=1):
            if name != STORED:
                found = await self._from_connector(job, name)
                by_source[name] = len(found)
                ids.extend(i for i in found if i not in ids)
            await search_store.update_search_job(
                self.store, job.id, runner=self.runner, progress=step / steps
            )
        # Stored posts that mention the query, newest first (fetched posts included).
        rows = await search_store.search_stored(
            self.store, query=job.query, sources=None, limit=job.max_results
        )
        if STORED in job.sources:
            by_source[STORED] = len(rows)
            ids.extend(r[0] for r in rows if r[0] not in ids)
        ids = ids[: job.max_results]
        labels = await search_store.labels_of(self.store, ids)
        sentiment = Counter(s for _, s, _ in labels)
        emotion = Counter(e for _, _, e in labels)
        return {
            "total": len(ids),
            "post_ids": ids,
            "by_source": by_source,
            "sentiment": {label: sentiment.get(label, 0) for label in SENTIMENTS},
            "emotion": {label: emotion.get(label, 0) for label in EMOTIONS},
        }

    async def _from_connector(self, job: SearchJobRow, name: str) -> list[str]:
        """Search at the source, queue what it finds, and wait until it is analysed."""
        row = await source_store.get_source(self.store, name)
        if row is not None:
            kind, config, source_name = row.kind, row.config, row.name
        else:
            kind, config, source_name = name, {}, name
        if not hasattr(factory_for(kind), "search"):
            raise ValidationFailed(f"source {name!r} ({kind}) cannot search", field="sources")
        connector: Any = build(kind, source_name, config, self.settings)
        ids: list[str] = []
        try:
            async for posts in connector.search(job.query, job.max_results):
                await queue_posts(self.broker, posts)
                ids.extend(p.id for p in posts)
        finally:
            await connector.close()
        while await search_store.analysed_count(self.store, ids) < len(set(ids)):
            await search_store.update_search_job(self.store, job.id, runner=self.runner)
            await asyncio.sleep(0.2)
        return ids
