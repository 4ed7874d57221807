"""Versioned dataset snapshots: labelled rows written as JSONL, CSV and Parquet with a
manifest (counts, label distribution, source model versions, content hash, created_at).

A snapshot starts when corrections since the last one reach SENTIFLOW_SNAPSHOT_THRESHOLD,
called right after the correction's commit (no polling), or on demand. The export runs as
a background job in a process of its own: rows stream from the database in chunks and are
written as they come, so the API's event loop keeps serving requests.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import multiprocessing
import secrets
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from sentiflow.errors import Conflict, NotFound, ValidationFailed
from sentiflow.events import EventBus
from sentiflow.feedback.jobs import Jobs
from sentiflow.settings import Settings
from sentiflow.store import corrections as correction_store
from sentiflow.store import datasets as store
from sentiflow.store.datasets import COLUMNS, Scope
from sentiflow.store.db import Store

log = structlog.get_logger("sentiflow.datasets")
Format = Literal["jsonl", "csv", "parquet"]
FORMATS: Final[tuple[Format, ...]] = ("jsonl", "csv", "parquet")
CHUNK: Final = 5_000
_SCHEMA: Final = pa.schema(
    [(name, pa.float64() if name == "model_confidence" else pa.string()) for name in COLUMNS]
)


def datasets_dir(settings: Settings) -> Path:
    return settings.data_dir / "datasets"


def file_path(settings: Settings, dataset_id: str, fmt: Format) -> Path:
    return datasets_dir(settings) / dataset_id / f"data.{fmt}"


def _new_id() -> str:
    # Sortable by creation time, unique across processes.
    return f"ds-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


class Snapshots:
    """The snapshots one process starts and serves: the threshold trigger after corrections,
    snapshots on demand, and their files. Exports run as `jobs`, cancelled on shutdown."""

    def __init__(self, settings: Settings, store: Store, events: EventBus, jobs: Jobs) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.jobs = jobs

    async def corrections_committed(self, count: int) -> str | None:
        """Called after corrections commit: publish an event, and start a snapshot when enough
        have accumulated since the last one. Returns the new snapshot's id, if one started."""
        last = await store.last_upto(self.store)
        pending, newest = await correction_store.count_since(self.store, last)
        threshold = self.settings.snapshot_threshold
        await self.events.publish(
            {
                "type": "corrections",
                "count": count,
                "since_snapshot": pending,
                "threshold": threshold,
            }
        )
        if pending < threshold:
            return None
        dataset_id = _new_id()
        started = await store.insert(
            self.store,
            dataset_id=dataset_id,
            trigger="threshold",
            scope="corrections",
            upto=newest,
            after_correction=last,
        )
        if not started:
            return None
        log.info("dataset.triggered", id=dataset_id, corrections=pending)
        self.jobs.spawn(self._export(dataset_id), name=f"dataset:{dataset_id}")
        return dataset_id

    async def progress(self) -> dict[str, int]:
        """Corrections since the last snapshot, and how many start the next one."""
        pending, _ = await correction_store.count_since(
            self.store, await store.last_upto(self.store)
        )
        return {"since_snapshot": pending, "threshold": self.settings.snapshot_threshold}

    async def create(self, *, scope: Scope = "corrections") -> dict[str, Any]:
        """Start a snapshot now; it is listed at once with status `building` and its progress."""
        if scope not in ("corrections", "labelled", "all"):
            raise ValidationFailed("scope is 'corrections', 'labelled' or 'all'", field="scope")
        _, newest = await correction_store.count_since(self.store, 0)
        dataset_id = _new_id()
        await store.insert(
            self.store,
            dataset_id=dataset_id,
            trigger="manual",
            scope=scope,
            upto=newest,
            after_correction=None,
        )
        self.jobs.spawn(self._export(dataset_id), name=f"dataset:{dataset_id}")
        return await self.get(dataset_id)

    async def get(self, dataset_id: str) -> dict[str, Any]:
        row = await store.get(self.store, dataset_id)
        if row is None:
            raise NotFound(f"no dataset {dataset_id!r}; GET /api/datasets lists them", field="id")
        return row

    async def list_all(self) -> list[dict[str, Any]]:
        return await store.list_all(self.store)

    async def download_path(self, dataset_id: str, fmt: Format) -> Path:
        if fmt not in FORMATS:
            raise ValidationFailed(f"format is one of {', '.join(FORMATS)}", field="format")
        row = await self.get(dataset_id)
        if row["status"] != "ready":
            raise Conflict(
                f"dataset {dataset_id} is {row['status']} ({row['rows']:,} rows so far); "
                "download it once its status is ready",
                field="id",
            )
        path = file_path(self.settings, dataset_id, fmt)
        if not path.is_file():
            raise NotFound(
                f"dataset {dataset_id} is recorded but {path} is missing; in distributed mode "
                "every API process needs the same SENTIFLOW_DATA_DIR",
                field="id",
            )
        return path

    async def _export(self, dataset_id: str) -> None:
        """The background job: the export runs in its own process (its own database
        connection, its own GIL), so even a million rows cost the API's event loop nothing
        but this wait."""
        process = multiprocessing.get_context("spawn").Process(
            target=_export_process,
            args=(self.settings, dataset_id),
            name=f"sentiflow-export-{dataset_id}",
            daemon=True,
        )
        process.start()
        try:
            await asyncio.to_thread(process.join)
        except asyncio.CancelledError:
            process.terminate()
            await asyncio.shield(asyncio.to_thread(process.join, 10))
            await asyncio.shield(store.fail(self.store, dataset_id, "interrupted by shutdown"))
            raise
        row = await store.get(self.store, dataset_id)
        if row is None or row["status"] != "ready":
            if row is not None and row["status"] == "building":
                await store.fail(self.store, dataset_id, f"export exited with {process.exitcode}")
            log.error("dataset.failed", id=dataset_id, exitcode=process.exitcode)
            return
        log.info("dataset.ready", id=dataset_id, rows=row["rows"])
        await self.events.publish({"type": "dataset", "id": dataset_id, "rows": row["rows"]})


def _export_process(settings: Settings, dataset_id: str) -> None:
    asyncio.run(write_snapshot(settings, dataset_id))


async def write_snapshot(settings: Settings, dataset_id: str) -> None:
    """Stream the snapshot's rows from the database and write its files and manifest,
    recording progress after each chunk. Runs in the export process."""
    db = Store.from_settings(settings)
    final = datasets_dir(settings) / dataset_id
    partial = final.with_name(f"{dataset_id}.partial")
    try:
        row = await store.get(db, dataset_id)
        assert row is not None, f"dataset {dataset_id} is not recorded"
        total = await store.count_rows(db, row["scope"], row["corrections_upto"])
        await store.update_dataset(db, dataset_id, rows_total=total)
        writer = SnapshotWriter(partial)
        try:
            async for chunk in store.stream_rows(
                db, row["scope"], row["corrections_upto"], chunk=CHUNK
            ):
                writer.write(chunk)
                await store.update_dataset(db, dataset_id, rows=writer.rows)
        finally:
            writer.close()
        manifest = writer.manifest(
            dataset_id=dataset_id,
            created_at=row["created_at"],
            scope=row["scope"],
            trigger=row["trigger"],
            corrections_upto=row["corrections_upto"],
        )
        _publish_files(partial, final, manifest)
        await store.finish(db, dataset_id, rows=writer.rows, manifest=manifest)
    except Exception as exc:
        await store.fail(db, dataset_id, repr(exc))
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        await db.close()


def _publish_files(partial: Path, final: Path, manifest: dict[str, Any]) -> None:
    (partial / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    partial.rename(final)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLite hands datetimes back naive; every stored one is UTC.
    return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"


class SnapshotWriter:
    """Writes one snapshot's three files chunk by chunk, hashing the JSONL as it goes."""

    def __init__(self, directory: Path) -> None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.directory = directory
        self.rows = 0
        self._hash = hashlib.sha256()
        self._jsonl: IO[bytes] = (directory / "data.jsonl").open("wb")
        self._csv_file: IO[str] = (directory / "data.csv").open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(COLUMNS)
        self._parquet = pq.ParquetWriter(directory / "data.parquet", _SCHEMA)
        self._sentiment: Counter[str] = Counter()
        self._emotion: Counter[str] = Counter()
        self._label_source: Counter[str] = Counter()
        self._models: Counter[str] = Counter()

    def write(self, chunk: Any) -> None:
        # Only the two timestamps (columns 4 and 13) need converting; the rest are ready.
        records = [(*r[:4], _iso(r[4]), *r[5:13], _iso(r[13])) for r in chunk]
        buffer = io.BytesIO()
        for record in records:
            buffer.write(orjson.dumps(dict(zip(COLUMNS, record, strict=True))))
            buffer.write(b"\n")
        data = buffer.getvalue()
        self._hash.update(data)
        self._jsonl.write(data)
        self._csv.writerows(records)
        columns = list(zip(*records, strict=True)) if records else [() for _ in COLUMNS]
        self._parquet.write_table(
            pa.Table.from_arrays(
                [pa.array(col, type=_SCHEMA.field(i).type) for i, col in enumerate(columns)],
                schema=_SCHEMA,
            )
        )
        for record in records:
            self._sentiment[str(record[5])] += 1
            self._emotion[str(record[6])] += 1
            self._label_source[str(record[7])] += 1
            self._models[str(record[10])] += 1
        self.rows += len(records)

    def close(self) -> None:
        self._jsonl.close()
        self._csv_file.close()
        self._parquet.close()

    def manifest(self, **fields: Any) -> dict[str, Any]:
        files = {
            fmt: {"path": f"data.{fmt}", "bytes": (self.directory / f"data.{fmt}").stat().st_size}
            for fmt in FORMATS
        }
        created = fields.pop("created_at")
        return {
            **fields,
            "created_at": _iso(created),
            "columns": list(COLUMNS),
            "counts": {"rows": self.rows, **dict(self._label_source)},
            "label_distribution": {
                "sentiment": dict(sorted(self._sentiment.items())),
                "emotion": dict(sorted(self._emotion.items())),
            },
            "source_model_versions": dict(sorted(self._models.items())),
            "content_hash": f"sha256:{self._hash.hexdigest()}",
            "files": files,
        }
