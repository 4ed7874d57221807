"""Dates outside a sane window are refused where posts come in (ingest, file imports,
connectors), and no value already stored, however extreme, makes a read fail for everyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from sentiflow.ingest.connectors.base import post_or_skip
from sentiflow.ingest.validate import validate_posts
from sentiflow.models import Analysis, PostIn
from sentiflow.store.write import save_batch

FAR_FUTURE = "2400-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "created_at", [FAR_FUTURE, "1999-12-31T23:59:59Z", "9999-12-31T23:59:59+05:00"]
)
async def test_ingest_refuses_dates_outside_the_window(
    client: httpx.AsyncClient, created_at: str
) -> None:
    response = await client.post(
        "/api/posts", json={"source": "s", "text": "hello", "created_at": created_at}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "created_at"
    assert "created_at" in response.json()["error"]["message"]


async def test_a_batch_keeps_its_valid_posts(client: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    batch = [
        {"source": "s", "text": "fine", "created_at": soon},
        {"source": "s", "text": "from the future", "created_at": FAR_FUTURE},
        {"source": "s", "text": "also fine", "created_at": "2000-01-01T00:00:00Z"},
    ]
    response = await client.post("/api/posts", json=batch)
    assert response.status_code == 202
    body = response.json()
    assert [a["index"] for a in body["accepted"]] == [0, 2]
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "created_at")]


def test_file_imports_and_connectors_reject_per_item() -> None:
    items = [{"source": "f", "text": "ok"}, {"source": "f", "text": "x", "created_at": FAR_FUTURE}]
    accepted, rejected = validate_posts(items)
    assert [i for i, _ in accepted] == [0]
    assert [(r.index, r.field) for r in rejected] == [(1, "created_at")]
    future = datetime(2400, 1, 1, tzinfo=UTC)
    assert post_or_skip("feed", {"source": "feed", "text": "x", "created_at": future}) is None
    assert post_or_skip("feed", {"source": "feed", "text": "x"}) is not None


def _analysis(sentiment: str = "negative", emotion: str = "anger") -> Analysis:
    return Analysis(
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_confidence=0.9,
        sentiment_probs={sentiment: 0.9},
        polarity=-0.8,
        emotion=emotion,  # type: ignore[arg-type]
        emotion_confidence=0.8,
        emotion_probs={emotion: 0.8},
        model_version="test",
    )


EXTREME_DATES = [
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2400, 1, 1, tzinfo=UTC),
    datetime(1, 1, 2, tzinfo=UTC),
    datetime(1900, 1, 1, tzinfo=UTC),
]


async def _store_extremes(client: httpx.AsyncClient) -> None:
    """Posts that bypass validation (as rows written before it existed would), then stored
    numbers pushed to the float limits."""
    store = client.app.state.services.store  # type: ignore[attr-defined]
    batch = [
        PostIn.model_construct(
            source="x",
            external_id=f"e{i}",
            text="angry words about the outage",
            author=None,
            created_at=moment,
            url=None,
            topic="t",
            meta={"reach": 1e308},
        )
        for i, moment in enumerate(EXTREME_DATES)
    ]
    await save_batch(store, batch, [_analysis() for _ in batch])
    async with store.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE urgent_posts SET rank_key = 1e308 WHERE post_id IN "
                "(SELECT post_id FROM urgent_posts LIMIT 1)"
            )
        )
        await conn.execute(text("UPDATE urgent_posts SET base = 1e308"))
        for table in ("rollups", "rollups_hour", "rollups_day"):
            await conn.execute(text(f"UPDATE {table} SET polarity_sum = 1e308"))


READS = [
    "/api/posts/urgent",
    "/api/posts/urgent?since=0001-01-01T00:00:00Z",
    "/api/posts?limit=500",
    "/api/stats/summary",
    "/api/stats/summary?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z",
    "/api/stats/distribution?by=topic",
    "/api/stats/distribution?since=2000-01-01T00:00:00Z&until=9999-12-31T23:59:59Z",
    "/api/stats/timeseries?bucket=minute",
    "/api/stats/timeseries?bucket=day&since=9999-10-01T00:00:00Z&until=9999-12-31T23:59:59Z",
    "/api/stats/timeseries?bucket=hour&since=0001-01-01T00:00:00Z&until=0001-01-02T00:00:00Z",
    "/api/stats/timeseries?bucket=day&since=2399-12-01T00:00:00Z&until=2400-01-02T00:00:00Z",
    "/api/trends/keywords?window=1h",
    "/api/alerts",
]


async def test_extreme_stored_values_never_break_a_read(client: httpx.AsyncClient) -> None:
    await _store_extremes(client)
    for path in READS:
        response = await client.get(path)
        assert response.status_code in (200, 202, 422), (path, response.status_code, response.text)
        assert response.json() is not None
    urgent = (await client.get("/api/posts/urgent")).json()["items"]
    assert len(urgent) == len(EXTREME_DATES)
    assert all(isinstance(i["urgency"], float) for i in urgent)
    day = await client.get(READS[10])
    assert day.status_code == 200
    assert any(p["total"] for p in day.json()["points"])
