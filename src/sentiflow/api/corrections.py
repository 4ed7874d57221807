"""Corrections: fix one post's label, see its history, or correct many at once (scope review)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from sentiflow.api.deps import CorrectorDep, ReviewKey, StoreDep
from sentiflow.feedback import corrections
from sentiflow.models import Emotion, Sentiment, UtcDatetime
from sentiflow.store import corrections as correction_store
from sentiflow.store.corrections import Change
from sentiflow.store.posts import PostFilter

router = APIRouter(tags=["corrections"])


class CorrectionIn(BaseModel):
    sentiment: Sentiment | None = None
    emotion: Emotion | None = None
    note: str | None = Field(None, max_length=2_000)


class CorrectionOut(BaseModel):
    id: int
    post_id: str
    old_sentiment: str
    old_emotion: str
    sentiment: str
    emotion: str
    note: str | None
    who: str
    model_version: str | None = None
    created_at: UtcDatetime


class BulkFilter(BaseModel):
    sentiment: Sentiment | None = None
    emotion: Emotion | None = None
    source: str | None = None
    topic: str | None = None
    q: str | None = Field(None, max_length=200)
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    group: str | None = Field(None, max_length=24, description="A near-duplicate group.")


class BulkIn(CorrectionIn):
    ids: list[str] | None = Field(None, max_length=10_000)
    filter: BulkFilter | None = None
    dry_run: bool = False


class BulkOut(BaseModel):
    matched: int
    corrected: int
    dry_run: bool


@router.post(
    "/api/posts/{post_id}/corrections",
    status_code=201,
    response_model=CorrectionOut,
    responses={409: {"description": "The post is not analysed yet."}},
)
async def correct(
    post_id: str, body: CorrectionIn, corrector: CorrectorDep, who: ReviewKey
) -> CorrectionOut:
    """Set a post's sentiment and/or emotion; the latest correction is its effective label."""
    applied = await corrections.correct(
        corrector,
        post_id=post_id,
        change=Change(sentiment=body.sentiment, emotion=body.emotion, note=body.note, who=who.name),
    )
    return CorrectionOut(
        id=applied.correction_id,
        post_id=applied.post_id,
        old_sentiment=applied.old_sentiment,
        old_emotion=applied.old_emotion,
        sentiment=applied.sentiment,
        emotion=applied.emotion,
        note=body.note,
        who=who.name,
        created_at=applied.created_at,
    )


@router.get("/api/posts/{post_id}/corrections", response_model=list[CorrectionOut])
async def history(post_id: str, store: StoreDep) -> list[CorrectionOut]:
    """Every correction of a post, oldest first."""
    rows = await correction_store.history(store, post_id)
    return [CorrectionOut.model_validate(r) for r in rows]


@router.post("/api/corrections/bulk", response_model=BulkOut)
async def bulk(body: Annotated[BulkIn, Body()], corrector: CorrectorDep, who: ReviewKey) -> BulkOut:
    """Correct posts by `ids` or by `filter` (at most 10,000); `dry_run` only counts them."""
    filters = None
    if body.filter is not None:
        filters = PostFilter(**body.filter.model_dump())
    result = await corrections.correct_bulk(
        corrector,
        change=Change(sentiment=body.sentiment, emotion=body.emotion, note=body.note, who=who.name),
        ids=body.ids,
        filters=filters,
        dry_run=body.dry_run,
    )
    return BulkOut(matched=result.matched, corrected=result.corrected, dry_run=result.dry_run)
