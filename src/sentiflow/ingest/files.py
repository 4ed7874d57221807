"""Read posts from CSV, JSONL or Parquet files, mapping the file's columns onto `PostIn`."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sentiflow.errors import ValidationFailed

FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which file column feeds which post field; `source` is a fixed value when no column."""

    text: str = "text"
    external_id: str = "id"
    created_at: str = "created_at"
    author: str = "author"
    source_column: str = "source"
    topic: str = "topic"
    url: str = "url"
    source: str = "import"

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        post: dict[str, Any] = {"source": row.get(self.source_column) or self.source}
        for field, column in (
            ("text", self.text),
            ("external_id", self.external_id),
            ("created_at", self.created_at),
            ("author", self.author),
            ("topic", self.topic),
            ("url", self.url),
        ):
            value = row.get(column)
            if value is None and field == "external_id":
                value = row.get("external_id")
            if value is not None and value != "":
                post[field] = str(value) if field in ("external_id", "author") else value
        if "text" not in post:
            post["text"] = ""
        return post


def detect_format(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    chosen = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet"}.get(chosen, chosen)
    if chosen not in FORMATS:
        raise ValidationFailed(
            f"cannot tell the format of {path.name}; pass --format csv, jsonl or parquet",
            field="format",
        )
    return chosen


@dataclass(frozen=True, slots=True)
class Record:
    line: int
    post: dict[str, Any] | None
    error: str | None = None


def read_records(path: Path, fmt: str, columns: ColumnMap) -> Iterator[Record]:
    """Each row as a post dict with its line number (CSV and JSONL) or row number (Parquet)."""
    if fmt == "csv":
        return _csv_records(path, columns)
    if fmt == "jsonl":
        return _jsonl_records(path, columns)
    return _parquet_records(path, columns)


def _csv_records(path: Path, columns: ColumnMap) -> Iterator[Record]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames and columns.text not in reader.fieldnames:
            raise ValidationFailed(
                f"{path.name} has no column {columns.text!r} (columns: "
                f"{', '.join(reader.fieldnames)}); pass --text-column",
                field="text",
            )
        for row in reader:
            yield Record(reader.line_num, columns.apply(row))


def _jsonl_records(path: Path, columns: ColumnMap) -> Iterator[Record]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Record(number, None, f"not valid JSON ({exc})")
                continue
            if not isinstance(row, dict):
                yield Record(number, None, "each line must be a JSON object")
                continue
            yield Record(number, columns.apply(row))


def _parquet_records(path: Path, columns: ColumnMap) -> Iterator[Record]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield Record(number, columns.apply(row))


def count_rows(path: Path, fmt: str) -> int | None:
    """Rows in the file, for the progress bar (None when it would cost a second read)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.stat().st_size > 500 * 2**20:
        return None
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return lines - 1 if fmt == "csv" else lines
