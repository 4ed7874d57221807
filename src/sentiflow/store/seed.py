"""Bulk writes for `sentiflow seed`: COPY through asyncpg on PostgreSQL, executemany on SQLite.

Rollups go through a staging table on PostgreSQL so a chunk adds to rows already there.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text

from sentiflow.store.db import Store

POST_COLUMNS: Final = (
    "id", "source", "external_id", "text", "author", "created_at", "url", "topic", "meta",
    "ingested_at", "handled_at",
)  # fmt: skip
ANALYSIS_COLUMNS: Final = (
    "post_id", "sentiment", "sentiment_confidence", "sentiment_probs", "polarity", "emotion",
    "emotion_confidence", "emotion_probs", "model_version", "analyzed_at",
)  # fmt: skip
URGENT_COLUMNS: Final = ("post_id", "source", "topic", "created_at", "base", "rank_key")
ROLLUP_COLUMNS: Final = (
    "bucket", "source", "topic", "sentiment", "emotion", "count", "polarity_sum", "confidence_sum",
)  # fmt: skip
TABLES: Final = {"minute": "rollups", "hour": "rollups_hour", "day": "rollups_day"}
_ADD: Final = (
    "ON CONFLICT (bucket, source, topic, sentiment, emotion) DO UPDATE SET "
    "count = {t}.count + excluded.count, "
    "polarity_sum = {t}.polarity_sum + excluded.polarity_sum, "
    "confidence_sum = {t}.confidence_sum + excluded.confidence_sum"
)


def _rollup_rows(sums: dict[Any, list[float]]) -> list[tuple[Any, ...]]:
    return [(*key, int(v[0]), v[1], v[2]) for key, v in sorted(sums.items())]


class BulkWriter:
    def __init__(self, store: Store, conn: Any) -> None:
        self.store = store
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, store: Store) -> AsyncIterator[BulkWriter]:
        if store.dialect == "postgresql":
            import asyncpg  # type: ignore[import-untyped]

            url = store.engine.url.set(drivername="postgresql")
            conn = await asyncpg.connect(url.render_as_string(hide_password=False))
            try:
                # Seeded rows can be re-made: no need to wait for each chunk's WAL flush.
                await conn.execute("SET synchronous_commit = off")
                async with _without_secondary_indexes(conn):
                    yield PgBulkWriter(store, conn)
            finally:
                await conn.close()
        else:
            async with store.engine.connect() as sa_conn:
                yield SqliteBulkWriter(store, sa_conn)

    async def write(
        self,
        posts: list[tuple[Any, ...]],
        analyses: list[tuple[Any, ...]],
        urgent: list[tuple[Any, ...]],
        rollups: dict[str, dict[Any, list[float]]],
    ) -> None:
        raise NotImplementedError


@contextlib.asynccontextmanager
async def _without_secondary_indexes(conn: Any) -> AsyncIterator[None]:
    """Into an empty database, load first and index after: building an index once is far
    cheaper than updating it row by row. Foreign keys are checked once at the end too.
    Primary keys and the dedup key stay, so duplicates still fail."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM posts)"):
        yield
        return
    tables = ["posts", "analyses", "urgent_posts"]
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY($1) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        tables,
    )
    foreign = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1)",
        tables,
    )
    for row in foreign:
        await conn.execute(f'ALTER TABLE {row["tbl"]} DROP CONSTRAINT "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    try:
        yield
    finally:
        for row in indexes:
            await conn.execute(row["indexdef"])
        for row in foreign:
            await conn.execute(
                f'ALTER TABLE {row["tbl"]} ADD CONSTRAINT "{row["conname"]}" {row["def"]}'
            )


class PgBulkWriter(BulkWriter):
    async def write(
        self,
        posts: list[tuple[Any, ...]],
        analyses: list[tuple[Any, ...]],
        urgent: list[tuple[Any, ...]],
        rollups: dict[str, dict[Any, list[float]]],
    ) -> None:
        conn = self.conn
        async with conn.transaction():
            await conn.copy_records_to_table("posts", records=posts, columns=POST_COLUMNS)
            await conn.copy_records_to_table("analyses", records=analyses, columns=ANALYSIS_COLUMNS)
            await conn.copy_records_to_table("urgent_posts", records=urgent, columns=URGENT_COLUMNS)
            for grain, table in TABLES.items():
                await conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS seed_rollups "
                    "(LIKE rollups INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                await conn.copy_records_to_table(
                    "seed_rollups", records=_rollup_rows(rollups[grain]), columns=ROLLUP_COLUMNS
                )
                cols = ", ".join(ROLLUP_COLUMNS)
                await conn.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {cols} FROM seed_rollups "
                    + _ADD.format(t=table)
                )
                await conn.execute("DELETE FROM seed_rollups")


def _sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text (UTC, no offset), since executemany skips its types."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteBulkWriter(BulkWriter):
    async def _many(
        self, table: str, columns: tuple[str, ...], rows: list[Any], tail: str = ""
    ) -> None:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {tail}"
        await self.conn.exec_driver_sql(sql, rows)

    async def write(
        self,
        posts: list[tuple[Any, ...]],
        analyses: list[tuple[Any, ...]],
        urgent: list[tuple[Any, ...]],
        rollups: dict[str, dict[Any, list[float]]],
    ) -> None:
        def times(row: tuple[Any, ...], *at: int) -> tuple[Any, ...]:
            return tuple(
                _sqlite_time(v) if i in at and v is not None else v for i, v in enumerate(row)
            )

        async with self.conn.begin():
            await self._many("posts", POST_COLUMNS, [times(r, 5, 9, 10) for r in posts])
            await self._many("analyses", ANALYSIS_COLUMNS, [times(r, 9) for r in analyses])
            await self._many("urgent_posts", URGENT_COLUMNS, [times(r, 3) for r in urgent])
            for grain, table in TABLES.items():
                await self._many(
                    table, ROLLUP_COLUMNS, _rollup_rows(rollups[grain]), _ADD.format(t=table)
                )


async def analyze_tables(store: Store) -> None:
    """Fresh planner statistics after a bulk load."""
    async with store.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
