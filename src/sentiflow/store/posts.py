"""SQL for posts: the worker's idempotent batch write, and the reads behind /api/posts."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
import structlog
from sqlalchemy import Select, and_, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sentiflow.analytics.urgency import urgent_row
from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis, AnalysisOut, LabelOut, PostIn, PostOut
from sentiflow.store.db import Store
from sentiflow.store.schema import (
    analyses,
    labels,
    posts,
    rollups,
    rollups_day,
    rollups_hour,
    urgent_posts,
)

log = structlog.get_logger("sentiflow.store")


# A minute rollup row's key: (minute since the epoch, source, topic or "", sentiment, emotion).
RollupKey = tuple[int, str, str, str, str]


@dataclass(slots=True)
class Written:
    """What a batch write stored: the (post, analysis) pairs new to the store, each post once,
    and their minute rollup increments, key -> [count, polarity sum, confidence sum]."""

    fresh: list[tuple[PostIn, Analysis]]
    sums: dict[RollupKey, list[float]]

    def add(self, other: Written) -> None:
        self.fresh += other.fresh
        for key, (count, polarity, confidence) in other.sums.items():
            acc = self.sums.setdefault(key, [0, 0.0, 0.0])
            acc[0] += count
            acc[1] += polarity
            acc[2] += confidence


def insert_for(store: Store, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (pg_insert if store.dialect == "postgresql" else sqlite_insert)(table)


def minute_bucket(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored one is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def save_batch(store: Store, batch: Sequence[PostIn], results: Sequence[Analysis]) -> Written:
    """Write posts, their analyses and rollup increments in one transaction.

    Idempotent: a post already stored (same dedup key) is skipped with its analysis and
    rollup increment, so a re-delivered batch changes nothing. Returns what it stored now.
    """
    # By id, each post once (the first of repeats keeps its place, the last its analysis:
    # both are the same post).
    rows = dict(zip([post.id for post in batch], zip(batch, results, strict=True), strict=True))
    if not rows:
        return Written([], {})
    if store.dialect == "postgresql":
        try:
            async with store.engine.begin() as conn:
                return await _copy_pg(conn, rows)
        except asyncpg.UniqueViolationError:
            # Some of these posts are stored already (a batch delivered again), or another
            # worker is storing them: write the batch through ON CONFLICT instead.
            log.info("batch.seen_before", n=len(rows))
            return await _write(store, rows, _insert_pg)
    if store.dialect == "sqlite":
        return await _write(store, rows, _insert_sqlite)
    return await _write(store, rows, partial(_insert_generic, store))


Insert = Callable[
    [AsyncConnection, dict[str, tuple[PostIn, Analysis]], datetime], Awaitable[list[str]]
]


async def _write(store: Store, rows: dict[str, tuple[PostIn, Analysis]], insert: Insert) -> Written:
    async with store.engine.begin() as conn:
        fresh = [rows[pid] for pid in await insert(conn, rows, datetime.now(UTC))]
        sums = await add_rollups(store, conn, fresh) if fresh else {}
    return Written(fresh, sums)


def _post_row(pid: str, post: PostIn, now: datetime) -> dict[str, Any]:
    return {
        "id": pid,
        "source": post.source,
        "external_id": post.dedup_key[1],
        "text": post.text,
        "author": post.author,
        "created_at": post.created_at,
        "url": post.url,
        "topic": post.topic,
        "meta": post.meta,
        "ingested_at": now,
    }


def _analysis_row(pid: str, a: Analysis) -> dict[str, Any]:
    return {
        "post_id": pid,
        "sentiment": a.sentiment,
        "sentiment_confidence": a.sentiment_confidence,
        "sentiment_probs": a.sentiment_probs,
        "polarity": a.polarity,
        "emotion": a.emotion,
        "emotion_confidence": a.emotion_confidence,
        "emotion_probs": a.emotion_probs,
        "model_version": a.model_version,
        "analyzed_at": a.analyzed_at,
    }


async def _insert_generic(
    store: Store, conn: AsyncConnection, rows: dict[str, tuple[PostIn, Analysis]], now: datetime
) -> list[str]:
    stmt = (
        insert_for(store, posts)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(posts.c.id)
    )
    post_rows = [_post_row(pid, post, now) for pid, (post, _) in rows.items()]
    new_ids = [r[0] for r in await conn.execute(stmt, post_rows)]
    if new_ids:
        await conn.execute(
            insert_for(store, analyses).on_conflict_do_nothing(index_elements=["post_id"]),
            [_analysis_row(pid, rows[pid][1]) for pid in new_ids],
        )
    return new_ids


# The columns the worker writes, in the order of the values it hands straight to the driver
# (SQLite's INSERT, PostgreSQL's COPY): values converted once, here, skipping SQLAlchemy's
# per-value bind processing (the largest cost of the embedded pipeline).
_POST_COLUMNS = [c.name for c in posts.columns if c.name != "handled_at"]
_ANALYSIS_COLUMNS = [c.name for c in analyses.columns]
_COPY_POST_COLUMNS = [c for c in _POST_COLUMNS if c != "ingested_at"]
_URGENT_COLUMNS = [c.name for c in urgent_posts.columns]
_urgent_record = itemgetter(*_URGENT_COLUMNS)
_SQLITE_MAX_VARIABLES = 32_766


def _sqlite_time(moment: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime writes and reads (UTC, no offset)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _insert_sqlite(
    conn: AsyncConnection, rows: dict[str, tuple[PostIn, Analysis]], now: datetime
) -> list[str]:
    stamp = _sqlite_time(now)
    post_values = [
        (
            pid,
            post.source,
            post.dedup_key[1],
            post.text,
            post.author,
            _sqlite_time(post.created_at),
            post.url,
            post.topic,
            _sqlite_json(post.meta),
            stamp,
        )
        for pid, (post, _) in rows.items()
    ]
    width = len(_POST_COLUMNS)
    per_statement = _SQLITE_MAX_VARIABLES // width
    new_ids: list[str] = []
    for start in range(0, len(post_values), per_statement):
        chunk = post_values[start : start + per_statement]
        placeholders = ",".join(["(" + ",".join("?" * width) + ")"] * len(chunk))
        result = await conn.exec_driver_sql(
            f"INSERT INTO posts ({','.join(_POST_COLUMNS)}) VALUES {placeholders} "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
            tuple(value for row in chunk for value in row),
        )
        new_ids.extend(r[0] for r in result)
    if new_ids:
        analysis_values = []
        for pid in new_ids:
            a = rows[pid][1]
            analysis_values.append(
                (
                    pid,
                    a.sentiment,
                    a.sentiment_confidence,
                    _sqlite_json(a.sentiment_probs),
                    a.polarity,
                    a.emotion,
                    a.emotion_confidence,
                    _sqlite_json(a.emotion_probs),
                    a.model_version,
                    _sqlite_time(a.analyzed_at),
                )
            )
        await conn.exec_driver_sql(
            f"INSERT INTO analyses ({','.join(_ANALYSIS_COLUMNS)}) "
            f"VALUES ({','.join('?' * len(_ANALYSIS_COLUMNS))}) ON CONFLICT (post_id) DO NOTHING",
            analysis_values,
        )
    return new_ids


# PostgreSQL's bulk path: binary COPY of the posts and their analyses straight into their
# tables, the cheapest way in for the database (no executor per row, no speculative insertion)
# and for the worker (the driver encodes records in C). It takes every post to be new, as all
# are unless a batch is delivered again: then the COPY fails on the primary key (a post stored
# already, or one another worker is committing), the transaction rolls back, and `save_batch`
# writes the batch through `_insert_pg`, the ON CONFLICT statement, which is always right but
# costs the database half as much again. (A look-up of the stored ids first cost more than the
# COPY: the planner chose a scan of the whole table for 1,000 ids.)
async def _copy_pg(conn: AsyncConnection, rows: dict[str, tuple[PostIn, Analysis]]) -> Written:
    # SQLAlchemy begins the transaction with its first statement; the driver's COPY joins it.
    await conn.exec_driver_sql("SELECT 1")
    driver = await _driver(conn)
    dumps = orjson.dumps
    post_records = []
    analysis_records = []
    for pid, (p, a) in rows.items():
        meta = p.meta
        # ingested_at: the column's default, now() (migration 0008), saves encoding a time.
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
    await driver.copy_records_to_table("posts", columns=_COPY_POST_COLUMNS, records=post_records)
    await driver.copy_records_to_table(
        "analyses", columns=_ANALYSIS_COLUMNS, records=analysis_records
    )
    if urgent_records:
        await driver.copy_records_to_table(
            "urgent_posts", columns=_URGENT_COLUMNS, records=urgent_records
        )
    sums = rollup_sums(fresh)
    await _add_rollups_pg(conn, sums, [])
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
        created_at timestamptz, url text, topic text, meta json, sentiment text,
        sentiment_confidence float8, sentiment_probs json, polarity float8, emotion text,
        emotion_confidence float8, emotion_probs json, model_version text,
        analyzed_at timestamptz
    )
),
new_posts AS (
    INSERT INTO posts (id, source, external_id, text, author, created_at, url, topic, meta,
                       ingested_at)
    SELECT id, source, external_id, text, author, created_at, url, topic, meta,
           CAST(:now AS timestamptz)
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


async def _insert_pg(
    conn: AsyncConnection, rows: dict[str, tuple[PostIn, Analysis]], now: datetime
) -> list[str]:
    """Posts and analyses in one statement (see `_PG_SAVE`); the ids inserted."""
    payload = orjson.dumps(
        [
            {**_post_row(pid, p, now), **_analysis_row(pid, a)}
            for pid, (p, a) in sorted(rows.items())
        ]
    ).decode()
    return [r[0] for r in await conn.execute(_PG_SAVE, {"rows": payload, "now": now})]


# Each grain's table with its bucket size in minutes; all are written in the same transaction.
GRAINS: dict[str, tuple[Any, int]] = {
    "minute": (rollups, 1),
    "hour": (rollups_hour, 60),
    "day": (rollups_day, 1440),
}


def rollup_sums(fresh: Sequence[tuple[PostIn, Analysis]]) -> dict[RollupKey, list[float]]:
    """Minute rollup increments of newly stored posts: key → [count, polarity, confidence]."""
    sums: dict[RollupKey, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for post, a in fresh:
        key = (
            minute_bucket(post.created_at),
            post.source,
            post.topic or "",
            a.sentiment,
            a.emotion,
        )
        acc = sums[key]
        acc[0] += 1
        acc[1] += a.polarity
        acc[2] += a.sentiment_confidence
    return sums


def urgent_rows(fresh: Sequence[tuple[PostIn, Analysis]]) -> list[dict[str, Any]]:
    """The `urgent_posts` rows of the negative posts among newly stored ones."""
    return [
        urgent_row(p.id, p.source, p.topic, p.created_at, p.meta, a.sentiment_confidence, a.emotion)
        for p, a in fresh
        if a.sentiment == "negative"
    ]


def coarsen(sums: dict[RollupKey, list[float]], minutes: int) -> dict[RollupKey, list[float]]:
    if minutes == 1:
        return sums
    out: dict[RollupKey, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for (bucket, *rest), (count, pol, conf) in sums.items():
        acc = out[(bucket // minutes, rest[0], rest[1], rest[2], rest[3])]
        acc[0] += count
        acc[1] += pol
        acc[2] += conf
    return out


def rollup_upsert(store: Store, table: Any) -> Any:
    stmt = insert_for(store, table)
    return stmt.on_conflict_do_update(
        index_elements=["bucket", "source", "topic", "sentiment", "emotion"],
        set_={
            "count": table.c.count + stmt.excluded.count,
            "polarity_sum": table.c.polarity_sum + stmt.excluded.polarity_sum,
            "confidence_sum": table.c.confidence_sum + stmt.excluded.confidence_sum,
        },
    )


async def add_rollups(
    store: Store, conn: AsyncConnection, fresh: Sequence[tuple[PostIn, Analysis]]
) -> dict[RollupKey, list[float]]:
    """Count newly stored posts in the rollups (every grain) and the urgent list; returns
    their minute increments."""
    minute_sums = rollup_sums(fresh)
    negative = urgent_rows(fresh)
    if store.dialect == "postgresql":
        await _add_rollups_pg(conn, minute_sums, negative)
        return minute_sums
    for table, minutes in GRAINS.values():
        sums = coarsen(minute_sums, minutes)
        # A stable order keeps concurrent writers from locking rollup rows in opposite orders.
        await conn.execute(
            rollup_upsert(store, table),
            [
                {
                    "bucket": k[0],
                    "source": k[1],
                    "topic": k[2],
                    "sentiment": k[3],
                    "emotion": k[4],
                    "count": int(v[0]),
                    "polarity_sum": v[1],
                    "confidence_sum": v[2],
                }
                for k, v in sorted(sums.items())
            ],
        )
    if negative:
        await conn.execute(insert_for(store, urgent_posts).on_conflict_do_nothing(), negative)
    return minute_sums


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


async def _add_rollups_pg(
    conn: AsyncConnection,
    minute_sums: dict[RollupKey, list[float]],
    negative: list[dict[str, Any]],
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
        await driver.execute(_PG_URGENT, *([row[c] for row in negative] for c in _URGENT_COLUMNS))


@dataclass(frozen=True, slots=True)
class PostFilter:
    sentiment: str | None = None
    emotion: str | None = None
    source: str | None = None
    topic: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[PostOut]
    next_cursor: str | None


# The effective label: a human correction (labels) wins over the model (analyses).
effective_sentiment = func.coalesce(labels.c.sentiment, analyses.c.sentiment)
effective_emotion = func.coalesce(labels.c.emotion, analyses.c.emotion)


def _select() -> Select[Any]:
    return select(
        posts,
        analyses,
        labels.c.sentiment.label("label_sentiment"),
        labels.c.emotion.label("label_emotion"),
        labels.c.corrected_by,
        labels.c.corrected_at,
    ).select_from(
        posts.outerjoin(analyses, analyses.c.post_id == posts.c.id).outerjoin(
            labels, labels.c.post_id == posts.c.id
        )
    )


def _label(m: Any) -> LabelOut | None:
    # Selects that do not join `labels` (e.g. analytics' urgent list) show the model's label.
    if m.get("label_sentiment") is not None:
        return LabelOut(
            sentiment=m["label_sentiment"],
            emotion=m["label_emotion"],
            source="human",
            corrected_by=m["corrected_by"],
            corrected_at=utc(m["corrected_at"]),
        )
    if m["sentiment"] is not None:
        return LabelOut(sentiment=m["sentiment"], emotion=m["emotion"], source="model")
    return None


def _to_post(row: Row[Any]) -> PostOut:
    m = row._mapping
    analysis = None
    if m["sentiment"] is not None:
        analysis = AnalysisOut(
            sentiment=m["sentiment"],
            sentiment_confidence=m["sentiment_confidence"],
            sentiment_probs=m["sentiment_probs"],
            polarity=m["polarity"],
            emotion=m["emotion"],
            emotion_confidence=m["emotion_confidence"],
            emotion_probs=m["emotion_probs"],
            model_version=m["model_version"],
            analyzed_at=utc(m["analyzed_at"]),
        )
    return PostOut(
        id=m["id"],
        source=m["source"],
        external_id=m["external_id"],
        text=m["text"],
        author=m["author"],
        created_at=utc(m["created_at"]),
        url=m["url"],
        topic=m["topic"],
        meta=m["meta"],
        ingested_at=utc(m["ingested_at"]),
        handled_at=utc(m["handled_at"]) if m["handled_at"] else None,
        analysis=analysis,
        label=_label(m),
    )


async def get_post(store: Store, post_id: str) -> PostOut | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(_select().where(posts.c.id == post_id))).first()
    return _to_post(row) if row else None


def encode_cursor(post: PostOut) -> str:
    raw = f"{post.created_at.isoformat()}|{post.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pid = raw.split("|", 1)
        return datetime.fromisoformat(moment), pid
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor is not one this API handed out; pass next_cursor from the previous page",
            field="cursor",
        ) from None


def post_where(f: PostFilter) -> list[Any]:
    """WHERE clauses of a filter over `posts` joined to `analyses` and `labels`."""
    clauses: list[Any] = []
    if f.sentiment:
        clauses.append(effective_sentiment == f.sentiment)
    if f.emotion:
        clauses.append(effective_emotion == f.emotion)
    if f.source:
        clauses.append(posts.c.source == f.source)
    if f.topic:
        clauses.append(posts.c.topic == f.topic)
    if f.q:
        escaped = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(posts.c.text.ilike(f"%{escaped}%", escape="\\"))
    if f.since:
        clauses.append(posts.c.created_at >= f.since)
    if f.until:
        clauses.append(posts.c.created_at < f.until)
    if f.min_confidence is not None:
        clauses.append(analyses.c.sentiment_confidence >= f.min_confidence)
    return clauses


async def list_posts(
    store: Store, filters: PostFilter, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """Newest first (by created_at, then id), keyset-paginated."""
    stmt = _select().where(*post_where(filters))
    if cursor:
        moment, pid = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                posts.c.created_at < moment,
                and_(posts.c.created_at == moment, posts.c.id < pid),
            )
            if store.dialect == "sqlite"
            else tuple_(posts.c.created_at, posts.c.id) < (moment, pid)
        )
    stmt = stmt.order_by(posts.c.created_at.desc(), posts.c.id.desc()).limit(limit + 1)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    items = [_to_post(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)
