"""The end of a post's life: erasure (one post, or all of one author's, out of every table and
rollup at once) and retention (raw posts older than an age deleted in small batches, the
rollups kept). The SQL is in `store/lifecycle.py`; this is what the API, the CLI and the
scheduler call."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog

from sentiflow.analytics.cache import Cache
from sentiflow.analytics.cache import Change as CacheChange
from sentiflow.errors import NotFound, ValidationFailed
from sentiflow.store import lifecycle as store
from sentiflow.store.db import Store
from sentiflow.store.lifecycle import Erased

log = structlog.get_logger("sentiflow.lifecycle")

_AGE = re.compile(r"^(\d+)([dhm])$")
_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes"}
# Seconds between two retention batches: the worker's commits get the database in between.
PAUSE_S: Final = 0.01


def parse_age(text: str) -> timedelta:
    """`365d`, `30d`, `12h`, `90m` as a duration."""
    match = _AGE.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ValidationFailed(
            f"--older-than {text!r} is not an age: write a whole number with d, h or m, "
            "e.g. 365d, 30d or 12h",
            field="older_than",
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@dataclass(frozen=True, slots=True)
class Eraser:
    """What an erasure touches: the store, the analytics cache it invalidates at once (so the
    next summary no longer counts the posts), and the author hash of SENTIFLOW_HASH_AUTHORS."""

    store: Store
    cache: Cache
    authors: Callable[[str], str] | None = None


async def _done(eraser: Eraser, erased: Erased) -> Erased:
    if erased.ids:
        await eraser.cache.invalidate(
            CacheChange(sources=erased.sources, topics=erased.topics, buckets=erased.buckets)
        )
    log.info("posts.erased", n=len(erased.ids), datasets_marked=erased.datasets_marked)
    return erased


async def erase_post(eraser: Eraser, post_id: str) -> Erased:
    erased = await store.erase_posts(eraser.store, [post_id])
    if not erased.ids:
        raise NotFound(f"no post with id {post_id!r}; ids come from POST /api/posts", field="id")
    return await _done(eraser, erased)


async def erase_author(eraser: Eraser, source: str, author: str) -> Erased:
    """Every post of `author` in `source` (hashed first when authors are stored hashed)."""
    stored = eraser.authors(author) if eraser.authors else author
    ids = await store.author_post_ids(eraser.store, source, stored)
    return await _done(eraser, await store.erase_posts(eraser.store, ids))


@dataclass(frozen=True, slots=True)
class Purged:
    posts: int
    seconds: float
    before: datetime


async def purge(
    db: Store,
    older_than: timedelta,
    *,
    batch: int = store.BATCH,
    max_batches: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Purged:
    """Delete the posts created more than `older_than` ago, with their analyses, labels and
    urgent rows, `batch` at a time (each its own transaction), pausing between batches; then
    the ranking sessions of that age, whose feeds copy post texts."""
    before = datetime.now(UTC) - older_than
    started = time.perf_counter()
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        n = await store.purge_batch(db, before, limit=batch)
        batches += 1
        total += n
        if progress is not None and n:
            progress(n)
        if n < batch:
            break
        await asyncio.sleep(PAUSE_S)
    while True:
        if await store.purge_sessions_batch(db, before, limit=batch) < batch:
            break
        await asyncio.sleep(PAUSE_S)
    seconds = time.perf_counter() - started
    log.info("posts.purged", n=total, before=before.isoformat(), seconds=round(seconds, 3))
    return Purged(total, seconds, before)
