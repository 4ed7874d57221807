"""The feedback loop on the real PostgreSQL, with several API processes' worth of engines:
reviewers never share a post, concurrent corrections keep rollups exact, and a threshold
crossed by two processes at once makes one snapshot."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest

from sentiflow.api import create_app
from sentiflow.settings import Settings
from tests.conftest import wait_for
from tests.unit.feedback_helpers import analysis, seed

pytestmark = pytest.mark.connected


@pytest.fixture
def pg_settings(connected_settings: Settings) -> Settings:
    # The snapshot test polls faster than the admin rate limit allows; limits have their own tests.
    update: dict[str, object] = {"auth": "disabled", "snapshot_threshold": 10, "rate_limits": False}
    return connected_settings.model_copy(update=update)


@pytest.fixture
async def apps(pg_settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Three API apps on one database, each with its own engine, like three processes."""
    first = create_app(pg_settings, worker=False)
    clients = []
    async with first.router.lifespan_context(first):
        await first.state.services.store.migrate()
        others = [create_app(pg_settings, worker=False) for _ in range(2)]
        async with (
            others[0].router.lifespan_context(others[0]),
            others[1].router.lifespan_context(others[1]),
        ):
            for app in (first, *others):
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://test"
                )
                client.app = app  # type: ignore[attr-defined]
                clients.append(client)
            yield clients
            for client in clients:
                await client.aclose()


async def test_concurrent_reviewers_never_share_a_post(apps: list[httpx.AsyncClient]) -> None:
    store = apps[0].app.state.services.store  # type: ignore[attr-defined]
    ids = await seed(store, [(f"p{i}", analysis("neutral", (0.3, 0.4, 0.3))) for i in range(120)])
    requests = [
        apps[i % 3].get("/api/review", params={"limit": 7, "strategy": s})
        for i, s in enumerate(["uncertain", "random", "uncertain"] * 8)
    ]
    pages = await asyncio.gather(*requests)
    handed = [item["id"] for page in pages for item in page.json()["items"]]
    assert len(handed) == len(set(handed)) > 0
    rest = (await apps[1].get("/api/review", params={"limit": 100})).json()["items"]
    assert {i["id"] for i in rest} == set(ids) - set(handed)


async def test_concurrent_corrections_keep_rollups_exact(apps: list[httpx.AsyncClient]) -> None:
    store = apps[0].app.state.services.store  # type: ignore[attr-defined]
    ids = await seed(store, [(f"p{i}", analysis("positive", (0.1, 0.2, 0.7))) for i in range(3)])
    labels = ["negative", "neutral", "positive"] * 6
    await asyncio.gather(
        *(
            apps[i % 3].post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": label})
            for i, label in enumerate(labels)
        )
    )
    summary = (await apps[0].get("/api/stats/summary")).json()
    assert summary["total"] == 3
    post = (await apps[0].get(f"/api/posts/{ids[0]}")).json()
    history = (await apps[0].get(f"/api/posts/{ids[0]}/corrections")).json()
    assert len(history) == len(labels)
    # Each correction moved from exactly the label the previous one set.
    assert all(a["sentiment"] == b["old_sentiment"] for a, b in itertools.pairwise(history))
    expected = {"negative": 0, "neutral": 0, "positive": 2}
    expected[post["label"]["sentiment"]] += 1
    assert summary["sentiment"] == expected


async def test_threshold_makes_one_snapshot(apps: list[httpx.AsyncClient]) -> None:
    store = apps[0].app.state.services.store  # type: ignore[attr-defined]
    ids = await seed(store, [(f"p{i}", analysis("positive", (0.1, 0.2, 0.7))) for i in range(16)])
    await asyncio.gather(
        *(
            apps[i % 3].post(f"/api/posts/{pid}/corrections", json={"sentiment": "negative"})
            for i, pid in enumerate(ids)
        )
    )
    listed = (await apps[0].get("/api/datasets")).json()
    assert [d["trigger"] for d in listed] == ["threshold"]

    async def ready() -> bool:
        state = (await apps[2].get(f"/api/datasets/{listed[0]['id']}")).json()
        assert state["status"] != "failed", state["error"]
        return bool(state["status"] == "ready")

    await wait_for(ready, timeout=60)
    manifest = (await apps[1].get(f"/api/datasets/{listed[0]['id']}")).json()["manifest"]
    assert 10 <= manifest["counts"]["rows"] <= 16
    assert manifest["label_distribution"]["sentiment"] == {"negative": manifest["counts"]["rows"]}
