"""/api/datasets: snapshots of labelled posts, made on demand or by the correction threshold,
listed with progress and download links (scope admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from sentiflow.api.deps import AdminKey, SnapshotsDep
from sentiflow.feedback.datasets import FORMATS, Format
from sentiflow.models import UtcDatetime
from sentiflow.store.datasets import Scope

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/octet-stream"}


class DatasetIn(BaseModel):
    scope: Scope = "corrections"


class DatasetOut(BaseModel):
    id: str
    status: str
    trigger: str
    scope: str
    rows: int
    rows_total: int | None
    progress: float | None
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    error: str | None
    erased_at: UtcDatetime | None = Field(
        None, description="Set when posts this snapshot holds were erased since: rebuild it."
    )
    manifest: dict[str, Any] | None
    downloads: dict[str, str]


def _out(request: Request, row: dict[str, Any]) -> DatasetOut:
    total = row["rows_total"]
    links = {}
    if row["status"] == "ready":
        base = request.url_for("download", dataset_id=row["id"])
        links = {fmt: f"{base}?format={fmt}" for fmt in FORMATS}
    return DatasetOut(
        **{k: row[k] for k in ("id", "status", "trigger", "scope", "rows", "rows_total")},
        progress=round(row["rows"] / total, 4) if total else (1.0 if total == 0 else None),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        erased_at=row.get("erased_at"),
        manifest=row["manifest"],
        downloads=links,
    )


@router.post("", status_code=202, response_model=DatasetOut)
async def create(
    request: Request, snapshots: SnapshotsDep, _: AdminKey, body: DatasetIn | None = None
) -> DatasetOut:
    """Start a snapshot in the background: `corrections` (human labels) or `all` (every
    analysed post with its effective label). Poll GET /api/datasets/{id} for progress."""
    row = await snapshots.create(scope=(body or DatasetIn()).scope)
    return _out(request, row)


@router.get("", response_model=list[DatasetOut])
async def list_datasets(request: Request, snapshots: SnapshotsDep, _: AdminKey) -> list[DatasetOut]:
    return [_out(request, r) for r in await snapshots.list_all()]


@router.get("/{dataset_id}", response_model=DatasetOut)
async def get_dataset(
    dataset_id: str, request: Request, snapshots: SnapshotsDep, _: AdminKey
) -> DatasetOut:
    return _out(request, await snapshots.get(dataset_id))


@router.get(
    "/{dataset_id}/download",
    name="download",
    responses={
        200: {"description": "The snapshot's file (JSONL, CSV or Parquet)."},
        409: {"description": "The snapshot is not finished yet."},
    },
)
async def download(
    dataset_id: str, snapshots: SnapshotsDep, _: AdminKey, format: Format = "jsonl"
) -> FileResponse:
    """The snapshot's file, streamed from disk."""
    path = await snapshots.download_path(dataset_id, format)
    return FileResponse(path, media_type=MEDIA[format], filename=f"{dataset_id}.{format}")
