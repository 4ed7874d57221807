"""`sentiflow import`: a file's rows through the normal ingest path, with a progress bar.

In embedded mode the import runs its own worker and returns once every post is stored; in
distributed mode it queues on Redis and the running workers do the rest.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sentiflow.errors import Backpressure
from sentiflow.ingest.files import ColumnMap, Record, count_rows, read_records
from sentiflow.ingest.service import submit
from sentiflow.queue.base import Broker

CHUNK = 1_000


@dataclass
class ImportResult:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def _submit_chunk(broker: Broker, chunk: list[Record], result: ImportResult) -> None:
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


async def import_posts(
    broker: Broker,
    path: Path,
    fmt: str,
    columns: ColumnMap,
    *,
    progress: bool = True,
    drain: Callable[[], Awaitable[None]] | None = None,
) -> ImportResult:
    """Queue the file's valid rows on `broker`; `drain`, when this process analyses them
    itself (embedded mode), waits until they are stored."""
    result = ImportResult()
    with Progress(
        TextColumn("[bold]import[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task(path.name, total=count_rows(path, fmt))
        records = read_records(path, fmt, columns)
        while chunk := list(itertools.islice(records, CHUNK)):
            await _submit_chunk(broker, chunk, result)
            bar.advance(task, len(chunk))
        if drain is not None:
            bar.update(task, description=f"{path.name} (analysing the rest)")
            await drain()
    result.rejected.sort()
    return result
