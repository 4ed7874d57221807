"""The review queue: least certain first, disagreement, corrected posts left out, and
concurrent reviewers never handed the same post."""

from __future__ import annotations

import asyncio

import httpx

from sentiflow.store import import_labels
from sentiflow.store.db import Store
from tests.unit.feedback_helpers import analysis, seed


def store_of(client: httpx.AsyncClient) -> Store:
    return client.app.state.services.store  # type: ignore[attr-defined,no-any-return]


def margin(probs: dict[str, float]) -> float:
    top = sorted(probs.values(), reverse=True)
    return top[0] - top[1]


async def test_uncertain_first_and_corrected_excluded(client: httpx.AsyncClient) -> None:
    probs = [
        (0.1, 0.1, 0.8),
        (0.35, 0.3, 0.35),
        (0.2, 0.5, 0.3),
        (0.45, 0.1, 0.45),
        (0.6, 0.3, 0.1),
    ]
    rows = [(f"post {i}", analysis("positive", p)) for i, p in enumerate(probs)]
    ids = await seed(store_of(client), rows)
    await client.post(f"/api/posts/{ids[3]}/corrections", json={"sentiment": "negative"})

    page = (await client.get("/api/review", params={"limit": 3})).json()
    got = [item["id"] for item in page["items"]]
    expected = sorted(
        (i for i in range(len(probs)) if i != 3),
        key=lambda i: margin(dict(zip(("negative", "neutral", "positive"), probs[i], strict=True))),
    )[:3]
    assert got == [ids[i] for i in expected]
    margins = [item["margin"] for item in page["items"]]
    assert margins == sorted(margins)
    # Claimed posts are not handed out again; the rest are.
    rest = (await client.get("/api/review", params={"limit": 10})).json()["items"]
    assert {i["id"] for i in rest} == set(ids) - set(got) - {ids[3]}


async def test_disagreement_uses_a_second_analyzer(client: httpx.AsyncClient) -> None:
    rows = [
        ("I love this, it is wonderful and great", analysis("negative", (0.5, 0.2, 0.3))),
        ("This is terrible, I hate it, awful", analysis("negative", (0.5, 0.2, 0.3))),
    ]
    ids = await seed(store_of(client), rows)
    page = (await client.get("/api/review", params={"strategy": "disagreement"})).json()
    assert [item["id"] for item in page["items"]] == [ids[0]]
    assert page["items"][0]["second_opinion"]["sentiment"] == "positive"


async def test_concurrent_reviewers_get_different_posts(client: httpx.AsyncClient) -> None:
    rows = [(f"p{i}", analysis("neutral", (0.3, 0.4, 0.3))) for i in range(30)]
    ids = await seed(store_of(client), rows)
    pages = await asyncio.gather(
        *(
            client.get("/api/review", params={"limit": 5, "strategy": s})
            for s in ["uncertain", "random"] * 4
        )
    )
    handed = [item["id"] for page in pages for item in page.json()["items"]]
    assert len(set(handed)) == len(handed) > 0
    # Nothing was lost either: what is left is exactly what nobody got.
    rest = (await client.get("/api/review", params={"limit": 100})).json()["items"]
    assert {i["id"] for i in rest} == set(ids) - set(handed)


async def test_disagreement_asks_the_label_the_file_brought_first(
    client: httpx.AsyncClient,
) -> None:
    # The lexicon agrees with the model on all three; only the file's labels can disagree.
    rows = [
        ("This is terrible, I hate it, awful", analysis("negative", (0.5, 0.2, 0.3))),
        ("This is terrible, I hate it, awful!", analysis("negative", (0.5, 0.2, 0.3))),
        ("I hate it, awful, terrible", analysis("negative", (0.5, 0.2, 0.3))),
    ]
    ids = await seed(store_of(client), rows)
    await import_labels.save(
        store_of(client),
        source="import:reviews.csv",
        pairs=[(ids[0], "positive"), (ids[1], "negative")],
    )
    page = (await client.get("/api/review", params={"strategy": "disagreement"})).json()
    assert [item["id"] for item in page["items"]] == [ids[0]]
    assert page["items"][0]["second_opinion"] == {
        "sentiment": "positive",
        "source": "import:reviews.csv",
    }
