"""Bulk writes for `sentiflow seed`: binary COPY through asyncpg on PostgreSQL, executemany on
SQLite.

Into empty tables the whole seed is one transaction with the seeded tables' indexes dropped,
built once at the end; on PostgreSQL their primary, unique and foreign keys too, since keeping
a primary key on random ids up to date row by row is what made seeding slow. A failed seed
rolls back, keys included. Into tables that already hold posts each chunk is one transaction
with the keys in place, and rollup rows add to the cells already there.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from sqlalchemy import text

from sentiflow.store.db import Store

ROLLUP_COLUMNS: Final = (
    "bucket", "source", "topic", "sentiment", "emotion", "count", "polarity_sum", "confidence_sum",
)  # fmt: skip
ROLLUP_TABLES: Final = ("rollups", "rollups_hour", "rollups_day")
SEEDED: Final = ("posts", "analyses", "urgent_posts", *ROLLUP_TABLES)
_ADD: Final = (
    "ON CONFLICT (bucket, source, topic, sentiment, emotion) DO UPDATE SET "
    "count = {t}.count + excluded.count, "
    "polarity_sum = {t}.polarity_sum + excluded.polarity_sum, "
    "confidence_sum = {t}.confidence_sum + excluded.confidence_sum"
)
_EMPTY: Final = "SELECT " + " AND ".join(f"NOT EXISTS (SELECT 1 FROM {t})" for t in SEEDED)

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Table:
    """One table's rows as columns. Times are whole microseconds since the epoch (UTC), as
    numpy arrays, so that each writer makes of them what its driver takes."""

    columns: dict[str, list[Any]]
    times: dict[str, np.ndarray[Any, np.dtype[np.int64]]]

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.columns, *self.times)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


@dataclass(frozen=True, slots=True)
class Chunk:
    tables: dict[str, Table]  # posts first: the others point at it
    # Rollup table → (bucket, source, topic, sentiment, emotion, count, polarity_sum,
    # confidence_sum) rows; over a whole seed each cell comes once (analytics/seed.py).
    rollups: dict[str, Rows]

    @property
    def posts(self) -> int:
        return len(self.tables["posts"])


class BulkWriter:
    # Into empty tables: one transaction, indexes built when the writer closes.
    into_empty: bool

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, store: Store) -> AsyncIterator[BulkWriter]:
        if store.dialect == "postgresql":
            async with _pg_writer(store) as writer:
                yield writer
        else:
            async with _sqlite_writer(store) as writer:
                yield writer

    async def write(self, chunk: Chunk) -> None:
        raise NotImplementedError


@contextlib.asynccontextmanager
async def _pg_writer(store: Store) -> AsyncIterator[BulkWriter]:
    conn = await store.connect_driver()
    try:
        if await conn.fetchval(_EMPTY):
            async with conn.transaction(), _pg_keys_built_after(conn):
                yield PgBulkWriter(conn, into_empty=True)
        else:
            # Seeded rows can be re-made: no need to wait for each chunk's WAL flush (unless
            # behind a pooler, where a session setting would outlive this client).
            if not store.pooled:
                await conn.execute("SET synchronous_commit = off")
            yield PgBulkWriter(conn, into_empty=False)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _pg_keys_built_after(conn: Any) -> AsyncIterator[None]:
    """Drop the seeded tables' indexes and keys (and the foreign keys of other tables that
    point at them) inside the load's transaction, and build them after the load. The rebuilt
    keys still reject duplicates and orphans."""
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype IN ('p', 'u', 'f') "
        "AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1)) "
        # Foreign keys first: they depend on the keys they point at.
        "ORDER BY contype = 'f' DESC",
        SEEDED,
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = indexname)",
        SEEDED,
    )
    for row in constraints:
        await conn.execute(f'ALTER TABLE {row["tbl"]} DROP CONSTRAINT "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    yield
    # Room for the index builds' sorts, in this transaction only.
    await conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
    for row in reversed(constraints):
        await conn.execute(
            f'ALTER TABLE {row["tbl"]} ADD CONSTRAINT "{row["conname"]}" {row["def"]}'
        )
    for row in indexes:
        await conn.execute(row["indexdef"])


def _datetimes(times: np.ndarray[Any, Any]) -> list[datetime]:
    # Exact: a double holds any microsecond of these centuries to well under half a µs.
    return [datetime.fromtimestamp(t, UTC) for t in (times / 1e6).tolist()]


class PgBulkWriter(BulkWriter):
    def __init__(self, conn: Any, *, into_empty: bool) -> None:
        self.conn = conn
        self.into_empty = into_empty

    async def write(self, chunk: Chunk) -> None:
        if self.into_empty:  # one transaction holds the whole load (_pg_writer)
            await self._copy(chunk)
        else:
            async with self.conn.transaction():
                await self._copy(chunk)

    async def _copy(self, chunk: Chunk) -> None:
        conn = self.conn
        for name, table in chunk.tables.items():
            columns = [*table.columns.values(), *map(_datetimes, table.times.values())]
            await conn.copy_records_to_table(
                name, records=zip(*columns, strict=True), columns=table.names
            )
        for name, rows in chunk.rollups.items():
            if self.into_empty:
                await conn.copy_records_to_table(name, records=rows, columns=ROLLUP_COLUMNS)
                continue
            await conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seed_rollups "
                "(LIKE rollups INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            await conn.copy_records_to_table("seed_rollups", records=rows, columns=ROLLUP_COLUMNS)
            cols = ", ".join(ROLLUP_COLUMNS)
            await conn.execute(
                f"INSERT INTO {name} ({cols}) SELECT {cols} FROM seed_rollups "
                + _ADD.format(t=name)
            )
            await conn.execute("DELETE FROM seed_rollups")


@contextlib.asynccontextmanager
async def _sqlite_writer(store: Store) -> AsyncIterator[BulkWriter]:
    async with store.engine.connect() as conn:
        # Up to 2 GiB of page cache while loading (taken only as pages are read): the load is
        # one transaction, and once its pages spill out of the cache every further write
        # looks them up in an ever longer WAL. Set back after, since the pool hands this
        # connection out again.
        default = (await conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()
        await conn.exec_driver_sql("PRAGMA cache_size = -2097152")
        try:
            empty = (await conn.exec_driver_sql(_EMPTY)).scalar_one()
            await conn.commit()
            if empty:
                async with conn.begin(), _sqlite_indexes_built_after(conn):
                    yield SqliteBulkWriter(conn, into_empty=True)
            else:
                yield SqliteBulkWriter(conn, into_empty=False)
        finally:
            await conn.exec_driver_sql(f"PRAGMA cache_size = {int(default)}")
            await conn.commit()


@contextlib.asynccontextmanager
async def _sqlite_indexes_built_after(conn: Any) -> AsyncIterator[None]:
    """SQLite keeps primary and unique keys in indexes of their own that cannot be dropped;
    the other indexes of the seeded tables are dropped and built after the load."""
    marks = ", ".join("?" for _ in SEEDED)
    indexes = (
        await conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            SEEDED,
        )
    ).all()
    for name, _ in indexes:
        await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _, sql in indexes:
        await conn.exec_driver_sql(sql)


def _sqlite_times(times: np.ndarray[Any, Any]) -> list[str]:
    """SQLAlchemy's SQLite DateTime text (UTC, no offset), since executemany skips its types."""
    text_ = np.datetime_as_string(times.astype("datetime64[us]"))
    return np.char.replace(text_, "T", " ").tolist()  # type: ignore[no-any-return]


class SqliteBulkWriter(BulkWriter):
    def __init__(self, conn: Any, *, into_empty: bool) -> None:
        self.conn = conn
        self.into_empty = into_empty

    async def write(self, chunk: Chunk) -> None:
        if self.into_empty:  # one transaction holds the whole load (_sqlite_writer)
            await self._insert(chunk)
        else:
            async with self.conn.begin():
                await self._insert(chunk)

    async def _many(self, table: str, columns: tuple[str, ...], rows: Any, tail: str = "") -> None:
        batch = list(rows)
        if not batch:  # a chunk inside one open hour has no closed hour cells
            return
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {tail}"
        await self.conn.exec_driver_sql(sql, batch)

    async def _insert(self, chunk: Chunk) -> None:
        for name, table in chunk.tables.items():
            columns = [*table.columns.values(), *map(_sqlite_times, table.times.values())]
            await self._many(name, table.names, zip(*columns, strict=True))
        for name, rows in chunk.rollups.items():
            await self._many(name, ROLLUP_COLUMNS, rows, _ADD.format(t=name))


async def analyze_tables(store: Store) -> None:
    """Planner statistics after a bulk load. PostgreSQL also vacuums: that sets the rows'
    hint bits and the visibility map once, now, instead of in the first queries to read
    them or in an autovacuum that would scan every table during a bench."""
    if store.dialect == "postgresql":
        async with store.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
        return
    async with store.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
