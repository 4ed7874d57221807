"""`save_batch`: the worker's write, through the writer of the store's dialect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sentiflow.models import Analysis, PostIn
from sentiflow.store.db import Store
from sentiflow.store.write import generic, postgres, sqlite
from sentiflow.store.write.base import Written


async def save_batch(
    store: Store,
    batch: Sequence[PostIn],
    results: Sequence[Analysis],
    *,
    duplicate_of: Mapping[str, str] | None = None,
) -> Written:
    """Write posts, their analyses and rollup increments in one transaction; `duplicate_of`
    maps the id of each near-duplicate to the earlier post it copies.

    Idempotent: a post already stored (same dedup key) is skipped with its analysis and
    rollup increment, so a re-delivered batch changes nothing. Returns what it stored now.
    A database that cannot be reached raises `Unavailable(part="store")`.
    """
    # By id, each post once (the first of repeats keeps its place, the last its analysis:
    # both are the same post).
    rows = dict(zip([post.id for post in batch], zip(batch, results, strict=True), strict=True))
    if not rows:
        return Written([], {})
    copies = duplicate_of or {}
    with store.translated():
        if store.dialect == "postgresql":
            return await postgres.save(store, rows, copies)
        if store.dialect == "sqlite":
            return await sqlite.save(store, rows, copies)
        return await generic.save(store, rows, copies)
