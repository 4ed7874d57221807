"""/api/searches: start a keyword search job (identical searches share one) and read it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from sentiflow import searches
from sentiflow.api.deps import IngestKey, KeysDep, LocksDep, SettingsDep, StoreDep
from sentiflow.errors import NotFound
from sentiflow.models import PostOut, UtcDatetime
from sentiflow.store import posts as post_store
from sentiflow.store import search_jobs as search_store
from sentiflow.store import sources as source_store

router = APIRouter(prefix="/api/searches", tags=["searches"])


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="Words to search for.")
    sources: list[str] = Field(
        default_factory=lambda: [searches.STORED],
        max_length=20,
        description="'stored' (posts already here), 'reddit', or names of configured sources.",
    )
    limit: int = Field(100, ge=1, le=1_000, description="Most posts in the result.")


class SearchAccepted(BaseModel):
    id: str
    status: str
    created: bool = Field(description="False when an identical search already serves this one.")
    location: str


class SearchResults(BaseModel):
    total: int
    sentiment: dict[str, int]
    emotion: dict[str, int]
    by_source: dict[str, int]
    posts: list[PostOut]


class SearchOut(BaseModel):
    id: str
    query: str
    sources: list[str]
    limit: int
    status: str = Field(description="queued, running, done or failed.")
    progress: float
    error: str | None
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    results: SearchResults | None


@router.post("", status_code=202, response_model=SearchAccepted, responses={422: {}})
async def start(
    body: SearchIn,
    store: StoreDep,
    locks: LocksDep,
    keys: KeysDep,
    settings: SettingsDep,
    response: Response,
    _: IngestKey,
) -> SearchAccepted:
    """Start a search, or join the identical one running or finished in the last few minutes."""
    known = {s.name for s in await source_store.list_sources(store)}
    searches.check_sources(body.sources, known)
    started = await searches.start_search(
        store,
        locks,
        keys,
        settings,
        query=body.query,
        sources=body.sources,
        limit=body.limit,
    )
    job = await search_store.get_search_job(store, started.job_id)
    location = f"/api/searches/{started.job_id}"
    response.headers["Location"] = location
    return SearchAccepted(
        id=started.job_id,
        status=job.status if job else "queued",
        created=started.created,
        location=location,
    )


@router.get("/{job_id}", response_model=SearchOut, responses={404: {}})
async def get(job_id: str, store: StoreDep) -> SearchOut:
    """Status and progress; when done, the posts found with their sentiment and emotion."""
    job = await search_store.get_search_job(store, job_id)
    if job is None:
        raise NotFound(f"no search job {job_id!r}; ids come from POST /api/searches", field="id")
    results = None
    if job.status == "done" and job.result is not None:
        found: dict[str, Any] = job.result
        results = SearchResults(
            total=found["total"],
            sentiment=found["sentiment"],
            emotion=found["emotion"],
            by_source=found["by_source"],
            posts=await post_store.posts_by_ids(store, found["post_ids"]),
        )
    return SearchOut(
        id=job.id,
        query=job.query,
        sources=job.sources,
        limit=job.max_results,
        status=job.status,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        results=results,
    )
