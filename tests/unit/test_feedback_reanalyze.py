"""Re-analysis swaps stored labels for a new model's, keeps human corrections, and leaves the
rollups equal to a recount of the effective labels."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from sentiflow.feedback.reanalyze import reanalyze
from sentiflow.settings import Settings
from tests.unit.feedback_helpers import analysis, seed


async def test_reanalyze_relabels_and_keeps_rollups_exact(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    store = client.app.state.services.store  # type: ignore[attr-defined]
    texts = ["I love it, wonderful", "this is awful, I hate it", "ok", "great great great", "bad"]
    ids = await seed(store, [(t, analysis("neutral", (0.3, 0.4, 0.3))) for t in texts])
    await client.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "negative"})
    seen: list[tuple[int, int]] = []
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=1)
    done = await reanalyze(
        settings, store, model="lexicon", since=since, progress=lambda d, t: seen.append((d, t))
    )
    assert done == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)

    posts = {p["id"]: p for p in (await client.get("/api/posts")).json()["items"]}
    assert posts[ids[0]]["analysis"]["model_version"] == "test-model-1"  # before `since`
    assert {posts[i]["analysis"]["model_version"] for i in ids[1:]} == {"lexicon-1"}
    assert posts[ids[1]]["label"]["sentiment"] == "negative"
    assert posts[ids[3]]["label"]["sentiment"] == "positive"
    assert posts[ids[0]]["label"] == {**posts[ids[0]]["label"], "sentiment": "negative"}
    recount = Counter(p["label"]["sentiment"] for p in posts.values())
    summary = (await client.get("/api/stats/summary")).json()
    assert summary["sentiment"] == {s: recount.get(s, 0) for s in summary["sentiment"]}
