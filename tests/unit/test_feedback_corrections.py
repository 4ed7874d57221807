"""Corrections: history, effective label, rollups moved in the same transaction, bulk."""

from __future__ import annotations

from typing import Any

import httpx

from sentiflow.store.db import Store
from tests.unit.feedback_helpers import analysis, seed


def store_of(client: httpx.AsyncClient) -> Store:
    return client.app.state.services.store  # type: ignore[attr-defined,no-any-return]


async def summary(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/api/stats/summary")).json()
    return body


async def test_correction_changes_effective_label_and_rollups(client: httpx.AsyncClient) -> None:
    ids = await seed(
        store_of(client),
        [
            ("great stuff", analysis("positive", (0.1, 0.2, 0.7), emotion="joy")),
            ("meh", analysis("neutral", (0.2, 0.6, 0.2))),
        ],
    )
    before = await summary(client)
    assert before["sentiment"] == {"negative": 0, "neutral": 1, "positive": 1}

    first = await client.post(
        f"/api/posts/{ids[0]}/corrections",
        json={"sentiment": "negative", "emotion": "anger", "note": "sarcasm"},
    )
    assert first.status_code == 201
    body = first.json()
    assert (body["old_sentiment"], body["old_emotion"]) == ("positive", "joy")
    assert (body["sentiment"], body["emotion"], body["who"]) == ("negative", "anger", "local")

    after = await summary(client)
    assert after["total"] == 2
    assert after["sentiment"] == {"negative": 1, "neutral": 1, "positive": 0}
    assert after["emotion"]["anger"] == 1 and after["emotion"]["joy"] == 0

    post = (await client.get(f"/api/posts/{ids[0]}")).json()
    assert post["label"]["source"] == "human"
    assert (post["label"]["sentiment"], post["label"]["emotion"]) == ("negative", "anger")
    assert post["analysis"]["sentiment"] == "positive"  # the model's answer stays visible

    second = await client.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "neutral"})
    assert second.json()["old_sentiment"] == "negative"
    assert second.json()["emotion"] == "anger"  # unchanged fields keep the effective value
    history = (await client.get(f"/api/posts/{ids[0]}/corrections")).json()
    assert [(h["old_sentiment"], h["sentiment"]) for h in history] == [
        ("positive", "negative"),
        ("negative", "neutral"),
    ]
    assert history[0]["note"] == "sarcasm"
    final = await summary(client)
    assert final["sentiment"] == {"negative": 0, "neutral": 2, "positive": 0}
    negative = (await client.get("/api/posts", params={"sentiment": "neutral"})).json()["items"]
    assert {p["id"] for p in negative} == set(ids)


async def test_correction_errors(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/posts/nope/corrections", json={"sentiment": "positive"})
    assert missing.status_code == 404
    ids = await seed(store_of(client), [("x", analysis("neutral", (0.3, 0.4, 0.3)))])
    empty = await client.post(f"/api/posts/{ids[0]}/corrections", json={"note": "?"})
    assert empty.status_code == 422
    bad = await client.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "meh"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "sentiment"


async def test_bulk_by_filter_and_ids(client: httpx.AsyncClient) -> None:
    rows = [(f"text {i}", analysis("positive", (0.1, 0.3, 0.6))) for i in range(6)]
    ids = await seed(store_of(client), rows, topic="launch")
    await seed(store_of(client), [("other", analysis("positive", (0.1, 0.3, 0.6)))], source="b")
    dry = await client.post(
        "/api/corrections/bulk",
        json={"filter": {"topic": "launch"}, "sentiment": "negative", "dry_run": True},
    )
    assert dry.json() == {"matched": 6, "corrected": 0, "dry_run": True}
    assert (await summary(client))["sentiment"]["negative"] == 0

    done = await client.post(
        "/api/corrections/bulk", json={"filter": {"topic": "launch"}, "sentiment": "negative"}
    )
    assert done.json() == {"matched": 6, "corrected": 6, "dry_run": False}
    assert (await summary(client))["sentiment"] == {"negative": 6, "neutral": 0, "positive": 1}

    by_ids = await client.post(
        "/api/corrections/bulk", json={"ids": [ids[0], ids[1], "nope"], "emotion": "sadness"}
    )
    assert by_ids.json() == {"matched": 2, "corrected": 2, "dry_run": False}
    both = await client.post(
        "/api/corrections/bulk", json={"ids": [ids[0]], "filter": {}, "sentiment": "neutral"}
    )
    assert both.status_code == 422


async def test_urgent_list_and_hourly_rollups_follow_corrections(
    client: httpx.AsyncClient,
) -> None:
    ids = await seed(store_of(client), [("fine", analysis("positive", (0.1, 0.2, 0.7)))])

    async def urgent() -> set[str]:
        items = (await client.get("/api/posts/urgent", params={"limit": 50})).json()["items"]
        return {item["id"] for item in items}

    hourly = {"since": "2025-12-31T00:00:00Z", "until": "2026-01-02T00:00:00Z"}
    assert ids[0] not in await urgent()
    await client.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "negative"})
    assert ids[0] in await urgent()
    assert (await client.get("/api/stats/summary", params=hourly)).json()["sentiment"][
        "negative"
    ] == 1
    await client.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "neutral"})
    assert ids[0] not in await urgent()
    summary = (await client.get("/api/stats/summary", params=hourly)).json()
    assert summary["sentiment"] == {"negative": 0, "neutral": 1, "positive": 0}
