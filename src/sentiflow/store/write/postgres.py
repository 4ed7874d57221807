"""PostgreSQL's writer. The bulk path is a binary COPY of the posts and their analyses straight
into their tables, the cheapest way in for the database (no executor per row, no speculative
insertion) and for the worker (the driver encodes records in C). It takes every post to be new,
as all are unless a batch is delivered again: then the COPY fails on the primary key (a post
stored already, or one another worker is committing), the transaction rolls back, and the
batch goes in through `insert_rows`, the ON CONFLICT statement, which is always right but costs
the database half as much again. (A look-up of the stored ids first cost more than the COPY: the
planner chose a scan of the whole table for a batch's ids.)
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any, Final

import asyncpg  # type: ignore[import-untyped]
import orjson
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.models import Analysis, PostIn
from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS, Sums, coarsen, rollup_sums, urgent_rows
from sentiflow.store.schema import analyses, posts, urgent_posts
from sentiflow.store.write.base import (
    Copies,
    Rows,
    Written,
    analysis_row,
    post_row,
    write_with,
)

log = structlog.get_logger("sentiflow.store")

ANALYSIS_COLUMNS: Final = [c.name for c in analyses.columns]
# ingested_at: the column's default, now(), saves encoding a time.
COPY_POST_COLUMNS: Final = [
    c.name for c in posts.columns if c.name not in ("handled_at", "ingested_at")
]
URGENT_COLUMNS: Final = [c.name for c in urgent_posts.columns]
_urgent_record = itemgetter(*URGENT_COLUMNS)


async def save(store: Store, rows: Rows, copies: Copies) -> Written:
    try:
        async with store.engine.begin() as conn:
            return await _copy(conn, rows, copies)
    except asyncpg.UniqueViolationError:
        # Some of these posts are stored already (a batch delivered again), or another
        # worker is storing them: write the batch through ON CONFLICT instead.
        log.info("batch.seen_before", n=len(rows))
        return await write_with(store, rows, partial(insert_rows, copies), add_rollups)


async def _copy(conn: AsyncConnection, rows: Rows, copies: Copies) -> Written:
    # SQLAlchemy begins the transaction with its first statement; the driver's COPY joins it.
    await conn.exec_driver_sql("SELECT 1")
    driver = await _driver(conn)
    dumps = orjson.dumps
    post_records = []
    analysis_records = []
    for pid, (p, a) in rows.items():
        meta = p.meta
        post_records.append(
            (
                pid,
                p.source,
                # The external id, or the content hash standing in for it (computed then).
                p.external_id or p.dedup_key[1],
                p.text,
                p.author,
                p.created_at,
                p.url,
                p.topic,
                dumps(meta).decode() if meta else "{}",
                copies.get(pid),
                p.lang or a.lang,
            )
        )
        analysis_records.append(
            (
                pid,
                a.sentiment,
                a.sentiment_confidence,
                dumps(a.sentiment_probs).decode(),
                a.polarity,
                a.emotion,
                a.emotion_confidence,
                dumps(a.emotion_probs).decode(),
                a.model_version,
                a.analyzed_at,
            )
        )
    fresh = list(rows.values())
    urgent_records = [_urgent_record(row) for row in urgent_rows(fresh)]
    await driver.copy_records_to_table("posts", columns=COPY_POST_COLUMNS, records=post_records)
    await driver.copy_records_to_table(
        "analyses", columns=ANALYSIS_COLUMNS, records=analysis_records
    )
    if urgent_records:
        await driver.copy_records_to_table(
            "urgent_posts", columns=URGENT_COLUMNS, records=urgent_records
        )
    sums = rollup_sums(fresh)
    await _add_rollups(conn, sums, [])
    return Written(fresh, sums)


# PostgreSQL's always-right path, one statement: the batch goes in as one JSON array of rows,
# which the database unpacks (`json_to_recordset`); posts are inserted unless their id (a hash
# of the dedup key) is already stored, and only the posts inserted now get an analysis (and, in
# `add_rollups`, count in the rollups). Sorted inserts keep concurrent workers from locking rows
# in opposite orders. The analyses need no ON CONFLICT: each belongs to a post inserted now.
_PG_SAVE = text("""
WITH input AS (
    SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS t(
        id text, source text, external_id text, text text, author text,
        created_at timestamptz, url text, topic text, meta json, duplicate_of text, lang text,
        sentiment text,
        sentiment_confidence float8, sentiment_probs json, polarity float8, emotion text,
        emotion_confidence float8, emotion_probs json, model_version text,
        analyzed_at timestamptz
    )
),
new_posts AS (
    INSERT INTO posts (id, source, external_id, text, author, created_at, url, topic, meta,
                       duplicate_of, lang, ingested_at)
    SELECT id, source, external_id, text, author, created_at, url, topic, meta, duplicate_of,
           lang, CAST(:now AS timestamptz)
    FROM input ORDER BY id
    ON CONFLICT (id) DO NOTHING
    RETURNING id
),
new_analyses AS (
    INSERT INTO analyses (post_id, sentiment, sentiment_confidence, sentiment_probs, polarity,
                          emotion, emotion_confidence, emotion_probs, model_version, analyzed_at)
    SELECT i.id, i.sentiment, i.sentiment_confidence, i.sentiment_probs, i.polarity,
           i.emotion, i.emotion_confidence, i.emotion_probs, i.model_version, i.analyzed_at
    FROM input i JOIN new_posts n ON n.id = i.id
)
SELECT id FROM new_posts
""")


async def insert_rows(
    copies: Copies, conn: AsyncConnection, rows: Rows, now: datetime
) -> list[str]:
    """Posts and analyses in one statement (see `_PG_SAVE`); the ids inserted."""
    payload = orjson.dumps(
        [
            {**post_row(pid, p, a, now, copies), **analysis_row(pid, a)}
            for pid, (p, a) in sorted(rows.items())
        ]
    ).decode()
    return [r[0] for r in await conn.execute(_PG_SAVE, {"rows": payload, "now": now})]


# PostgreSQL takes each grain's increments as arrays in one statement: executemany would run
# one INSERT per rollup row, several hundred per batch. The input is sorted, so concurrent
# workers lock shared rollup rows in the same order. Run on the driver's connection, inside
# the transaction SQLAlchemy began, which spares SQLAlchemy's statement handling per batch.
_PG_ROLLUP = """
INSERT INTO {table} (bucket, source, topic, sentiment, emotion, count, polarity_sum,
                     confidence_sum)
SELECT * FROM unnest(
    $1::integer[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[],
    $7::float8[], $8::float8[]
)
ON CONFLICT (bucket, source, topic, sentiment, emotion) DO UPDATE SET
    count = {table}.count + excluded.count,
    polarity_sum = {table}.polarity_sum + excluded.polarity_sum,
    confidence_sum = {table}.confidence_sum + excluded.confidence_sum
"""
_PG_ROLLUPS = {name: _PG_ROLLUP.format(table=table.name) for name, (table, _) in GRAINS.items()}
_PG_URGENT = """
INSERT INTO urgent_posts (post_id, source, topic, created_at, base, rank_key)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], $6::float8[]
)
ON CONFLICT DO NOTHING
"""


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn`, in the transaction `conn` has begun (SQLAlchemy
    begins it with its first statement: run one before)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def add_rollups(conn: AsyncConnection, fresh: list[tuple[PostIn, Analysis]]) -> Sums:
    """Count newly stored posts in the rollups (every grain) and the urgent list; returns
    their minute increments."""
    minute_sums = rollup_sums(fresh)
    await _add_rollups(conn, minute_sums, urgent_rows(fresh))
    return minute_sums


async def _add_rollups(
    conn: AsyncConnection, minute_sums: Sums, negative: list[dict[str, Any]]
) -> None:
    driver = await _driver(conn)
    for name, (_, minutes) in GRAINS.items():
        ordered = sorted(coarsen(minute_sums, minutes).items())
        await driver.execute(
            _PG_ROLLUPS[name],
            [k[0] for k, _ in ordered],
            [k[1] for k, _ in ordered],
            [k[2] for k, _ in ordered],
            [k[3] for k, _ in ordered],
            [k[4] for k, _ in ordered],
            [int(v[0]) for _, v in ordered],
            [v[1] for _, v in ordered],
            [v[2] for _, v in ordered],
        )
    if negative:
        await driver.execute(_PG_URGENT, *([row[c] for row in negative] for c in URGENT_COLUMNS))
