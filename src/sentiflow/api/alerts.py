"""/api/alerts: stored spike alerts, newest window first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from sentiflow.api.deps import AnalyticsDep
from sentiflow.models import UtcDatetime
from sentiflow.store.stats import RollupFilter

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class Alert(BaseModel):
    id: int
    kind: Literal["negative_share", "volume"]
    source: str
    topic: str | None
    window_start: UtcDatetime
    window_end: UtcDatetime
    value: float
    baseline_mean: float
    baseline_std: float
    k: float
    evidence: dict[str, Any]
    created_at: UtcDatetime


class AlertPage(BaseModel):
    items: list[Alert]


@router.get("", response_model=AlertPage)
async def alerts(
    analytics: AnalyticsDep,
    source: str | None = None,
    topic: str | None = None,
    since: UtcDatetime | None = None,
    until: UtcDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Spikes of negative share or volume per source and topic, with their evidence."""
    return {"items": await analytics.alerts(RollupFilter(source, topic, since, until), limit=limit)}
