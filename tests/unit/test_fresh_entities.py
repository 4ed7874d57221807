"""The `fresh-entities` strategy: the signal job finds the named entities common across recent
posts, and feeds put the posts that mention none of them first, under the deadline and
partial-result rules of the other strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sentiflow.models import PostIn
from sentiflow.ranking.base import Term
from sentiflow.ranking.signals import decode, encode
from sentiflow.ranking.terms import entities, terms
from sentiflow.ranking.trending import common_entities, refresh_signals
from sentiflow.store.write import save_batch
from tests.unit.test_ranking import made, rank, rank_client, services_of

__all__ = ["rank_client"]  # the fixture, used by name
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Taylor Swift sang in New York today. Great show!", {"taylor swift", "new york"}),
        ("The Guardian says $TSLA fell, $5 only", {"guardian", "$tsla"}),
        ("loving #WorldCup with @fifa", {"#worldcup", "@fifa"}),
        ("I think so. Payment failed again", set()),
        ("we met Biden", {"biden"}),
        ("[NAME] said hi to [NAME] and Ana", {"ana"}),
    ],
)
def test_entities_are_names_hashtags_handles_and_cashtags(text: str, found: set[str]) -> None:
    assert entities(text) == found


def test_placeholders_are_neither_names_nor_keywords() -> None:
    assert "name" not in terms("thanks [NAME], you rock") | entities("thanks [NAME], you rock")


def test_common_entities_are_those_many_recent_posts_mention() -> None:
    recent = NOW - timedelta(minutes=5)
    rows = [("Acme Cloud is down again", recent, -0.5)] * 4
    rows += [("@acme fix it", recent, -1.0)] * 3
    rows += [("met Bob today", recent, 0.0)] * 2  # too few posts
    rows += [("Old News everywhere", NOW - timedelta(days=2), 0.0)] * 9  # outside the window
    found = common_entities(rows, now=NOW, window_s=3600, top=10)
    assert [(t.term, t.count, t.weight, t.kind) for t in found] == [
        ("acme cloud", 4, 1.0, "entity"),
        ("@acme", 3, 0.75, "entity"),
    ]
    assert found[1].polarity == -1.0
    assert common_entities(rows, now=NOW, window_s=3600, top=1)[0].term == "acme cloud"


def test_entities_travel_in_the_signals_json() -> None:
    from sentiflow.ranking.base import Signals

    signals = Signals(1, NOW, {3600: []}, entities=[Term("$tsla", "entity", 1.0, 5, 0.2)])
    assert decode(encode(signals)) == signals


FEED = [
    {"id": "swift", "text": "Taylor Swift tickets again"},
    {"id": "garden", "text": "my tomatoes finally grew"},
    {"id": "both", "text": "Taylor Swift and $TSLA in one post"},
    {"id": "apple", "text": "Apple is late. Sigh"},
    {"id": "quiet", "text": "a walk by the river"},
]


async def test_posts_mentioning_no_common_entity_come_first(
    rank_client: httpx.AsyncClient,
) -> None:
    services = services_of(rank_client)
    # Computed now, not at import (NOW): signals older than signals_stale_s are stale.
    await services.ranker.signals.put(
        {3600: []},
        datetime.now(UTC),
        [
            Term("taylor swift", "entity", 1.0, 10, 0.0),
            Term("$tsla", "entity", 0.5, 5, 0.0),
            Term("apple", "entity", 0.3, 3, 0.0),
        ],
    )
    result = await rank(rank_client, items=FEED, strategy="fresh-entities")
    assert result["ranked_ids"] == ["garden", "quiet", "apple", "swift", "both"]
    assert result["scores"]["garden"] == 0.0
    assert result["scores"]["both"] == pytest.approx(-1.5)
    assert result["partial"] is False
    assert result["scorers"] == {"signals": "done", "fresh-entities": "done"}
    assert result["signals"]["stale"] is False


async def test_without_signals_the_feed_keeps_its_order_and_says_stale(
    rank_client: httpx.AsyncClient,
) -> None:
    result = await rank(rank_client, items=FEED, strategy="fresh-entities")
    assert result["ranked_ids"] == [item["id"] for item in FEED]
    assert result["signals"]["stale"] is True


async def test_an_impossible_deadline_gives_a_partial_feed_order(
    rank_client: httpx.AsyncClient,
) -> None:
    await services_of(rank_client).ranker.signals.put(
        {3600: []}, NOW, [Term("taylor swift", "entity", 1.0, 10, 0.0)]
    )
    result = await rank(
        rank_client, items=FEED, strategy="fresh-entities", options={"deadline_ms": 0.001}
    )
    assert result["ranked_ids"] == [item["id"] for item in FEED]
    assert result["partial"] is True
    assert set(result["scorers"].values()) == {"timeout"}


async def test_the_signal_job_finds_the_common_entities_the_strategy_uses(
    rank_client: httpx.AsyncClient,
) -> None:
    services = services_of(rank_client)
    texts = [
        "Huge queues for Taylor Swift in Berlin",
        "saw Taylor Swift live, $TSLA money well spent",
        "is Taylor Swift touring again? $TSLA up",
        "why does everyone talk about $TSLA",
        "quiet afternoon in the garden",
    ]
    posts = [
        PostIn(source="s", text=t, created_at=NOW - timedelta(minutes=i + 1))
        for i, t in enumerate(texts)
    ]
    await save_batch(services.store, posts, [made("neutral", 0.8)] * len(posts))
    signals = await refresh_signals(
        services.settings.signals, services.store, services.ranker.signals
    )
    assert [(t.term, t.count) for t in signals.entities] == [("$tsla", 3), ("taylor swift", 3)]
    result = await rank(rank_client, items=FEED, strategy="fresh-entities")
    assert result["ranked_ids"][:3] == ["garden", "apple", "quiet"]
    assert result["ranked_ids"][-1] == "both"
    assert result["signals"]["version"] == signals.version
