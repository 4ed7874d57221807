"""/api/sources: the configured sources with their polling state; add, change, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from sentiflow.api.deps import AdminKey, StoreDep
from sentiflow.errors import NotFound
from sentiflow.ingest.connectors.registry import validate_config
from sentiflow.models import UtcDatetime
from sentiflow.store import sources as source_store

router = APIRouter(prefix="/api/sources", tags=["sources"])


class SourceIn(BaseModel):
    kind: str = Field(description="reddit, feed, json or simulator.")
    config: dict[str, Any] = Field(default_factory=dict, description="See docs/sources.md.")
    interval_s: float = Field(60.0, gt=0, description="Seconds between polls.")
    enabled: bool = True


class SourceOut(BaseModel):
    name: str
    kind: str
    config: dict[str, Any]
    interval_s: float
    enabled: bool
    cursor: dict[str, Any]
    last_run_at: UtcDatetime | None
    last_fetched: int
    total_fetched: int
    last_error: str | None


def _out(row: source_store.SourceRow) -> SourceOut:
    return SourceOut.model_validate(row, from_attributes=True)


@router.get("", response_model=list[SourceOut])
async def list_sources(store: StoreDep) -> list[SourceOut]:
    """Every source; workers poll the enabled ones, each at its own interval."""
    return [_out(r) for r in await source_store.list_sources(store)]


@router.put("/{name}", response_model=SourceOut, responses={201: {}, 422: {}})
async def put_source(
    name: str, body: SourceIn, store: StoreDep, response: Response, _: AdminKey
) -> SourceOut:
    """Add a source or change one (its cursor is kept); workers pick it up within seconds."""
    config = validate_config(body.kind, body.config)
    created = await source_store.upsert_source(
        store,
        name=name,
        kind=body.kind,
        config=config,
        interval_s=body.interval_s,
        enabled=body.enabled,
    )
    response.status_code = 201 if created else 200
    row = await source_store.get_source(store, name)
    assert row is not None
    return _out(row)


@router.delete("/{name}", status_code=204, responses={404: {}})
async def delete_source(name: str, store: StoreDep, _: AdminKey) -> None:
    if not await source_store.remove_source(store, name):
        raise NotFound(f"no source named {name!r}", field="name")
