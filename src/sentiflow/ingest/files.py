"""Read posts from CSV, JSONL or Parquet files, mapping the file's columns onto `PostIn`:
named columns feed post fields, the others go into `meta` (or nowhere with `drop_extra`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from sentiflow.errors import ValidationFailed
from sentiflow.models import MAX_META_BYTES

FORMATS = ("csv", "jsonl", "parquet")
# Past this size a file is not read twice to count its records: the bar runs on bytes.
COUNT_LIMIT: Final = 200 * 2**20
_JSON_TYPES: Final = (str, int, float, bool, list, dict)


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
    label: str | None = None
    drop_extra: bool = False

    def mapped(self) -> set[str]:
        return {
            self.text,
            self.external_id,
            "external_id",
            self.created_at,
            self.author,
            self.source_column,
            self.topic,
            self.url,
            "meta",
        }

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
        meta = self._meta(row)
        if meta:
            post["meta"] = meta
        return post

    def _meta(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's own `meta` object plus, unless dropped, its unmapped non-empty columns."""
        own = row.get("meta")
        meta: dict[str, Any] = dict(own) if isinstance(own, dict) else {}
        if self.drop_extra:
            return meta
        mapped = self.mapped()
        for column, value in row.items():
            if column not in mapped and column and value is not None and value != "":
                meta[column] = value if isinstance(value, _JSON_TYPES) else _text(value)
        return meta


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def meta_too_large(meta: dict[str, Any]) -> str | None:
    """Why `meta` cannot be kept (too large, naming its largest columns), or None."""
    size = len(orjson.dumps(meta))
    if size <= MAX_META_BYTES:
        return None
    largest = sorted(meta, key=lambda k: len(orjson.dumps(meta[k])), reverse=True)[:3]
    return (
        f"meta: the extra columns take {size:,} bytes of JSON, over the {MAX_META_BYTES:,} a "
        f"post keeps (largest: {', '.join(largest)}); pass --drop-extra, or remove those "
        "columns from the file"
    )


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
    label: Any = None


class FileReader:
    """A file's records, one per CSV row (however many lines its quoted cells span), JSONL
    line or Parquet row; `bytes_read` follows the reading, for a progress bar (for Parquet, in
    proportion to the rows read: its columns are compressed apart)."""

    def __init__(self, path: Path, fmt: str, columns: ColumnMap) -> None:
        self.path = path
        self.fmt = fmt
        self.columns = columns
        self.size = path.stat().st_size
        self.bytes_read = 0

    def __iter__(self) -> Iterator[Record]:
        if self.fmt == "csv":
            return self._csv()
        if self.fmt == "jsonl":
            return self._jsonl()
        return self._parquet()

    def _record(self, line: int, row: dict[str, Any]) -> Record:
        label = row.get(self.columns.label) if self.columns.label else None
        return Record(line, self.columns.apply(row), label=label)

    def _csv(self) -> Iterator[Record]:
        binary = self.path.open("rb")
        # Closing the text layer closes the file under it; the file's position is bytes read.
        with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text)
            if reader.fieldnames and self.columns.text not in reader.fieldnames:
                raise ValidationFailed(
                    f"{self.path.name} has no column {self.columns.text!r} (columns: "
                    f"{', '.join(reader.fieldnames)}); pass --text-column",
                    field="text",
                )
            if self.columns.label and self.columns.label not in (reader.fieldnames or ()):
                raise ValidationFailed(
                    f"{self.path.name} has no column {self.columns.label!r} (columns: "
                    f"{', '.join(reader.fieldnames or ())}); check --label-column",
                    field="label_column",
                )
            ended = reader.line_num
            for row in reader:
                # A row is named by the line it starts on; quoted cells may span several.
                start, ended = ended + 1, reader.line_num
                self.bytes_read = binary.tell()
                yield self._record(start, row)

    def _jsonl(self) -> Iterator[Record]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                self.bytes_read += len(line)
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
                yield self._record(number, row)

    def _parquet(self) -> Iterator[Record]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.path)
        total = max(parquet.metadata.num_rows, 1)
        number = 0
        # Batches, not whole row groups: a row group may hold millions of rows.
        for batch in parquet.iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                number += 1
                yield self._record(number, row)
            self.bytes_read = self.size * number // total


def read_records(path: Path, fmt: str, columns: ColumnMap) -> Iterator[Record]:
    """Each row as a post dict with its line number (CSV and JSONL) or row number (Parquet)."""
    return iter(FileReader(path, fmt, columns))


def count_records(path: Path, fmt: str) -> int | None:
    """Records in the file, for the progress bar's total: CSV rows (a quoted cell may span
    lines), non-blank JSONL lines, Parquet rows. None when it would cost a second read of a
    large file; the bar then runs on bytes."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.stat().st_size > COUNT_LIMIT:
        return None
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = sum(1 for row in csv.reader(handle) if row)
    return max(rows - 1, 0)
