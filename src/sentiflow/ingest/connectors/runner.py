"""Run one poll of a stored source: fetch pages from its connector, queue each through the
one ingest path, and save the cursor after each queued page so a restart resumes there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from sentiflow.errors import Backpressure, NotFound, SentiflowError
from sentiflow.ingest.connectors.registry import build
from sentiflow.ingest.service import submit
from sentiflow.models import PostIn
from sentiflow.queue.base import Broker
from sentiflow.settings import Settings
from sentiflow.store import sources as source_store
from sentiflow.store.db import Store

log = structlog.get_logger("sentiflow.sources")


@dataclass(frozen=True, slots=True)
class PollResult:
    name: str
    fetched: int
    queued: int
    ms: float


async def queue_posts(broker: Broker, posts: Sequence[PostIn]) -> int:
    """Queue posts, waiting out backpressure: a source can always wait, unlike a client."""
    if not posts:
        return 0
    items = [p.model_dump() for p in posts]
    while True:
        try:
            return len((await submit(broker, items)).accepted)
        except Backpressure as exc:
            await asyncio.sleep(exc.retry_after)


async def poll_source(store: Store, broker: Broker, settings: Settings, name: str) -> PollResult:
    row = await source_store.get_source(store, name)
    if row is None:
        raise NotFound(f"no source named {name!r}; see `sentiflow sources list`", field="name")
    started = time.perf_counter()
    fetched = queued = 0
    error: str | None = None
    connector = build(row.kind, row.name, row.config, settings)
    try:
        async for page in connector.fetch(row.cursor):
            queued += await queue_posts(broker, page.posts)
            fetched += len(page.posts)
            await source_store.save_cursor(store, name, page.cursor, len(page.posts))
    except SentiflowError as exc:
        error = exc.message
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        await connector.close()
        await source_store.finish_run(store, name, fetched=fetched, error=error)
    ms = (time.perf_counter() - started) * 1000
    log.info("source.polled", source=name, fetched=fetched, queued=queued, ms=round(ms, 1))
    return PollResult(name=name, fetched=fetched, queued=queued, ms=ms)
