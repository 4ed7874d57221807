"""/api/stats: analytics read from the minute rollups."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from sentiflow.api.deps import StoreDep
from sentiflow.api.schemas import Summary
from sentiflow.store import stats

router = APIRouter(prefix="/api/stats", tags=["stats"])


@router.get("/summary", response_model=Summary)
async def summary(
    store: StoreDep,
    source: str | None = None,
    topic: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Summary:
    """Totals per sentiment and emotion, mean polarity, posts/minute over the last hour."""
    result = await stats.summary(
        store, stats.RollupFilter(source=source, topic=topic, since=since, until=until)
    )
    return Summary.model_validate(result)
