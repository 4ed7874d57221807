"""`sentiflow seed --users`: a simulated user pool's sessions and feeds from the carried posts,
seen through GET /api/sessions, and the simulation's semantics (activity, platforms, time)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.errors import ValidationFailed
from sentiflow.ranking.user_pool import (
    PoolSpec,
    parse_activity,
    parse_distribution,
    pool_posts,
    seed_pool,
    simulate,
)
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.rank_sessions import list_sessions

END = datetime(2026, 12, 1, 12, tzinfo=UTC)


def seed(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTIFLOW_DATA_DIR": str(data), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "sentiflow", "seed", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout(300)
async def test_seeded_users_sessions_are_listed_with_their_feeds(tmp_path: Path) -> None:
    args = ["--users", "40", "--days", "2", "--sessions-per-day", "1", "--items-per-session"]
    args += ["10", "--platform-distribution", "facebook:1,reddit:1", "--seed", "3"]
    done = seed(args, tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "3,000 posts" in done.stderr

    from sentiflow.api import create_app

    settings = Settings(
        data_dir=tmp_path / "data", demo_rate=0, analyzer_processes=0, signals_interval_s=0
    )
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            listed = (await client.get("/api/sessions", params={"limit": 500})).json()["items"]
            assert len(listed) >= 40
            assert {s["platform"] for s in listed} == {"facebook", "reddit"}
            assert all(len(s["items"]) == 10 for s in listed)
            assert len({s["user_id"] for s in listed}) == 40
            stamps = [s["created_at"] for s in listed]
            assert stamps == sorted(stamps, reverse=True)
            first = listed[0]
            detail = (await client.get(f"/api/sessions/{first['id']}")).json()
            assert [item["id"] for item in detail["items"]] == first["items"]
            assert all(item["post_id"] and item["sentiment"] for item in detail["items"])
            assert {item["source"] for item in detail["items"]} == {first["platform"]}
            post = (await client.get(f"/api/posts/{detail['items'][0]['post_id']}")).json()
            assert post["text"] == detail["items"][0]["text"]
            assert post["created_at"] <= first["created_at"]


def carried(n: int) -> list[dict[str, Any]]:
    return [{"external_id": f"c{k}", "text": f"carried post {k}", "topic": None} for k in range(n)]


def test_each_user_has_one_platform_and_sessions_by_their_activity() -> None:
    rng = np.random.default_rng(5)
    platforms = parse_distribution("facebook:11,reddit:7.4,twitter:1.25", option="p")
    posts = pool_posts(carried(3000), platforms, start=END - timedelta(days=4), end=END, rng=rng)
    spec = PoolSpec(
        users=300,
        days=3,
        sessions_per_day=2,
        items_per_session=5,
        activity=parse_activity("0.2:20,1:65,5:15"),
        platforms=platforms,
    )
    sessions = simulate(spec, posts, {}, end=END, run="t", rng=rng)

    per_user = Counter(s.user_id for s in sessions)
    on = {s.user_id: s.platform for s in sessions}
    assert all(s.platform == on[s.user_id] for s in sessions)
    # Baseline 6 sessions over 3 days: 1.2, 6 or 30 per user by activity.
    assert set(per_user.values()) <= {1, 2, 6, 30}
    busy = sum(1 for n in per_user.values() if n == 30)
    assert 25 <= busy <= 65  # 15 % of 300
    expected = 300 * (0.2 * 1.2 + 0.65 * 6 + 0.15 * 30)
    assert 0.85 * expected <= len(sessions) <= 1.15 * expected
    users_on = Counter(on.values())
    assert users_on["facebook"] > users_on["reddit"] > users_on["twitter"] > 0

    times = [s.created_at for s in sessions]
    assert times == sorted(times)
    assert END - timedelta(days=3) <= times[0] and times[-1] <= END
    when = {post.id: post.created_at for post in posts}
    for s in sessions:
        assert len(s.items) == 5
        shown = [when[item.post_id or ""] for item in s.items]
        assert shown == sorted(shown, reverse=True)
        assert shown[0] <= s.created_at
        assert {item.source for item in s.items} == {s.platform}


@pytest.mark.parametrize(
    ("text", "message"),
    [("facebook", "name:weight"), ("a:0", "positive"), ("a:x", "positive"), ("", "empty")],
)
def test_a_bad_distribution_names_the_option(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as caught:
        parse_distribution(text, option="--platform-distribution")
    assert caught.value.field == "--platform-distribution"


def test_a_bad_activity_multiplier_names_the_option() -> None:
    with pytest.raises(ValidationFailed, match="multiplier") as caught:
        parse_activity("fast:20,1:80")
    assert caught.value.field == "--activity-distribution"


async def test_no_user_pool_stores_the_posts_only_and_seeding_again_adds_none(
    tmp_path: Path,
) -> None:
    store = Store.from_settings(Settings(data_dir=tmp_path / "data"))
    await store.migrate()
    try:
        analyzer = LexiconAnalyzer()
        kwargs: dict[str, Any] = {
            "carried": carried(50),
            "platforms": [("reddit", 1.0)],
            "days": 1.0,
            "analyze": analyzer.analyze,
            "seed_value": 1,
        }
        assert await seed_pool(store, None, **kwargs) == (50, 0)
        assert await list_sessions(store) == []
        spec = PoolSpec(3, 1.0, 2.0, 4, [(1.0, 1.0)], [("reddit", 1.0)])
        assert await seed_pool(store, spec, **kwargs) == (50, 6)
        async with store.engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM posts"))).scalar()
        assert count == 50
        listed = await list_sessions(store, user_id="user-0")
        assert len(listed) == 2
        assert all(len(s["items"]) == 4 for s in listed)
    finally:
        await store.close()
