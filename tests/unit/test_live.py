"""The live feed without a network: what a filtered client is told about a mixed batch, and a
client whose sends never complete losing only its own oldest events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from starlette.testclient import TestClient

from sentiflow.api import create_app
from sentiflow.api.live_hub import Client, LiveFilter, LiveHub, LiveSummary
from sentiflow.events import AlertEvent, Event, MemoryEventBus
from sentiflow.events.batch import batch_event
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


def summary_of(where: LiveFilter, *events: Event) -> dict[str, Any]:
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
    # Only the fields the live feed reads: the rest of a stored alert plays no part here.
    alert = cast(
        AlertEvent, {"type": "alert", "kind": "negative_spike", "source": "forum", "topic": None}
    )
    forum = summary_of(LiveFilter(source="forum"), first, second, alert)
    assert forum["count"] == 3
    assert forum["commits"] == [1.0, 2.0]
    assert forum["alerts"] == [alert]
    shop = LiveSummary(LiveFilter(source="shop"), 10)
    shop.add(second)
    shop.add(alert)
    assert shop.empty


def test_the_bench_clients_read_counts_and_commit_times_as_json_would() -> None:
    from sentiflow.bench.live import summary_fields

    tricky = '"count": 99, "commits":[7.0] \\"dropped\\"'
    post = PostIn(source="forum", external_id="tricky", text=tricky, created_at=AT)
    rows = [*MIXED, (post, analysis("negative", "anger"))]
    summary = LiveSummary(LiveFilter(), samples_max=10)
    summary.add(batch_event(rows, committed_at=1764000000.125))
    summary.add(batch_event(MIXED, committed_at=1764000000.5))
    payload = orjson.dumps(summary.message(dropped=0))
    assert orjson.loads(payload)["samples"][4]["text"] == tricky
    assert summary_fields(payload) == (11, [1764000000.125, 1764000000.5])
    assert summary_fields(orjson.dumps({"type": "ping", "at": 1.0})) is None


class FakeSocket:
    """Records the texts it is sent; with `stall`, a send never completes."""

    def __init__(self, stall: bool = False) -> None:
        self.stall = stall
        self.sent: list[str] = []
        self.gone = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        if self.stall:
            await asyncio.Event().wait()
        self.sent.append(message["text"])

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int, reason: str) -> None:
        self.gone.set()


class Connected:
    """A client of `hub` on a FakeSocket, served by its own task as the endpoint would."""

    def __init__(self, hub: LiveHub, where: LiveFilter, *, stall: bool = False) -> None:
        self.hub = hub
        self.socket = FakeSocket(stall)
        self.client = Client(self.socket, where, hub.settings)  # type: ignore[arg-type]
        hub.join(self.client)
        self.task: asyncio.Task[None] | None = None

    def serve(self) -> Connected:
        self.task = asyncio.create_task(self.client.serve(self.hub.stats))
        return self

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(text) for text in self.socket.sent]

    async def has_sent(self) -> bool:
        return bool(self.socket.sent)

    async def leave(self) -> None:
        self.socket.gone.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        self.hub.leave(self.client)


async def test_a_stalled_client_loses_only_its_own_oldest_summaries() -> None:
    settings = Settings(live_interval_s=0.001, live_queue=3)
    events = MemoryEventBus()
    hub = LiveHub(events, settings.live)
    healthy = Connected(hub, LiveFilter()).serve()
    stalled = Connected(hub, LiveFilter(), stall=True).serve()

    published = 0
    for i in range(50):
        # The publisher never waits for a client, stalled or not.
        await asyncio.wait_for(events.publish(batch_event(MIXED, committed_at=float(i))), 0.5)
        published += len(MIXED)
        await asyncio.sleep(0.003)

    async def healthy_has_all() -> bool:
        return bool(sum(m["count"] for m in healthy.messages()) == published)

    await wait_for(healthy_has_all)
    assert healthy.client.dropped == 0
    assert all(m["dropped"] == 0 for m in healthy.messages())
    assert stalled.socket.sent == []
    # Its backlog holds the newest `live_queue` summaries; every older one was dropped.
    assert len(stalled.client.backlog) == settings.live_queue
    assert stalled.client.dropped > 10
    assert hub.snapshot().dropped == stalled.client.dropped
    await healthy.leave()
    await stalled.leave()
    assert hub.snapshot().clients == 0


async def test_clients_of_one_filter_share_one_encoded_summary() -> None:
    hub = LiveHub(MemoryEventBus(), Settings().live)
    shop = [Connected(hub, LiveFilter(source="shop")) for _ in range(3)]
    forum = Connected(hub, LiveFilter(source="forum"))
    await hub.tick([batch_event(MIXED, committed_at=1.0)])

    window = shop[0].client.backlog[0]
    assert all(c.client.backlog[0] is window for c in shop)
    assert forum.client.backlog[0] is not window
    for connected in [*shop, forum]:
        connected.serve()
        await wait_for(connected.has_sent)
        await connected.leave()
    assert {c.socket.sent[0] for c in shop} == {window.message["text"]}
    assert [m["count"] for m in shop[0].messages()] == [3]
    assert [m["count"] for m in forum.messages()] == [2]


async def test_a_client_that_fell_behind_gets_its_backlog_in_one_message() -> None:
    hub = LiveHub(MemoryEventBus(), Settings(live_queue=2).live)
    forum = Connected(hub, LiveFilter(source="forum"))
    for i in range(3):
        await hub.tick([batch_event(MIXED, committed_at=float(i))])
    # Three windows for a backlog of two: the oldest is dropped.
    assert forum.client.dropped == 1
    forum.serve()
    await wait_for(forum.has_sent)
    [message] = forum.messages()
    assert message["commits"] == [1.0, 2.0]
    assert message["count"] == 4
    assert message["dropped"] == 1
    await forum.leave()


async def test_a_client_stuck_in_one_send_is_disconnected() -> None:
    hub = LiveHub(MemoryEventBus(), Settings(live_send_timeout_s=0.05).live)
    stuck = Connected(hub, LiveFilter(), stall=True).serve()
    await hub.tick([batch_event(MIXED, committed_at=1.0)])

    async def sending() -> bool:
        return stuck.client.sending_since is not None

    await wait_for(sending)
    await asyncio.sleep(0.1)
    await hub.tick([])
    assert stuck.task is not None
    await asyncio.wait_for(stuck.task, 5)
    assert stuck.client.too_slow
    assert hub.stats.disconnected_slow == 1
    hub.leave(stuck.client)


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


def test_batch_event_from_the_stores_rollup_sums_is_the_same_event() -> None:
    """The worker hands `batch_event` the minute sums its write computed anyway; the event is
    the one a pass over the posts gives, topic-less posts included."""
    from sentiflow.store.rollups import rollup_sums

    rows = MIXED + fresh(("shop", None, "positive", "joy"), ("forum", "billing", "neutral", "fear"))
    assert batch_event(rows, committed_at=1.0, minute_sums=rollup_sums(rows)) == batch_event(
        rows, committed_at=1.0
    )
