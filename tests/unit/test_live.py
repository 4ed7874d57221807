"""The live feed without a network: what a filtered client is told about a mixed batch, and a
client whose sends never complete losing only its own oldest events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from starlette.testclient import TestClient

from sentiflow.api import create_app
from sentiflow.api.live import LiveFilter, LiveHub, LiveSummary, _Client
from sentiflow.events import MemoryEventBus, batch_event
from sentiflow.models import Analysis, PostIn
from sentiflow.settings import Settings
from tests.conftest import wait_for

AT = datetime(2026, 5, 1, 12, 30, 15, tzinfo=UTC)


def analysis(sentiment: str, emotion: str) -> Analysis:
    return Analysis(
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_confidence=0.9,
        sentiment_probs={sentiment: 0.9},
        polarity=0.5,
        emotion=emotion,  # type: ignore[arg-type]
        emotion_confidence=0.8,
        emotion_probs={emotion: 0.8},
        model_version="test-1",
    )


def fresh(*rows: tuple[str, str | None, str, str]) -> list[tuple[PostIn, Analysis]]:
    return [
        (
            PostIn(source=source, topic=topic, external_id=str(i), text=f"t{i}", created_at=AT),
            analysis(sentiment, emotion),
        )
        for i, (source, topic, sentiment, emotion) in enumerate(rows)
    ]


MIXED = fresh(
    ("shop", "billing", "negative", "anger"),
    ("shop", "billing", "negative", "anger"),
    ("shop", None, "positive", "joy"),
    ("forum", "billing", "negative", "sadness"),
    ("forum", "outage", "neutral", "neutral"),
)


def summary_of(where: LiveFilter, *events: dict[str, Any]) -> dict[str, Any]:
    summary = LiveSummary(where, samples_max=10)
    for event in events:
        summary.add(event)
    return summary.message(dropped=0)


def test_unfiltered_summary_counts_everything_by_minute() -> None:
    message = summary_of(LiveFilter(), batch_event(MIXED, committed_at=1.0))
    assert message["count"] == 5
    assert message["sentiment"] == {"negative": 3, "positive": 1, "neutral": 1}
    assert message["emotion"] == {"anger": 2, "joy": 1, "sadness": 1, "neutral": 1}
    minute = int(AT.timestamp() // 60) * 60
    assert message["series"] == [{"t": minute, "counts": message["sentiment"]}]
    assert message["commits"] == [1.0]


def test_a_filter_counts_only_its_share_of_a_mixed_batch() -> None:
    event = batch_event(MIXED, committed_at=1.0)
    shop = summary_of(LiveFilter(source="shop"), event)
    assert shop["count"] == 3
    assert shop["sentiment"] == {"negative": 2, "positive": 1}
    assert {s["source"] for s in shop["samples"]} == {"shop"}

    billing_negative = summary_of(LiveFilter(topic="billing", sentiment="negative"), event)
    assert billing_negative["count"] == 3
    assert billing_negative["emotion"] == {"anger": 2, "sadness": 1}


def test_events_of_one_window_are_merged_and_foreign_ones_ignored() -> None:
    first = batch_event(MIXED, committed_at=1.0)
    second = batch_event(fresh(("forum", "outage", "positive", "joy")), committed_at=2.0)
    alert = {"type": "alert", "kind": "negative_spike", "source": "forum", "topic": None}
    forum = summary_of(LiveFilter(source="forum"), first, second, alert)
    assert forum["count"] == 3
    assert forum["commits"] == [1.0, 2.0]
    assert forum["alerts"] == [alert]
    shop = LiveSummary(LiveFilter(source="shop"), 10)
    shop.add(second)
    shop.add(alert)
    assert shop.empty


class FakeSocket:
    """Records what it is sent; with `stall`, a send never completes."""

    def __init__(self, stall: bool = False) -> None:
        self.stall = stall
        self.sent: list[str] = []
        self.gone = asyncio.Event()

    async def send_text(self, data: str) -> None:
        if self.stall:
            await asyncio.Event().wait()
        self.sent.append(data)

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str) -> None:
        self.gone.set()


async def test_a_stalled_client_loses_only_its_own_oldest_events() -> None:
    import orjson

    settings = Settings(live_interval_s=0.001, live_queue=3)
    events = MemoryEventBus()
    hub = LiveHub()
    runtime = SimpleNamespace(settings=settings, events=events)
    clients = []
    for socket in (FakeSocket(), FakeSocket(stall=True)):
        subscription = events.subscribe(maxsize=settings.live_queue)
        hub.joined(subscription, events, settings)
        client = _Client(socket, subscription, LiveFilter(), runtime, hub)  # type: ignore[arg-type]
        clients.append((socket, subscription, asyncio.create_task(client.serve())))
    (healthy, healthy_sub, _), (stalled, stalled_sub, _) = clients

    published = 0
    for i in range(50):
        # The publisher never waits for a client, stalled or not.
        await asyncio.wait_for(events.publish(batch_event(MIXED, committed_at=float(i))), 0.5)
        published += len(MIXED)
        await asyncio.sleep(0.002)

    async def healthy_has_all() -> bool:
        return sum(orjson.loads(m)["count"] for m in healthy.sent) == published

    await wait_for(healthy_has_all)
    assert healthy_sub.dropped == 0
    assert stalled.sent == []
    assert stalled_sub.dropped > 40
    assert hub.snapshot().dropped == stalled_sub.dropped
    for socket, subscription, task in clients:
        socket.gone.set()
        await task
        hub.left(subscription)
    assert hub.snapshot().clients == 0


def test_ws_live_streams_filtered_summaries(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"live_interval_s": 0.01}), worker=True)
    with TestClient(app) as http, http.websocket_connect("/ws/live?source=forum") as ws:
        posts = [
            {"source": "forum" if i % 3 == 0 else "shop", "external_id": str(i), "text": "ok"}
            for i in range(30)
        ]
        assert http.post("/api/posts", json=posts).status_code == 202
        seen = 0
        while seen < 10:
            message = ws.receive_json()
            assert message["type"] == "summary"
            assert {s["source"] for s in message["samples"]} == {"forum"}
            seen += message["count"]
        assert seen == 10
        assert http.get("/api/live").json()["clients"] == 1
