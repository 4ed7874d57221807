"""Ranking sessions on an embedded app: POST /rank and POST /api/rank store who a feed was
ranked for and the feed, GET /api/sessions lists and shows them, and `seen_sessions` demotes
what a user was shown lately."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sentiflow.ranking.base import RankItem
from sentiflow.ranking.registry import register, unregister
from sentiflow.settings import Settings
from tests.conftest import app_client


def ranking_settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        demo_rate=0,
        analyzer_processes=0,
        signals_interval_s=0,
        rank_deadline_ms=10_000,
        **extra,
    )


@pytest.fixture
async def rank_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(ranking_settings(tmp_path), worker=False) as c:
        yield c


def challenge(user_id: str, platform: str = "reddit", **session: Any) -> dict[str, Any]:
    from ranking_challenge.fake import fake_request

    request = fake_request(n_posts=3, n_comments=1, platform=platform)
    body: dict[str, Any] = orjson.loads(request.model_dump_json())
    body["session"].update(user_id=user_id, **session)
    return body


async def test_a_challenge_request_shows_up_as_its_users_session(
    rank_client: httpx.AsyncClient,
) -> None:
    body = challenge("u1", cohort="arm-2")
    body["items"][0]["text"] = "I hate this, furious and disgusted with everyone here"
    answer = await rank_client.post("/rank", json=body)
    assert answer.status_code == 200, answer.text

    listed = (await rank_client.get("/api/sessions", params={"user_id": "u1"})).json()["items"]
    assert len(listed) == 1
    session = listed[0]
    assert session["id"] == body["session"]["session_id"]
    assert (session["user_id"], session["platform"], session["cohort"]) == ("u1", "reddit", "arm-2")
    assert session["items"] == [item["id"] for item in body["items"]]
    assert session["strategy"] == "calm"

    detail = (await rank_client.get(f"/api/sessions/{session['id']}")).json()
    assert [item["id"] for item in detail["items"]] == session["items"]
    assert detail["items"][0]["sentiment"] == "negative"
    assert all(item["sentiment"] and item["emotion"] for item in detail["items"])
    assert detail["items"][0]["text"].endswith("disgusted with everyone here")


async def test_sessions_filter_by_user_platform_and_time_newest_first(
    rank_client: httpx.AsyncClient,
) -> None:
    for user, platform in [("u1", "reddit"), ("u2", "facebook"), ("u1", "twitter")]:
        answer = await rank_client.post("/rank", json=challenge(user, platform))
        assert answer.status_code == 200
    everyone = (await rank_client.get("/api/sessions")).json()["items"]
    assert [(s["user_id"], s["platform"]) for s in everyone] == [
        ("u1", "twitter"),
        ("u2", "facebook"),
        ("u1", "reddit"),
    ]
    mine = (await rank_client.get("/api/sessions", params={"user_id": "u1"})).json()["items"]
    assert [s["platform"] for s in mine] == ["twitter", "reddit"]
    on_fb = (await rank_client.get("/api/sessions", params={"platform": "facebook"})).json()
    assert [s["user_id"] for s in on_fb["items"]] == ["u2"]
    later = await rank_client.get("/api/sessions", params={"since": everyone[0]["created_at"]})
    assert [s["id"] for s in later.json()["items"]] == [everyone[0]["id"]]
    one = (await rank_client.get("/api/sessions", params={"limit": 1})).json()["items"]
    assert len(one) == 1
    missing = await rank_client.get("/api/sessions/nope")
    assert missing.status_code == 404


async def test_a_prefetch_is_not_a_session(rank_client: httpx.AsyncClient) -> None:
    body = challenge("u1", prefetch=True)
    assert (await rank_client.post("/rank", json=body)).status_code == 200
    assert (await rank_client.get("/api/sessions")).json()["items"] == []


def feed(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "text": f"post number {i} about the weather"} for i in ids]


async def test_api_rank_with_a_session_is_stored_and_without_one_is_not(
    rank_client: httpx.AsyncClient,
) -> None:
    plain = await rank_client.post("/api/rank", json={"items": feed("a", "b")})
    assert plain.status_code == 200
    assert (await rank_client.get("/api/sessions")).json()["items"] == []

    body = {
        "items": feed("a", "b"),
        "strategy": "chronological",
        "session": {"id": "page-1", "user_id": " u7 ", "platform": "app"},
    }
    assert (await rank_client.post("/api/rank", json=body)).status_code == 200
    stored = (await rank_client.get("/api/sessions/page-1")).json()
    assert (stored["user_id"], stored["platform"], stored["strategy"]) == (
        "u7",
        "app",
        "chronological",
    )
    assert [item["id"] for item in stored["items"]] == ["a", "b"]
    # Ranked again, the same page keeps its newest feed.
    body["items"] = feed("c", "a", "d")
    assert (await rank_client.post("/api/rank", json=body)).status_code == 200
    again = (await rank_client.get("/api/sessions/page-1")).json()
    assert [item["id"] for item in again["items"]] == ["c", "a", "d"]
    assert len((await rank_client.get("/api/sessions")).json()["items"]) == 1


@pytest.mark.parametrize(
    ("session", "field"),
    [
        ("u1", "session"),
        ({"user": "u1"}, "session.user"),
        ({"user_id": ""}, "session.user_id"),
        ({"platform": 3}, "session.platform"),
    ],
)
async def test_a_bad_session_is_refused_naming_its_field(
    rank_client: httpx.AsyncClient, session: Any, field: str
) -> None:
    answer = await rank_client.post("/api/rank", json={"items": feed("a"), "session": session})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field


async def test_seen_sessions_demotes_what_the_user_was_shown_lately(
    rank_client: httpx.AsyncClient,
) -> None:
    async def rank(ids: list[str], user: str, **options: Any) -> list[str]:
        body = {
            "items": feed(*ids),
            "strategy": "chronological",
            "session": {"user_id": user},
            "options": options,
        }
        answer = await rank_client.post("/api/rank", json=body)
        assert answer.status_code == 200, answer.text
        ranked: list[str] = answer.json()["ranked_ids"]
        return ranked

    await rank(["a", "b"], "u1")
    await rank(["c"], "u1")
    await rank(["e"], "u2")
    fresh = ["a", "b", "c", "d", "e"]
    assert await rank(fresh, "u3") == fresh  # no option: feed order
    assert await rank(fresh, "u1", seen_sessions=2) == ["d", "e", "a", "b", "c"]
    await rank(["c"], "u5")
    await rank(["a"], "u5")
    assert await rank(fresh, "u5", seen_sessions=1) == ["b", "c", "d", "e", "a"]
    assert await rank(fresh, "u6", seen_sessions=5) == fresh

    for bad in (-1, 101, 1.5, True):
        body = {"items": feed("a"), "session": {"user_id": "u1"}, "options": {"seen_sessions": bad}}
        answer = await rank_client.post("/api/rank", json=body)
        assert answer.json()["error"]["field"] == "options.seen_sessions", bad
    anonymous = await rank_client.post(
        "/api/rank", json={"items": feed("a"), "options": {"seen_sessions": 2}}
    )
    assert anonymous.status_code == 422
    assert "session.user_id" in anonymous.json()["error"]["message"]


async def test_the_challenge_endpoint_demotes_seen_items_by_query(
    rank_client: httpx.AsyncClient,
) -> None:
    first = challenge("u9")
    assert (await rank_client.post("/rank", json=first)).status_code == 200
    second = challenge("u9")
    second["items"].append(first["items"][0])
    ids = [item["id"] for item in second["items"]]
    answer = await rank_client.post(
        "/rank", params={"strategy": "chronological", "seen_sessions": 1}, json=second
    )
    assert answer.json()["ranked_ids"][-1] == ids[-1]


class Recorder:
    """A strategy that keeps the options it was given."""

    name = "test-options"
    doc = "0 for every post."
    uses_analyses = False
    uses_signals = False

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def score(
        self, items: Sequence[RankItem], analyses: Any, signals: Any, options: Mapping[str, Any]
    ) -> list[float]:
        self.seen.append(dict(options))
        return [0.0] * len(items)


async def test_the_strategy_gets_its_own_options_not_seen_sessions(
    rank_client: httpx.AsyncClient,
) -> None:
    recorder = Recorder()
    register(recorder)
    try:
        body = {
            "items": feed("a"),
            "strategy": "test-options",
            "session": {"user_id": "u1"},
            "options": {"seen_sessions": 2, "mine": 1},
        }
        assert (await rank_client.post("/api/rank", json=body)).status_code == 200
        assert recorder.seen and all(o == {"mine": 1} for o in recorder.seen)
    finally:
        unregister("test-options")


async def test_hashed_authors_keep_users_hashed_and_still_findable(tmp_path: Path) -> None:
    settings = ranking_settings(tmp_path, hash_authors=True, author_hash_key="k" * 32)
    async with app_client(settings, worker=False) as c:
        assert (await c.post("/rank", json=challenge("u1"))).status_code == 200
        feed = {"items": [{"id": "a", "text": "lovely"}], "session": {"user_id": "u1"}}
        assert (await c.post("/api/rank", json=feed)).status_code == 200
        everyone = (await c.get("/api/sessions")).json()["items"]
        mine = (await c.get("/api/sessions", params={"user_id": "u1"})).json()["items"]
    assert len(everyone) == 2
    assert {s["user_id"] for s in everyone} == {s["user_id"] for s in mine}
    (stored,) = {s["user_id"] for s in mine}
    assert stored.startswith("h:") and "u1" not in stored
