"""The analytics endpoints on an embedded app: shapes, values, filters, cache invalidation,
urgent posts, keyword trends with background jobs, alerts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sentiflow.bench import oracles
from sentiflow.queue import drain
from sentiflow.store import stats
from sentiflow.store.stats import RollupFilter
from tests.conftest import wait_for

ANGRY = "I hate this, so angry and furious #refund @acme"
HAPPY = "I love it, great and wonderful #thanks"
SCARED = "I am scared and afraid, this is bad #outage"


def at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def send(client: httpx.AsyncClient, posts: list[dict[str, Any]]) -> list[str]:
    response = await client.post("/api/posts", json=posts)
    assert response.status_code == 202, response.text
    ids = [a["id"] for a in response.json()["accepted"]]
    await drain(client.app.state.services.broker)  # type: ignore[attr-defined]
    return ids


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    posts = [
        {"source": "tw", "topic": "billing", "text": f"{ANGRY} {i}", "created_at": at(i * 50)}
        for i in range(12)
    ]
    posts += [{"source": "rd", "text": f"{HAPPY} {i}", "created_at": at(i * 7)} for i in range(8)]
    posts += [
        {"source": "rd", "topic": "login", "text": f"{SCARED} {i}", "created_at": at(3 * 1440 + i)}
        for i in range(4)
    ]
    await send(client, posts)
    return client


async def test_summary_counts_every_post(loaded: httpx.AsyncClient) -> None:
    body = (await loaded.get("/api/stats/summary")).json()
    assert body["total"] == 24
    assert body["sentiment"] == {"negative": 16, "neutral": 0, "positive": 8}
    assert body["emotion"]["anger"] == 12 and body["emotion"]["fear"] == 4
    assert body["avg_polarity"] < 0
    assert set(body) == {"total", "sentiment", "emotion", "avg_polarity", "posts_per_minute"}
    tw = (await loaded.get("/api/stats/summary", params={"source": "tw"})).json()
    assert tw["total"] == 12


async def test_distribution_by_each_dimension(loaded: httpx.AsyncClient) -> None:
    by_source = (await loaded.get("/api/stats/distribution", params={"by": "source"})).json()
    assert by_source == {"by": "source", "total": 24, "counts": {"tw": 12, "rd": 12}}
    by_topic = (await loaded.get("/api/stats/distribution", params={"by": "topic"})).json()
    assert by_topic["counts"] == {"billing": 12, "": 8, "login": 4}
    since = {"by": "emotion", "since": at(24 * 60)}
    recent = (await loaded.get("/api/stats/distribution", params=since)).json()
    assert recent["total"] == 20 and recent["counts"]["fear"] == 0
    bad = await loaded.get("/api/stats/distribution", params={"by": "colour"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "by"


async def test_timeseries_is_oldest_first_with_empty_buckets(loaded: httpx.AsyncClient) -> None:
    params = {"bucket": "hour", "by": "sentiment", "since": at(12 * 60)}
    body = (await loaded.get("/api/stats/timeseries", params=params)).json()
    assert body["bucket"] == "hour" and body["by"] == "sentiment"
    times = [datetime.fromisoformat(p["t"]) for p in body["points"]]
    assert times == sorted(times) and len(times) >= 12
    assert all(t.minute == 0 and t.tzinfo is not None for t in times)
    assert sum(p["total"] for p in body["points"]) == 20
    assert sum(p["counts"]["negative"] for p in body["points"]) == 12
    assert any(p["total"] == 0 and p["avg_polarity"] == 0.0 for p in body["points"])
    days = (await loaded.get("/api/stats/timeseries", params={"bucket": "day"})).json()
    assert len(days["points"]) == 30 and sum(p["total"] for p in days["points"]) == 24
    huge = {"bucket": "minute", "since": at(30 * 1440)}
    too_many = await loaded.get("/api/stats/timeseries", params=huge)
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "since"


async def test_rollup_answers_equal_a_group_by_over_posts(loaded: httpx.AsyncClient) -> None:
    store = loaded.app.state.services.store  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    ranges = [
        RollupFilter(),
        RollupFilter(since=now - timedelta(hours=5, minutes=13), until=now - timedelta(minutes=3)),
        RollupFilter(source="rd", since=now - timedelta(days=4), until=now - timedelta(days=2)),
        RollupFilter(topic="", since=now - timedelta(minutes=40)),
    ]
    for f in ranges:
        plain = await oracles.summary(store, f)
        rolled = await stats.summary(store, f)
        assert rolled["sentiment"] == plain["sentiment"], f
        assert rolled["emotion"] == plain["emotion"], f
        for by in ("source", "topic"):
            assert await stats.distribution(store, f, by=by) == await oracles.distribution(
                store, f, by=by
            )


async def test_new_posts_invalidate_the_cached_answer(loaded: httpx.AsyncClient) -> None:
    analytics = loaded.app.state.services.analytics  # type: ignore[attr-defined]
    first = (await loaded.get("/api/stats/summary", params={"source": "tw"})).json()
    other = (await loaded.get("/api/stats/summary", params={"source": "rd"})).json()
    computed = analytics.computations["summary"]
    await loaded.get("/api/stats/summary", params={"source": "tw"})
    assert analytics.computations["summary"] == computed
    await send(loaded, [{"source": "tw", "text": f"{HAPPY} fresh", "created_at": at(1)}])

    async def reflected() -> bool:
        body = (await loaded.get("/api/stats/summary", params={"source": "tw"})).json()
        return bool(body["total"] == first["total"] + 1)

    await wait_for(reflected)
    assert (await loaded.get("/api/stats/summary", params={"source": "rd"})).json() == other
    # tw was recomputed once; rd was still cached.
    assert analytics.computations["summary"] == computed + 1


async def test_urgent_ranks_unhandled_negative_posts(client: httpx.AsyncClient) -> None:
    ids = await send(
        client,
        [
            {"source": "tw", "text": ANGRY, "created_at": at(600), "meta": {"followers": 10}},
            {
                "source": "tw",
                "text": f"{ANGRY}!",
                "created_at": at(2),
                "meta": {"followers": 90_000},
            },
            {"source": "tw", "text": "this is sad and I am unhappy", "created_at": at(3)},
            {"source": "tw", "text": HAPPY, "created_at": at(1)},
        ],
    )
    body = (await client.get("/api/posts/urgent", params={"limit": 10})).json()
    items = body["items"]
    assert [i["id"] for i in items][:1] == [ids[1]]
    assert ids[3] not in {i["id"] for i in items}
    assert all(i["analysis"]["sentiment"] == "negative" for i in items)
    scores = [i["urgency"] for i in items]
    # The two angry posts are near-duplicates: one item, the more urgent, counting both.
    assert scores == sorted(scores, reverse=True) and len(items) == 2
    assert [i["count"] for i in items] == [2, 1]
    assert "text" in items[0] and "handled_at" in items[0]

    handled = await client.post(f"/api/posts/{ids[1]}/handled")
    assert handled.status_code == 200 and handled.json()["handled_at"] is not None
    after = (await client.get("/api/posts/urgent")).json()["items"]
    assert [i["id"] for i in after] == [ids[2]]
    assert (await client.get(f"/api/posts/{ids[0]}")).json()["handled_at"] is not None
    missing = await client.post("/api/posts/nope/handled")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_keyword_trends_short_window_answers_at_once(loaded: httpx.AsyncClient) -> None:
    response = await loaded.get("/api/trends/keywords", params={"window": "1h"})
    assert response.status_code == 200
    body = response.json()
    assert body["window"] == "1h"
    negative = {(t["term"], t["kind"]): t for t in body["negative"]}
    assert negative[("#refund", "hashtag")]["count"] == 2
    assert negative[("@acme", "mention")]["previous"] == 1
    assert {t["term"] for t in body["positive"]} >= {"love", "#thanks"}
    bad = await loaded.get("/api/trends/keywords", params={"window": "soon"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "window"


async def test_keyword_trends_long_window_runs_as_a_job(loaded: httpx.AsyncClient) -> None:
    response = await loaded.get("/api/trends/keywords", params={"window": "7d"})
    assert response.status_code == 202
    location = response.headers["location"]
    assert response.json() == {"status": "pending", "location": location}
    again = await loaded.get("/api/trends/keywords", params={"window": "7d"})
    assert again.status_code in (200, 202)
    if again.status_code == 202:
        assert again.headers["location"] == location

    async def done() -> bool:
        return bool((await loaded.get(location)).json()["status"] == "done")

    await wait_for(done)
    result = (await loaded.get(location)).json()["result"]
    assert {t["term"] for t in result["negative"]} >= {"#refund", "#outage"}
    cached = await loaded.get("/api/trends/keywords", params={"window": "7d"})
    assert cached.status_code == 200 and cached.json() == result
    assert (await loaded.get("/api/jobs/unknown")).status_code == 404


async def test_alerts_list_is_empty_without_spikes(loaded: httpx.AsyncClient) -> None:
    response = await loaded.get("/api/alerts")
    assert response.status_code == 200 and response.json() == {"items": []}


async def test_hundred_concurrent_requests_compute_once(loaded: httpx.AsyncClient) -> None:
    analytics = loaded.app.state.services.analytics  # type: ignore[attr-defined]
    before = analytics.computations["distribution"]
    params = {"by": "topic", "source": "rd"}
    answers = await asyncio.gather(
        *(loaded.get("/api/stats/distribution", params=params) for _ in range(100))
    )
    assert {r.status_code for r in answers} == {200}
    assert {r.json()["total"] for r in answers} == {12}
    assert analytics.computations["distribution"] == before + 1
