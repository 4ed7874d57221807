"""Label corrections: one post or many, each kept as history; the latest is the post's
effective label. Right after each commit the dataset-snapshot trigger is told (no polling)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sentiflow.analytics.cache import Cache
from sentiflow.analytics.cache import Change as CacheChange
from sentiflow.errors import Conflict, NotFound, ValidationFailed
from sentiflow.feedback.datasets import Snapshots
from sentiflow.store import corrections as store
from sentiflow.store.corrections import Applied, Change
from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter

MAX_BULK: Final = 10_000
CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class BulkResult:
    matched: int
    corrected: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class Corrector:
    """What a correction touches: the store, the analytics cache it invalidates at once (so the
    corrector reads their own write), and the snapshot trigger told right after the commit."""

    store: Store
    cache: Cache
    snapshots: Snapshots


async def _committed(corrector: Corrector, applied: Sequence[Applied]) -> None:
    await corrector.cache.invalidate(
        CacheChange(
            sources=frozenset(a.source for a in applied),
            topics=frozenset(a.topic for a in applied if a.topic),
            buckets=tuple(sorted({a.bucket for a in applied})),
        )
    )
    await corrector.snapshots.corrections_committed(len(applied))


def _check(change: Change) -> None:
    if change.sentiment is None and change.emotion is None:
        raise ValidationFailed(
            "a correction needs a new sentiment and/or emotion", field="sentiment"
        )


async def correct(corrector: Corrector, *, post_id: str, change: Change) -> Applied:
    _check(change)
    applied = await store.apply(corrector.store, [post_id], change)
    if not applied:
        exists, _ = await store.post_state(corrector.store, post_id)
        if not exists:
            raise NotFound(
                f"no post with id {post_id!r}; ids come from POST /api/posts", field="id"
            )
        raise Conflict(
            f"post {post_id!r} is not analysed yet; correct it once it has a label", field="id"
        )
    await _committed(corrector, applied)
    return applied[0]


async def correct_bulk(
    corrector: Corrector,
    *,
    change: Change,
    ids: Sequence[str] | None,
    filters: PostFilter | None,
    dry_run: bool,
) -> BulkResult:
    """Correct posts by id or by filter, in chunks of one transaction each. A dry run only
    counts what would change. More than MAX_BULK matches is refused: narrow the filter."""
    _check(change)
    if (ids is None) == (filters is None):
        raise ValidationFailed("send either 'ids' or 'filter', not both or neither", field="ids")
    if ids is not None:
        targets = list(dict.fromkeys(ids))
        if len(targets) > MAX_BULK:
            raise ValidationFailed(
                f"{len(targets):,} ids; send at most {MAX_BULK:,} per request", field="ids"
            )
        matched = await store.existing_analysed(corrector.store, targets)
    else:
        assert filters is not None
        matched, targets = await store.matching_ids(corrector.store, filters, limit=MAX_BULK)
        if matched > MAX_BULK and not dry_run:
            raise ValidationFailed(
                f"the filter matches {matched:,} posts; narrow it to at most {MAX_BULK:,} "
                "(for example with since/until)",
                field="filter",
            )
    if dry_run:
        return BulkResult(matched=matched, corrected=0, dry_run=True)
    applied: list[Applied] = []
    for i in range(0, len(targets), CHUNK):
        applied.extend(await store.apply(corrector.store, targets[i : i + CHUNK], change))
    corrected = len(applied)
    if applied:
        await _committed(corrector, applied)
    return BulkResult(matched=matched, corrected=corrected, dry_run=False)
