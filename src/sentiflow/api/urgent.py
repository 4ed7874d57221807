"""/api/posts/urgent and /api/posts/{id}/handled: the negative posts that need an answer.

Included before the posts router, so `/api/posts/urgent` is not taken for a post id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sentiflow.api.deps import AnalyticsDep, ReviewKey
from sentiflow.models import PostOut
from sentiflow.store.stats import RollupFilter

router = APIRouter(prefix="/api/posts", tags=["urgent"])


class UrgentPost(PostOut):
    urgency: float
    count: int = Field(
        description="Urgent posts of its near-duplicate group (copies, retweets), itself "
        "included; GET /api/posts?group= lists them."
    )


class UrgentPage(BaseModel):
    items: list[UrgentPost]


@router.get("/urgent", response_model=UrgentPage)
async def urgent(
    analytics: AnalyticsDep,
    source: str | None = None,
    topic: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Negative posts not yet handled, most urgent first (score: docs/analytics.md); a group
    of near-duplicates is shown once, by its most urgent post, with its `count`."""
    items = await analytics.urgent(RollupFilter(source, topic, since, until), limit=limit)
    return {"items": items}


@router.post("/{post_id}/handled", response_model=PostOut, responses={404: {}})
async def handled(post_id: str, analytics: AnalyticsDep, _: ReviewKey) -> PostOut:
    """Mark a post handled: it leaves the urgent list, with its near-duplicates."""
    return await analytics.handled(post_id)
