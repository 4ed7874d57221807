"""/api/review: the next posts to review, claimed for the caller (scope review)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sentiflow.api.deps import ReviewKey, SettingsDep, SnapshotsDep, StoreDep
from sentiflow.feedback import review
from sentiflow.feedback.review import Strategy
from sentiflow.models import UtcDatetime

router = APIRouter(prefix="/api/review", tags=["review"])


class ReviewItemOut(BaseModel):
    id: str
    text: str
    source: str
    topic: str | None
    created_at: UtcDatetime
    sentiment: str
    sentiment_confidence: float
    sentiment_probs: dict[str, float]
    margin: float
    emotion: str
    emotion_confidence: float
    model_version: str
    second_opinion: dict[str, Any] | None
    claim_expires_at: UtcDatetime
    group: str = Field(description="Its near-duplicate group; GET /api/posts?group= lists it.")
    count: int = Field(
        description="Posts of the group claimed with it, itself included: correct them all "
        "at once with POST /api/corrections/bulk and filter.group."
    )


class ReviewPage(BaseModel):
    strategy: Strategy
    items: list[ReviewItemOut]


class Progress(BaseModel):
    since_snapshot: int = Field(description="Corrections since the last dataset snapshot.")
    threshold: int = Field(description="Corrections that start the next snapshot.")


@router.get("/progress", response_model=Progress)
async def progress(snapshots: SnapshotsDep, _: ReviewKey) -> dict[str, int]:
    """How far the corrections are toward the next dataset snapshot."""
    return await snapshots.progress()


@router.get("", response_model=ReviewPage)
async def next_posts(
    settings: SettingsDep,
    store: StoreDep,
    who: ReviewKey,
    strategy: Strategy = "uncertain",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ReviewPage:
    """Uncorrected posts, least certain first (or where two analyzers disagree, the newest
    negative ones, or at random). Each is claimed for you for SENTIFLOW_REVIEW_CLAIM_S
    seconds."""
    items = await review.next_posts(
        settings, store, strategy=strategy, limit=limit, reviewer=who.name
    )
    return ReviewPage(
        strategy=strategy,
        items=[ReviewItemOut.model_validate(i, from_attributes=True) for i in items],
    )
