"""/api/sessions: the ranking sessions of users (POST /rank, POST /api/rank with a session, the
user-pool seed) and the feeds they ranked. Not /api/session, the dashboard's sign-in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sentiflow.api.deps import ReadKey, StoreDep, UserKeyDep
from sentiflow.errors import NotFound
from sentiflow.models import UtcDatetime
from sentiflow.store.rank_sessions import get_session, list_sessions

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


class SessionSummary(BaseModel):
    id: str
    user_id: str | None
    platform: str | None
    cohort: str | None
    strategy: str
    partial: bool = Field(description="Whether the ranking was partial (a deadline missed).")
    created_at: UtcDatetime
    count: int = Field(description="Items in the feed.")


class SessionList(SessionSummary):
    items: list[str] = Field(description="The feed's item ids, in the order they were sent.")


class SessionPage(BaseModel):
    items: list[SessionList]


class FeedItem(BaseModel):
    id: str
    source: str | None
    post_id: str | None = Field(description="The stored post the item names, if any.")
    text: str
    sentiment: str | None = Field(
        description="A reviewer's label of the stored post, else the one ranking used, else "
        "the stored analysis's; null for items nothing labelled."
    )
    emotion: str | None
    score: float | None = Field(description="The strategy's score; null when not scored.")


class SessionDetail(SessionSummary):
    items: list[FeedItem]


@router.get("", response_model=SessionPage)
async def sessions(
    store: StoreDep,
    users: UserKeyDep,
    _: ReadKey,
    user_id: str | None = Query(None, max_length=200),
    platform: str | None = Query(None, max_length=40),
    since: UtcDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Ranking sessions, newest first, each with its user, platform and item ids."""
    found = await list_sessions(
        store,
        user_id=None if user_id is None else users(user_id),
        platform=platform,
        since=since,
        limit=limit,
    )
    return {"items": found}


@router.get("/{session_id}", response_model=SessionDetail, responses={404: {}})
async def session(session_id: str, store: StoreDep, _: ReadKey) -> dict[str, Any]:
    """One session's feed, in the order it was sent, with each item's labels."""
    found = await get_session(store, session_id)
    if found is None:
        raise NotFound(f"no ranking session {session_id!r}; list them at /api/sessions")
    return found
