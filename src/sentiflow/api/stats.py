"""/api/stats: analytics read from the rollups through the cache.

Routes hand back the cached JSON bytes as they are; the response models document the shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from sentiflow.analytics import exports
from sentiflow.api.deps import AnalyticsDep, LangQuery
from sentiflow.api.schemas import Summary
from sentiflow.store.stats import RollupFilter

router = APIRouter(prefix="/api/stats", tags=["stats"])
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
TopicQuery = Annotated[
    str | None, Query(description="Only this topic; an empty value selects posts without one.")
]


class Distribution(BaseModel):
    by: str
    total: int
    counts: dict[str, int]


class Point(BaseModel):
    t: datetime
    counts: dict[str, int]
    total: int
    avg_polarity: float


class Timeseries(BaseModel):
    bucket: str
    by: str
    points: list[Point]


@router.get("/summary", response_model=Summary)
async def summary(
    analytics: AnalyticsDep,
    source: str | None = None,
    topic: TopicQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lang: LangQuery = None,
) -> Response:
    """Totals per sentiment and emotion, mean polarity, posts/minute over the last hour."""
    body = await analytics.summary(RollupFilter(source, topic, since, until, lang))
    return Response(body, media_type=JSON)


@router.get("/distribution", response_model=Distribution)
async def distribution(
    analytics: AnalyticsDep,
    by: Literal["sentiment", "emotion", "source", "topic"] = "sentiment",
    source: str | None = None,
    topic: TopicQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lang: LangQuery = None,
) -> Response:
    """Posts per label of one dimension; posts without a topic count under ''."""
    body = await analytics.distribution(RollupFilter(source, topic, since, until, lang), by=by)
    return Response(body, media_type=JSON)


@router.get(
    "/timeseries",
    response_model=Timeseries,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def timeseries(
    analytics: AnalyticsDep,
    bucket: Literal["minute", "hour", "day"] = "minute",
    by: Literal["sentiment", "emotion"] = "sentiment",
    source: str | None = None,
    topic: TopicQuery = None,
    since: Annotated[
        datetime | None, Query(description="Default: 60 minutes, 48 hours or 30 days back.")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Default: the current bucket's end.")
    ] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: one row per bucket, a column per label.")
    ] = "json",
    lang: LangQuery = None,
) -> Response:
    """Counts per label, total and mean polarity per bucket, oldest first (at most 2,000)."""
    body = await analytics.timeseries(
        RollupFilter(source, topic, since, until, lang), bucket=bucket, by=by
    )
    if format == "csv":
        return Response(
            exports.timeseries_csv(orjson.loads(body)),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="timeseries-{bucket}.csv"'},
        )
    return Response(body, media_type=JSON)
