"""The simulator connector: a generated mix with topics, bursts and other languages, paced
by its rate and resumable from its cursor."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sentiflow.ingest.connectors.registry import build
from sentiflow.ingest.connectors.simulator import SimulatorConnector
from sentiflow.models import PostIn
from sentiflow.settings import Settings


async def poll(
    sim: SimulatorConnector, cursor: dict[str, Any]
) -> tuple[list[PostIn], dict[str, Any]]:
    posts: list[PostIn] = []
    async for page in sim.fetch(cursor):
        posts.extend(page.posts)
        cursor = page.cursor
    return posts, cursor


async def test_generated_mix_is_paced_and_resumable(settings: Settings) -> None:
    sim = build("simulator", "sim", {"rate": 100, "burst_chance": 0.5, "seed": 3}, settings)
    assert isinstance(sim, SimulatorConnector)
    now = [1_000.0]
    sim.clock = lambda: now[0]
    seen: list[PostIn] = []
    cursor: dict[str, Any] = {}
    for _ in range(20):
        posts, cursor = await poll(sim, cursor)
        seen.extend(posts)
        now[0] += 2.0
    ids = [p.external_id for p in seen]
    assert len(ids) == len(set(ids)), "a resumed poll repeated posts"
    per_poll_normal = 100 * 2
    assert len(seen) > 20 * per_poll_normal // 2
    langs = Counter(p.meta["lang"] for p in seen)
    assert langs["en"] > len(seen) / 2 and len(langs) >= 4
    assert any("burst" in p.meta for p in seen)
    topics = Counter(p.topic for p in seen if p.topic)
    assert len(topics) >= 5
