"""/api/trends/keywords and /api/jobs: keyword trends, long windows as background jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from sentiflow.api.deps import AnalyticsDep

router = APIRouter(tags=["trends"])


class Term(BaseModel):
    term: str
    kind: Literal["word", "hashtag", "mention"]
    count: int
    previous: int
    change: float


class Keywords(BaseModel):
    window: str
    negative: list[Term]
    positive: list[Term]


class Pending(BaseModel):
    status: Literal["pending"]
    location: str


class Job(BaseModel):
    status: Literal["pending", "done", "failed"]
    result: Any = None


@router.get(
    "/api/trends/keywords",
    response_model=Keywords,
    responses={202: {"model": Pending, "description": "Computing; poll `location`."}},
)
async def keywords(
    analytics: AnalyticsDep,
    window: Annotated[str, Query(description="15m, 1h, 24h, 7d …")] = "1h",
    source: str | None = None,
    topic: str | None = None,
) -> Response:
    """Top terms, #hashtags and @mentions among negative and positive posts in the last
    `window`, with their count in the window before. Long windows on a cold cache answer
    202 with a job to poll."""
    _, payload = await analytics.keywords(window, source=source, topic=topic)
    if isinstance(payload, bytes):
        return Response(payload, media_type="application/json")
    location = f"/api/jobs/{payload}"
    return JSONResponse(
        {"status": "pending", "location": location}, status_code=202, headers={"Location": location}
    )


@router.get("/api/jobs/{job_id}", response_model=Job, responses={404: {}})
async def job(job_id: str, analytics: AnalyticsDep) -> dict[str, Any]:
    """A background job: pending, done (with its result) or failed."""
    return await analytics.job(job_id)
