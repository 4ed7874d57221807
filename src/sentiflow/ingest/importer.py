"""`sentiflow import`: a file's rows through the normal ingest path, with a progress bar that
counts records (CSV rows, JSONL lines, Parquet rows) and ends at 100 %.

Each chunk of rows is shaped first: dates read as people write them, the file's own labels
mapped onto sentiments, extra columns checked against meta's limit. In embedded mode the
import runs its own worker and returns once every post is stored; in distributed mode it
queues on Redis and the running workers do the rest.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sentiflow.errors import Backpressure
from sentiflow.ingest.dates import DateReader
from sentiflow.ingest.files import ColumnMap, FileReader, Record, count_records, meta_too_large
from sentiflow.ingest.labelmap import LabelMap
from sentiflow.ingest.service import submit
from sentiflow.queue.base import Broker
from sentiflow.store import import_labels

if TYPE_CHECKING:
    from sentiflow.store.db import Store

CHUNK = 1_000


@dataclass
class ImportResult:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0
    labelled: int = 0


@dataclass(frozen=True, slots=True)
class Shaping:
    """How rows become posts: the date reader, whether an unreadable date falls back to the
    import time (else the row is rejected), and the label map when the file has labels."""

    dates: DateReader = field(default_factory=DateReader)
    fallback_now: bool = False
    labels: LabelMap | None = None

    def chunk(self, records: list[Record], columns: ColumnMap) -> list[Record]:
        # The day/month order comes from the first date that reads only one way, so a file's
        # leading `5/6/2019` is read like its later `5/25/2019`.
        self.dates.learn(r.post["created_at"] for r in records if r.post and "created_at" in r.post)
        return [self._one(r, columns) for r in records]

    def _one(self, record: Record, columns: ColumnMap) -> Record:
        if record.post is None:
            return record
        post = dict(record.post)
        label = None
        if self.labels is not None:
            try:
                label = self.labels.sentiment(record.label)
            except ValueError as exc:
                return Record(record.line, None, f"{columns.label}: {exc}")
        if "created_at" in post:
            try:
                post["created_at"] = self.dates.read(post["created_at"])
            except ValueError as exc:
                if not self.fallback_now:
                    return Record(record.line, None, f"{columns.created_at}: {exc}")
                del post["created_at"]
        problem = meta_too_large(post.get("meta", {}))
        if problem:
            return Record(record.line, None, problem)
        return Record(record.line, post, label=label)


async def _submit_chunk(broker: Broker, chunk: list[Record], result: ImportResult) -> list[Any]:
    """Queue the chunk's valid rows; (post id, label) of each accepted row with a label."""
    rows = [r for r in chunk if r.post is not None]
    result.rejected.extend((r.line, r.error or "") for r in chunk if r.post is None)
    while True:
        try:
            outcome = await submit(broker, [r.post for r in rows])
            break
        except Backpressure as exc:
            await asyncio.sleep(exc.retry_after)
    result.accepted += len(outcome.accepted)
    result.rejected.extend((rows[r.index].line, r.message) for r in outcome.rejected)
    return [(a.id, rows[a.index].label) for a in outcome.accepted if rows[a.index].label]


async def import_posts(
    broker: Broker,
    path: Path,
    fmt: str,
    columns: ColumnMap,
    *,
    shaping: Shaping | None = None,
    store: Store | None = None,
    progress: bool = True,
    console: Console | None = None,
    drain: Callable[[], Awaitable[None]] | None = None,
) -> ImportResult:
    """Queue the file's valid rows on `broker`, and their labels (with `shaping.labels`) in
    `store` under source `import:<file name>`; `drain`, when this process analyses them
    itself (embedded mode), waits until they are stored."""
    shaping = shaping or Shaping()
    result = ImportResult()
    total = count_records(path, fmt)
    reader = FileReader(path, fmt, columns)
    with Progress(
        TextColumn("[bold]import[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
        transient=False,
    ) as bar:
        # Without a record count (a very large file) the bar runs on bytes read.
        task = bar.add_task(path.name, total=total if total is not None else reader.size)
        records = iter(reader)
        while chunk := list(itertools.islice(records, CHUNK)):
            result.rows += len(chunk)
            labelled = await _submit_chunk(broker, shaping.chunk(chunk, columns), result)
            if labelled and store is not None:
                await import_labels.save(store, source=f"import:{path.name}", pairs=labelled)
                result.labelled += len(labelled)
            bar.update(task, completed=result.rows if total is not None else reader.bytes_read)
        bar.update(task, total=result.rows, completed=result.rows)
        if drain is not None:
            bar.update(task, description=f"{path.name} (analysing the rest)")
            await drain()
    result.rejected.sort()
    return result
