"""Exports streamed to the client as they are read: the posts a filter matches (CSV, JSON Lines
or Parquet) and a time series (CSV). Each chunk of rows is encoded and handed on before the
next is read; Parquet is written one row group per chunk, so memory stays that of one chunk
however many rows there are. Encoding is CPU work: it runs off the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Final, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.store import export as export_store
from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter
from sentiflow.store.sql import utc

Format = Literal["csv", "jsonl", "parquet"]
MEDIA_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
COLUMNS: Final = export_store.COLUMNS
_TIMES: Final = frozenset({"created_at", "analyzed_at", "handled_at"})
_FLOATS: Final = frozenset({"model_sentiment_confidence", "polarity", "model_emotion_confidence"})
_TIME_AT: Final = tuple(i for i, name in enumerate(COLUMNS) if name in _TIMES)
_META_AT: Final = COLUMNS.index("meta")
SCHEMA: Final = pa.schema(
    [
        (
            name,
            pa.timestamp("us", tz="UTC")
            if name in _TIMES
            else pa.float64()
            if name in _FLOATS
            else pa.string(),
        )
        for name in COLUMNS
    ]
)


def _clean(row: tuple[Any, ...]) -> list[Any]:
    """Times aware (SQLite hands them back naive), meta as JSON text."""
    values = list(row)
    for i in _TIME_AT:
        if values[i] is not None:
            values[i] = utc(values[i])
    values[_META_AT] = orjson.dumps(values[_META_AT] or {}).decode()
    return values


def _csv(rows: Sequence[list[Any]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(COLUMNS)
    writer.writerows([v.isoformat() if isinstance(v, datetime) else v for v in row] for row in rows)
    return buffer.getvalue().encode()


def _jsonl(rows: Sequence[list[Any]]) -> bytes:
    return b"".join(orjson.dumps(dict(zip(COLUMNS, row, strict=True))) + b"\n" for row in rows)


class _Sink:
    """A write-only file for pyarrow that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _Parquet:
    def __init__(self) -> None:
        self.sink = _Sink()
        self.writer = pq.ParquetWriter(self.sink, SCHEMA)

    def row_group(self, rows: Sequence[list[Any]]) -> bytes:
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(column, type=SCHEMA.field(i).type) for i, column in enumerate(columns)],
            schema=SCHEMA,
        )
        self.writer.write_table(table)
        return self.sink.take()

    def end(self) -> bytes:
        self.writer.close()
        return self.sink.take()


async def posts(
    store: Store, filters: PostFilter, fmt: Format, *, chunk: int = 5_000
) -> AsyncIterator[bytes]:
    """The export's bytes, one piece per chunk of rows (a header or the Parquet magic first)."""
    parquet = _Parquet() if fmt == "parquet" else None
    first = True
    async for raw in export_store.post_rows(store, filters, chunk=chunk):
        rows = [_clean(row) for row in raw]
        if parquet is not None:
            yield await asyncio.to_thread(parquet.row_group, rows)
        elif fmt == "csv":
            yield await asyncio.to_thread(_csv, rows, first)
        else:
            yield await asyncio.to_thread(_jsonl, rows)
        first = False
    if parquet is not None:
        yield await asyncio.to_thread(parquet.end)
    elif fmt == "csv" and first:
        yield _csv([], header=True)


def timeseries_csv(series: dict[str, Any]) -> bytes:
    """A `/api/stats/timeseries` answer as CSV: one row per bucket, one column per label."""
    labels = SENTIMENTS if series["by"] == "sentiment" else EMOTIONS
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["t", "total", "avg_polarity", *labels])
    for point in series["points"]:
        counts = point["counts"]
        writer.writerow(
            [point["t"], point["total"], point["avg_polarity"], *(counts.get(k, 0) for k in labels)]
        )
    return buffer.getvalue().encode()
