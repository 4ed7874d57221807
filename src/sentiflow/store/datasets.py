"""SQL for dataset snapshots: the row that tracks each one, and the labelled rows it exports,
streamed from the database in chunks (a server-side cursor on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Select, case, func, literal, select, update

from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, corrections, datasets, import_labels, labels, posts
from sentiflow.store.sql import insert_for

# corrections: each corrected post once; labelled: posts with a correction or a label their
# file brought (`sentiflow import --label-column`); all: every analysed post.
Scope = Literal["corrections", "labelled", "all"]
COLUMNS: Final = (
    "id",
    "text",
    "source",
    "topic",
    "created_at",
    "sentiment",
    "emotion",
    "label_source",
    "model_sentiment",
    "model_emotion",
    "model_version",
    "model_confidence",
    "corrected_by",
    "corrected_at",
)


async def last_upto(store: Store) -> int:
    """The newest correction id covered by a snapshot that did not fail (0: none yet)."""
    stmt = select(func.coalesce(func.max(datasets.c.corrections_upto), 0)).where(
        datasets.c.status != "failed"
    )
    async with store.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def insert(
    store: Store,
    *,
    dataset_id: str,
    trigger: str,
    scope: Scope,
    upto: int,
    after_correction: int | None,
) -> bool:
    """Record a new snapshot as building. False when a threshold snapshot after the same
    correction already exists (another process saw the threshold first)."""
    stmt = (
        insert_for(store, datasets)
        .values(
            id=dataset_id,
            status="building",
            trigger=trigger,
            scope=scope,
            after_correction=after_correction,
            corrections_upto=upto,
            rows=0,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["after_correction"])
        .returning(datasets.c.id)
    )
    async with store.engine.begin() as conn:
        return (await conn.execute(stmt)).first() is not None


async def update_dataset(store: Store, dataset_id: str, **values: Any) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(update(datasets).where(datasets.c.id == dataset_id).values(**values))


async def finish(store: Store, dataset_id: str, *, rows: int, manifest: dict[str, Any]) -> None:
    await update_dataset(
        store,
        dataset_id,
        status="ready",
        rows=rows,
        manifest=manifest,
        finished_at=datetime.now(UTC),
    )


async def fail(store: Store, dataset_id: str, error: str) -> None:
    # Freeing `after_correction` lets the next correction trigger the snapshot again.
    await update_dataset(
        store,
        dataset_id,
        status="failed",
        error=error,
        after_correction=None,
        finished_at=datetime.now(UTC),
    )


async def get(store: Store, dataset_id: str) -> dict[str, Any] | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(datasets).where(datasets.c.id == dataset_id))).first()
    return dict(row._mapping) if row else None


async def list_all(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    stmt = select(datasets).order_by(datasets.c.created_at.desc(), datasets.c.id.desc())
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt.limit(limit))).all()
    return [dict(r._mapping) for r in rows]


def _rows(scope: Scope, upto: int) -> Select[Any]:
    if scope == "corrections":
        # Each corrected post once, with its latest correction up to `upto`, so a snapshot
        # can be rebuilt exactly later.
        latest = (
            select(corrections.c.post_id, func.max(corrections.c.id).label("cid"))
            .where(corrections.c.id <= upto)
            .group_by(corrections.c.post_id)
            .subquery()
        )
        c = corrections.alias("c")
        return (
            select(
                posts.c.id,
                posts.c.text,
                posts.c.source,
                posts.c.topic,
                posts.c.created_at,
                c.c.sentiment,
                c.c.emotion,
                literal("human"),
                c.c.old_sentiment,
                c.c.old_emotion,
                c.c.model_version,
                analyses.c.sentiment_confidence,
                c.c.who,
                c.c.created_at,
            )
            .select_from(
                latest.join(c, c.c.id == latest.c.cid)
                .join(posts, posts.c.id == c.c.post_id)
                .join(analyses, analyses.c.post_id == posts.c.id)
            )
            .order_by(c.c.id)
        )
    # A correction wins over the file's label, which wins over the model's; a file label has
    # no emotion, so the model's stays.
    stmt = (
        select(
            posts.c.id,
            posts.c.text,
            posts.c.source,
            posts.c.topic,
            posts.c.created_at,
            func.coalesce(labels.c.sentiment, import_labels.c.sentiment, analyses.c.sentiment),
            func.coalesce(labels.c.emotion, analyses.c.emotion),
            case(
                (labels.c.post_id.is_not(None), "human"),
                (import_labels.c.post_id.is_not(None), "import"),
                else_="model",
            ),
            analyses.c.sentiment,
            analyses.c.emotion,
            analyses.c.model_version,
            analyses.c.sentiment_confidence,
            func.coalesce(labels.c.corrected_by, import_labels.c.source),
            func.coalesce(labels.c.corrected_at, import_labels.c.imported_at),
        )
        .select_from(
            posts.join(analyses, analyses.c.post_id == posts.c.id)
            .outerjoin(labels, labels.c.post_id == posts.c.id)
            .outerjoin(import_labels, import_labels.c.post_id == posts.c.id)
        )
        .order_by(posts.c.created_at, posts.c.id)
    )
    if scope == "labelled":
        stmt = stmt.where(labels.c.post_id.is_not(None) | import_labels.c.post_id.is_not(None))
    return stmt


async def count_rows(store: Store, scope: Scope, upto: int) -> int:
    stmt = select(func.count()).select_from(_rows(scope, upto).order_by(None).subquery())
    async with store.engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def stream_rows(
    store: Store, scope: Scope, upto: int, *, chunk: int
) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """The snapshot's rows (in COLUMNS order), `chunk` at a time, never all in memory."""
    stmt = _rows(scope, upto).execution_options(yield_per=chunk)
    async with store.engine.connect() as conn:
        result = await conn.stream(stmt)
        async for part in result.partitions(chunk):
            yield [tuple(r) for r in part]
