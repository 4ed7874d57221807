"""POST /api/rank and POST /rank on an embedded app: each strategy's documented order, the
deadline and failure behaviour, the background signals, and the ranking challenge's format."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from sentiflow.connections import connect
from sentiflow.keys import Keys
from sentiflow.models import Analysis, PostIn, post_id
from sentiflow.ranking.base import RankItem, Signals, Term
from sentiflow.ranking.engine import SCORER_THREADS, Ranker
from sentiflow.ranking.registry import register, unregister
from sentiflow.ranking.signals import MemorySignalStore
from sentiflow.ranking.signals.redis import RedisSignalStore
from sentiflow.ranking.trending import refresh_signals, trending_terms
from sentiflow.roles import ApiServices
from sentiflow.settings import Settings
from sentiflow.store.corrections import Change, apply
from sentiflow.store.db import Store
from sentiflow.store.ranking import analyses_by_post_id
from sentiflow.store.write import save_batch
from tests.conftest import app_client, wait_for

NOW = datetime.now(UTC)


@pytest.fixture
async def rank_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An embedded app that scores feeds in chunks of 2 and refreshes signals only when told."""
    settings = Settings(
        data_dir=tmp_path / "data",
        demo_rate=0,
        analyzer_processes=0,
        rank_chunk=2,
        signals_interval_s=0,
        # The order tests must not race the clock on a loaded CI machine; the deadline tests
        # pass their own `deadline_ms`.
        rank_deadline_ms=10_000,
    )
    async with app_client(settings, worker=False) as c:
        yield c


def services_of(client: httpx.AsyncClient) -> ApiServices:
    services: ApiServices = client.app.state.services  # type: ignore[attr-defined]
    return services


def made(
    sentiment: str, confidence: float, emotion: str = "neutral", emotion_confidence: float = 0.6
) -> Analysis:
    """A hand-made analysis: the rest of the probability mass spread evenly."""
    others = [s for s in ("negative", "neutral", "positive") if s != sentiment]
    emotions = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
    rest = (1 - emotion_confidence) / 6
    return Analysis(
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_confidence=confidence,
        sentiment_probs={sentiment: confidence, **dict.fromkeys(others, (1 - confidence) / 2)},
        polarity={"negative": -confidence, "positive": confidence}.get(sentiment, 0.0),
        emotion=emotion,  # type: ignore[arg-type]
        emotion_confidence=emotion_confidence,
        emotion_probs={e: emotion_confidence if e == emotion else rest for e in emotions},
        model_version="hand-made",
    )


async def store_feed(
    client: httpx.AsyncClient, feed: Sequence[tuple[str, Analysis, datetime]]
) -> None:
    """Store posts (source "feed", external id = the given id) with hand-made analyses."""
    posts = [
        PostIn(source="feed", external_id=key, text=f"post {key}", created_at=created)
        for key, _, created in feed
    ]
    await save_batch(services_of(client).store, posts, [a for _, a, _ in feed])


def feed_items(keys: Sequence[str], **extra: Any) -> list[dict[str, Any]]:
    return [{"id": key, "source": "feed", "text": f"post {key}", **extra} for key in keys]


async def rank(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/rank", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_urgency_puts_confident_recent_anger_first(rank_client: httpx.AsyncClient) -> None:
    hour = timedelta(hours=1)
    await store_feed(
        rank_client,
        [
            ("happy", made("positive", 0.9, "joy", 0.8), NOW),
            ("angry-old", made("negative", 0.9, "anger", 0.8), NOW - 72 * hour),
            ("sad", made("negative", 0.55, "sadness", 0.6), NOW - hour),
            ("angry-new", made("negative", 0.9, "anger", 0.8), NOW - hour),
            ("afraid-neutral", made("neutral", 0.6, "fear", 0.7), NOW),
        ],
    )
    keys = ["happy", "angry-old", "sad", "angry-new", "afraid-neutral"]
    ages = [0, 72, 1, 1, 0]
    items = [
        item | {"created_at": (NOW - age * hour).isoformat()}
        for item, age in zip(feed_items(keys), ages, strict=True)
    ]
    result = await rank(rank_client, items=items, strategy="urgency")
    # Same anger, newer first; fear beats mild sadness; a happy post is last.
    assert result["ranked_ids"] == ["angry-new", "angry-old", "afraid-neutral", "sad", "happy"]
    assert result["partial"] is False
    assert result["scorers"] == {"store": "done", "urgency": "done"}
    assert set(result["scores"]) == set(keys)


async def test_calm_demotes_hostile_posts_and_keeps_the_rest_in_order(
    rank_client: httpx.AsyncClient,
) -> None:
    await store_feed(
        rank_client,
        [
            ("n1", made("neutral", 0.8), NOW),
            ("furious", made("negative", 0.9, "anger", 0.9), NOW),
            ("n2", made("positive", 0.8, "joy", 0.9), NOW),
            ("gross", made("negative", 0.7, "disgust", 0.5), NOW),
            ("panic", made("negative", 0.7, "fear", 0.8), NOW),
            ("n3", made("negative", 0.8, "sadness", 0.8), NOW),
            ("mild", made("negative", 0.6, "anger", 0.3), NOW),
        ],
    )
    keys = ["n1", "furious", "n2", "gross", "panic", "n3", "mild"]
    result = await rank(rank_client, items=feed_items(keys), strategy="calm")
    assert result["ranked_ids"] == ["n1", "n2", "n3", "mild", "panic", "gross", "furious"]
    looser = await rank(
        rank_client, items=feed_items(keys), strategy="calm", options={"min_confidence": 0.2}
    )
    assert looser["ranked_ids"][-4:] == ["panic", "mild", "gross", "furious"]


async def test_chronological_is_newest_first_and_undated_last(
    rank_client: httpx.AsyncClient,
) -> None:
    items = [
        {"id": "undated-1", "text": "a"},
        {"id": "old", "text": "b", "created_at": "2026-01-01T00:00:00Z"},
        {"id": "new", "text": "c", "created_at": "2026-01-03T00:00:00+00:00"},
        {"id": "undated-2", "text": "d"},
        {"id": "mid", "text": "e", "created_at": "2026-01-02T00:00:00"},
    ]
    result = await rank(rank_client, items=items, strategy="chronological")
    assert result["ranked_ids"] == ["new", "mid", "old", "undated-1", "undated-2"]
    assert result["signals"] is None


async def test_unknown_posts_are_analysed_on_the_fly(rank_client: httpx.AsyncClient) -> None:
    items = [
        {"id": "1", "text": "What a lovely, wonderful morning with friends"},
        {"id": "2", "text": "I am furious, this is the worst and most infuriating service ever"},
        {"id": "3", "text": "The meeting is at noon"},
    ]
    result = await rank(rank_client, items=items, strategy="urgency")
    assert result["ranked_ids"][0] == "2"
    assert result["scorers"] == {"store": "done", "analyzer": "done", "urgency": "done"}
    assert result["timings_ms"]["analyze"] > 0


async def test_stored_posts_are_found_by_post_id_or_by_source_and_id(
    rank_client: httpx.AsyncClient,
) -> None:
    angry = made("negative", 0.95, "anger", 0.9)
    await store_feed(rank_client, [("x", angry, NOW), ("y", angry, NOW)])
    lovely = "What a lovely, wonderful day"
    items = [
        {"id": "fresh", "text": lovely},
        {"id": post_id("feed", "x"), "text": lovely},
        {"id": "y", "source": "feed", "text": lovely},
        {"id": "x", "source": "elsewhere", "text": lovely},
    ]
    result = await rank(rank_client, items=items, strategy="urgency")
    # The stored analyses say angry, whatever the text sent now says.
    assert result["ranked_ids"][:2] == [post_id("feed", "x"), "y"]
    assert result["scorers"]["analyzer"] == "done"


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds a deliberately slow scorer until the test ends."""
    released = threading.Event()
    yield released
    released.set()


class SlowOnSome:
    """Scores by text length, but blocks on chunks that hold a post saying 'slow' and
    raises on chunks that hold one saying 'boom', and on the engine's empty option check
    (a plug-in bug there must not become a 500 either)."""

    name = "test-slow"
    doc = "Text length; blocks on 'slow' posts, fails on 'boom' posts."
    uses_analyses = False
    uses_signals = False

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]:
        if any("slow" in item.text for item in items):
            self.gate.wait(30)
        if not items or any("boom" in item.text for item in items):
            raise RuntimeError("scorer exploded")
        return [float(len(item.text)) for item in items]


@pytest.fixture
def slow_strategy(gate: threading.Event) -> Iterator[SlowOnSome]:
    strategy = SlowOnSome(gate)
    register(strategy)
    yield strategy
    unregister(strategy.name)


async def test_slow_scorer_answers_by_the_deadline_with_partial_order(
    rank_client: httpx.AsyncClient, slow_strategy: SlowOnSome
) -> None:
    # Chunks of 2: (a, bb) (slow, c) (dddd, eee). The middle chunk never finishes.
    items = [
        {"id": "a", "text": "a"},
        {"id": "bb", "text": "bb"},
        {"id": "slow", "text": "slow"},
        {"id": "c", "text": "c"},
        {"id": "dddd", "text": "dddd"},
        {"id": "eee", "text": "eee"},
    ]
    deadline_ms = 300
    started = time.perf_counter()
    result = await rank(
        rank_client, items=items, strategy="test-slow", options={"deadline_ms": deadline_ms}
    )
    elapsed = time.perf_counter() - started
    # The scorer is held for 30 s; the answer must come at the deadline. The issue asks for
    # deadline + 50 ms; 250 ms more absorbs a loaded CI machine and still fails any design
    # that waits for the slow scorer.
    assert elapsed < deadline_ms / 1000 + 0.05 + 0.25, f"answered after {elapsed:.3f} s"
    assert result["partial"] is True
    assert result["scorers"] == {"test-slow": "timeout"}
    # Scored items by score, then the unscored chunk in feed order.
    assert result["ranked_ids"] == ["dddd", "eee", "bb", "a", "slow", "c"]
    assert set(result["scores"]) == {"a", "bb", "dddd", "eee"}


async def test_stuck_scorers_do_not_starve_later_feeds(
    rank_client: httpx.AsyncClient, slow_strategy: SlowOnSome
) -> None:
    stuck = [{"id": "slow", "text": "slow"}]
    for _ in range(2 * SCORER_THREADS):  # each leaves one scorer call blocked
        result = await rank(
            rank_client, items=stuck, strategy="test-slow", options={"deadline_ms": 50}
        )
        assert result["scorers"] == {"test-slow": "timeout"}
    items = [{"id": t, "text": t} for t in ("zz", "yyy", "x")]
    result = await rank(rank_client, items=items, strategy="test-slow")
    assert result["partial"] is False
    assert result["ranked_ids"] == ["yyy", "zz", "x"]


async def test_failing_scorer_gives_partial_results_not_an_error(
    rank_client: httpx.AsyncClient, slow_strategy: SlowOnSome
) -> None:
    items = [{"id": t, "text": t} for t in ("boom", "zz", "yyy", "x", "wwww")]
    result = await rank(rank_client, items=items, strategy="test-slow")
    assert result["partial"] is True
    assert result["scorers"] == {"test-slow": "failed"}
    assert result["ranked_ids"] == ["wwww", "yyy", "x", "boom", "zz"]


async def test_an_impossible_deadline_keeps_the_feed_order(rank_client: httpx.AsyncClient) -> None:
    items = [
        {"id": "x", "text": "calm"},
        {"id": "y", "text": "calm"},
        {"id": "z", "text": "outage"},
    ]
    await services_of(rank_client).ranker.signals.put(
        {3600: [Term("outage", "keyword", 1, 3, 0)]}, datetime.now(UTC)
    )
    in_time = await rank(rank_client, items=items, strategy="trending")
    assert in_time["ranked_ids"] == ["z", "x", "y"]
    result = await rank(
        rank_client, items=items, strategy="trending", options={"deadline_ms": 0.001}
    )
    assert result["ranked_ids"] == ["x", "y", "z"]
    assert result["partial"] is True
    assert result["scores"] == {}
    assert set(result["scorers"].values()) == {"timeout"}
    assert "analyzer" not in result["scorers"]


async def test_a_complete_ranking_is_not_partial(
    rank_client: httpx.AsyncClient, slow_strategy: SlowOnSome
) -> None:
    items = [{"id": t, "text": t} for t in ("zz", "yyy", "x")]
    result = await rank(rank_client, items=items, strategy="test-slow")
    assert result == result | {"partial": False, "ranked_ids": ["yyy", "zz", "x"]}


def count_queries(services: ApiServices) -> list[str]:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    for engine in (services.store.engine.sync_engine, services.store.loop_reads()):
        if engine is not None:
            event.listen(engine, "before_cursor_execute", seen)
    return statements


async def test_trending_follows_the_signals_without_touching_the_database(
    rank_client: httpx.AsyncClient,
) -> None:
    services = services_of(rank_client)
    items = [
        {"id": "weather", "text": "Nice weather for a walk"},
        {"id": "slow", "text": "Acme Cloud is slow this morning"},
        {"id": "outage", "text": "Total outage at Acme Cloud, nothing loads"},
        {"id": "lunch", "text": "Lunch was great"},
    ]
    await services.ranker.signals.put(
        {
            3600: [
                Term("outage", "keyword", 1.0, 9, -0.6),
                Term("acme cloud", "entity", 0.5, 5, -0.3),
            ]
        },
        datetime.now(UTC),
    )
    statements = count_queries(services)
    first = await rank(rank_client, items=items, strategy="trending")
    assert first["ranked_ids"] == ["outage", "slow", "weather", "lunch"]
    assert first["scores"]["outage"] == pytest.approx(1.5)
    assert first["scorers"] == {"signals": "done", "trending": "done"}
    assert first["signals"]["stale"] is False

    await services.ranker.signals.put(
        {3600: [Term("lunch", "keyword", 1.0, 4, 0.7)]}, datetime.now(UTC)
    )
    second = await rank(rank_client, items=items, strategy="trending")
    assert second["ranked_ids"] == ["lunch", "weather", "slow", "outage"]
    assert second["signals"]["version"] == first["signals"]["version"] + 1
    assert statements == []

    # The counter does see the store: urgency reads the stored analyses in one query.
    await rank(
        rank_client, items=[{**item, "source": "feed"} for item in items], strategy="urgency"
    )
    assert len(statements) == 1
    assert "analyses" in statements[0]


async def test_stored_analyses_are_reused_for_a_while_and_client_ids_need_no_query(
    rank_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_of(rank_client)
    await store_feed(rank_client, [("x", made("negative", 0.95, "anger", 0.9), NOW)])
    statements = count_queries(services)
    items = [{"id": "t3_client", "text": "What a lovely day"}, *feed_items(["x"])]
    first = await rank(rank_client, items=items, strategy="urgency")
    assert first["ranked_ids"] == ["x", "t3_client"]
    assert len(statements) == 1  # "t3_client" is no post id: only x was looked up

    # A human says x is positive. Within SENTIFLOW_RANK_CACHE_S (2 s here) the ranking reuses
    # what it read; once that has passed, it reads the correction.
    correction = Change(sentiment="positive", emotion="joy", note=None, who="t")
    await apply(services.store, [post_id("feed", "x")], correction)
    statements.clear()
    again = await rank(rank_client, items=items, strategy="urgency")
    assert (again["ranked_ids"], statements) == (["x", "t3_client"], [])
    now = time.monotonic()
    monkeypatch.setattr("sentiflow.ranking.cache.time.monotonic", lambda: now + 2.5)
    later = await rank(rank_client, items=items, strategy="urgency")
    assert len(statements) == 1
    assert later["scores"]["x"] == 0.0  # certainly positive now: nothing urgent about it


def test_recent_analyses_expire_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentiflow.ranking import cache

    clock = [100.0]
    monkeypatch.setattr("sentiflow.ranking.cache.time.monotonic", lambda: clock[0])
    recent = cache.RecentAnalyses(ttl_s=2.0, max_entries=3)
    a, b = made("negative", 0.9), made("positive", 0.8)
    recent.put({"p1": a, "p2": b})
    assert recent.get(["p1", "p2", "p3"]) == [a, b, None]
    clock[0] += 1.0
    recent.put({"p1": b, "p3": a, "p4": a})  # p1 refreshed; p2 is now the oldest: dropped
    assert len(recent) == 3
    assert recent.get(["p1", "p2", "p3", "p4"]) == [b, None, a, a]
    clock[0] += 2.5  # all expired
    assert recent.get(["p1", "p3"]) == [None, None]
    recent.put({"p5": b})  # putting drops the expired
    assert len(recent) == 1
    assert cache.RecentAnalyses(ttl_s=0, max_entries=3).get(["p1"]) == [None]


async def test_trending_mood_and_window_options(rank_client: httpx.AsyncClient) -> None:
    services = services_of(rank_client)
    await services.ranker.signals.put(
        {
            900: [Term("refund", "keyword", 1.0, 5, -0.5), Term("launch", "keyword", 0.4, 5, 0.8)],
            3600: [Term("launch", "keyword", 1.0, 5, 0.8)],
        },
        datetime.now(UTC),
    )
    items = [{"id": "r", "text": "where is my refund"}, {"id": "l", "text": "the launch went well"}]
    assert (await rank(rank_client, items=items, strategy="trending"))["ranked_ids"] == ["r", "l"]
    happy = await rank(rank_client, items=items, strategy="trending", options={"mood": "positive"})
    assert happy["ranked_ids"] == ["l", "r"]
    hour = await rank(rank_client, items=items, strategy="trending", options={"window": 3600})
    assert hour["ranked_ids"] == ["l", "r"]
    missing = await rank_client.post(
        "/api/rank", json={"items": items, "strategy": "trending", "options": {"window": 60}}
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "options.window"


async def test_stale_or_missing_signals_are_reported(rank_client: httpx.AsyncClient) -> None:
    items = [{"id": "1", "text": "anything"}]
    none_yet = await rank(rank_client, items=items, strategy="trending")
    assert none_yet["signals"] == {"version": None, "computed_at": None, "stale": True}
    await services_of(rank_client).ranker.signals.put({3600: []}, NOW - timedelta(hours=1))
    old = await rank(rank_client, items=items, strategy="trending")
    assert old["signals"]["stale"] is True
    assert old["signals"]["version"] == 1


async def test_signal_job_finds_terms_said_more_than_usual(rank_client: httpx.AsyncClient) -> None:
    services = services_of(rank_client)
    usual = ["coffee is good", "the coffee shop opened", "morning coffee", "coffee again"]
    recent = [
        "Huge outage at Acme Cloud",
        "Acme Cloud outage again",
        "is the outage over? Acme Cloud down",
        "outage outage",
        "coffee time",
    ]
    posts = [
        PostIn(source="s", text=t, created_at=NOW - timedelta(hours=2, minutes=i))
        for i, t in enumerate(usual * 3)
    ] + [PostIn(source="s", text=t, created_at=NOW - timedelta(minutes=5)) for t in recent]
    await save_batch(services.store, posts, [made("negative", 0.8)] * len(posts))
    signals = await refresh_signals(
        services.settings.signals, services.store, services.ranker.signals
    )
    trending = {t.term: t for t in signals.terms()}
    assert {"outage", "acme cloud"} <= trending.keys()
    assert "coffee" not in trending  # said as often as usual
    assert trending["acme cloud"].kind == "entity"
    assert trending["outage"].polarity == pytest.approx(-0.8)

    items = [{"id": "c", "text": "coffee please"}, {"id": "o", "text": "any news on the outage?"}]
    result = await rank(rank_client, items=items, strategy="trending")
    assert result["ranked_ids"] == ["o", "c"]
    assert result["signals"]["version"] == signals.version


def test_trending_terms_needs_a_few_mentions() -> None:
    rows = [("lonely term", NOW - timedelta(minutes=1), 0.0)] * 2
    assert trending_terms(rows, now=NOW, window_s=3600, baseline=6, top=10) == []
    rows *= 2
    terms = trending_terms(rows, now=NOW, window_s=3600, baseline=6, top=10)
    assert {t.term for t in terms} == {"lonely", "term"}
    assert max(t.weight for t in terms) == 1.0


async def test_invalid_requests_use_the_error_shape(rank_client: httpx.AsyncClient) -> None:
    async def error(body: Any) -> tuple[int, dict[str, Any]]:
        response = await rank_client.post("/api/rank", json=body)
        return response.status_code, response.json()["error"]

    one = [{"id": "1", "text": "t"}]
    assert await error({"items": [], "strategy": "calm"}) == (
        422,
        {
            "code": "invalid",
            "message": "items must be a list of 1 to 1,000 posts",
            "field": "items",
        },
    )
    status, body = await error({"items": [{"id": str(i), "text": "t"} for i in range(1001)]})
    assert (status, body["code"], body["field"]) == (413, "too_many", "items")
    status, body = await error({"items": [{"id": "1", "text": "t"}, {"id": "2"}]})
    assert (status, body["field"]) == (422, "items.1.text")
    status, body = await error({"items": one, "strategy": "loudest"})
    assert (status, body["field"]) == (422, "strategy")
    assert "urgency" in body["message"]
    status, body = await error(
        {"items": one, "strategy": "urgency", "options": {"half_life_h": "x"}}
    )
    assert (status, body["field"]) == (422, "options.half_life_h")
    status, body = await error({"items": one * 2})
    assert (status, body["field"]) == (422, "items.1.id")
    status, body = await error({"items": [{"id": "1", "text": "t", "created_at": "soon"}]})
    assert (status, body["field"]) == (422, "items.0.created_at")
    status, body = await error({"items": [{"id": "1", "text": "  \x07\x00 "}]})
    assert (status, body["field"]) == (422, "items.0.text")
    status, body = await error({"items": one, "options": {"deadline_ms": 0}})
    assert (status, body["field"]) == (422, "options.deadline_ms")
    not_json = await rank_client.post(
        "/api/rank", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_json"
    broken = await rank_client.post(
        "/rank", content=b"[", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400


async def test_strategies_are_listed_with_their_score(rank_client: httpx.AsyncClient) -> None:
    listed = {s["name"]: s["doc"] for s in (await rank_client.get("/api/rank/strategies")).json()}
    assert {"urgency", "calm", "trending", "chronological"} <= listed.keys()
    assert "recency" in listed["urgency"]
    spec = (await rank_client.get("/openapi.json")).json()
    assert {"/api/rank", "/api/rank/strategies", "/rank"} <= spec["paths"].keys()
    body = spec["paths"]["/api/rank"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["items"]["maxItems"] == 1000


@pytest.mark.parametrize("platform", ["twitter", "reddit", "facebook"])
async def test_ranking_challenge_request_is_answered_in_its_format(
    rank_client: httpx.AsyncClient, platform: str
) -> None:
    import orjson
    from ranking_challenge.fake import fake_request
    from ranking_challenge.response import RankingResponse

    request = fake_request(n_posts=4, n_comments=2, platform=platform)
    body = orjson.loads(request.model_dump_json())
    body["unused_by_sentiflow"] = {"anything": [1, 2]}
    body["items"][0]["unused_too"] = True
    response = await rank_client.post("/rank", json=body)
    assert response.status_code == 200, response.text
    answer = RankingResponse.model_validate(response.json())
    assert sorted(answer.ranked_ids) == sorted(item.id for item in request.items)
    assert len(answer.ranked_ids) == 12

    bad = await rank_client.post("/rank", json={"items": []})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "session"


async def test_ranking_challenge_strategy_is_chosen_by_query(
    rank_client: httpx.AsyncClient,
) -> None:
    import orjson
    from ranking_challenge.fake import fake_request

    request = fake_request(n_posts=3)
    body = orjson.loads(request.model_dump_json())
    stamps = ["2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z"]
    for item, stamp in zip(body["items"], stamps, strict=True):
        item["created_at"] = stamp
    ids = [item["id"] for item in body["items"]]
    response = await rank_client.post("/rank", params={"strategy": "chronological"}, json=body)
    assert response.json()["ranked_ids"] == [ids[1], ids[2], ids[0]]


@pytest.fixture
async def bare_store(tmp_path: Path) -> AsyncIterator[tuple[Settings, Store]]:
    settings = Settings(data_dir=tmp_path / "data", analyzer_processes=0, signals_interval_s=0)
    store = Store.from_settings(settings)
    await store.migrate()
    yield settings, store
    await store.close()


async def check_stored_analyses_lookup(store: Store) -> None:
    """The one-query lookup gives back every stored field of the analyses asked for (those of
    stored posts only), as the worker stored them; the SQL assembles them as JSON."""
    from sentiflow.analyze.registry import build_analyzer

    texts = ["I am furious, the app lost my order", "What a lovely morning", "ok 0.1 + 0.2"]
    analyses = build_analyzer("builtin-fast", Settings()).analyze(texts)
    analyses.append(made("negative", 1 / 3, "fear", 0.1 + 0.2))  # floats with all 17 digits
    posts = [PostIn(source="lookup", external_id=f"k{i}", text=f"post {i}") for i in range(4)]
    await save_batch(store, posts, analyses)
    asked = [p.id for p in posts] + [post_id("lookup", "never-stored")]
    found = await analyses_by_post_id(store, asked)
    assert set(found) == {p.id for p in posts}
    for post, stored in zip(posts, analyses, strict=True):
        assert dataclasses.replace(found[post.id], analyzed_at=stored.analyzed_at) == stored
    assert await analyses_by_post_id(store, [post_id("lookup", "never-stored")]) == {}
    assert await analyses_by_post_id(store, []) == {}
    # A human gives the first post another sentiment and keeps its emotion: that sentiment
    # becomes certain, the emotion stays the model's, the other post is untouched.
    first, model = posts[0], analyses[0]
    human = "positive" if model.sentiment != "positive" else "negative"
    await apply(store, [first.id], Change(sentiment=human, emotion=None, note=None, who="t"))
    found = await analyses_by_post_id(store, [first.id, posts[1].id])
    seen = found[first.id]
    assert (seen.sentiment, seen.sentiment_confidence) == (human, 1.0)
    assert seen.sentiment_probs == {
        s: float(s == human) for s in ("negative", "neutral", "positive")
    }
    assert seen.polarity == (1.0 if human == "positive" else -1.0)
    assert (seen.emotion, seen.emotion_probs) == (model.emotion, model.emotion_probs)
    assert (
        dataclasses.replace(found[posts[1].id], analyzed_at=analyses[1].analyzed_at) == analyses[1]
    )


async def test_stored_analyses_are_looked_up_as_stored(bare_store: tuple[Settings, Store]) -> None:
    await check_stored_analyses_lookup(bare_store[1])


async def test_signals_outage_degrades_to_partial(bare_store: tuple[Settings, Store]) -> None:
    settings, store = bare_store
    with socket.socket() as probe:  # a port nothing listens on: Redis is "down"
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    assert down.redis is not None
    redis = connect(down.redis)
    signals = RedisSignalStore(redis, Keys("down"))
    ranker = Ranker(settings, store=store, signals=signals)
    await ranker.start()
    try:
        items = [RankItem(id="a", text="outage"), RankItem(id="b", text="calm day")]
        result = await ranker.rank(items, strategy="trending")
    finally:
        await ranker.close()
        await redis.close()
    assert result.partial is True
    assert result.scorers == {"signals": "failed", "trending": "done"}
    assert result.ranked_ids == ["a", "b"]


async def test_big_feeds_are_analysed_in_a_process(bare_store: tuple[Settings, Store]) -> None:
    settings, store = bare_store
    settings = settings.model_copy(update={"rank_processes": 1, "rank_process_min": 2})
    ranker = Ranker(settings, store=store, signals=MemorySignalStore())
    await ranker.start()
    try:

        async def ready() -> bool:
            return ranker.analyzer.processes_ready

        await wait_for(ready, timeout=60)
        items = [
            RankItem(id="1", text="What a lovely, wonderful morning"),
            RankItem(id="2", text="I am furious, this is the worst service ever"),
        ]
        result = await ranker.rank(items, strategy="urgency", deadline_ms=10_000)
    finally:
        await ranker.close()
    assert result.scorers == {"store": "done", "analyzer": "done", "urgency": "done"}
    assert result.ranked_ids == ["2", "1"]


async def test_the_documented_example(rank_client: httpx.AsyncClient) -> None:
    page = (Path(__file__).parents[2] / "docs" / "ranking.md").read_text()
    section = page[page.index("## Ranking a feed") :]
    body = section[section.index("-d '") + 4 : section.index("}'") + 1]
    result = await rank(rank_client, **json.loads(body))
    assert result["ranked_ids"] == ["b", "a"]


async def test_the_scheduler_refreshes_the_signals(tmp_path: Path) -> None:
    from sentiflow.api import create_app

    settings = Settings(
        data_dir=tmp_path / "data", demo_rate=0, analyzer_processes=0, signals_interval_s=0.2
    )
    app = create_app(settings, worker=True)
    async with app.router.lifespan_context(app):
        services: ApiServices = app.state.services
        posts = [PostIn(source="s", text=f"kettle number {i} broke") for i in range(4)]
        await save_batch(services.store, posts, [made("negative", 0.7)] * 4)

        async def kettle_trends() -> bool:
            signals = await services.ranker.signals.get()
            return signals is not None and "kettle" in {t.term for t in signals.terms()}

        await wait_for(kettle_trends)
