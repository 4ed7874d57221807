"""`sentiflow reanalyze`: label stored posts again with a (new) model, page by page, while
the pipeline keeps running. Each page is one transaction; rollups move with the labels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.settings import Settings
from sentiflow.store import reanalyze as store
from sentiflow.store.db import Store

PAGE: Final = 1_000


async def reanalyze(
    settings: Settings,
    db: Store,
    *,
    model: str,
    since: datetime | None,
    until: datetime | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Re-label analysed posts created in [since, until) with `model`; returns how many.
    `progress(done, total)` is called after each page."""
    total = await store.count(db, since=since, until=until)
    progress(0, total)
    pool = AnalyzerPool(settings, name=model, processes=settings.analyzer_processes)
    done = 0
    after: str | None = None
    try:
        while rows := await store.page(db, since=since, until=until, after=after, limit=PAGE):
            results = await pool.analyze([text for _, text in rows])
            done += await store.replace(db, [pid for pid, _ in rows], results)
            after = rows[-1][0]
            progress(done, total)
    finally:
        pool.close()
    return done
