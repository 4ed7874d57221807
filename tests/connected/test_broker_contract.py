"""The `Broker` contract, run against both MemoryBroker (needs nothing) and RedisStreamsBroker
(the real Redis, a private key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from sentiflow.errors import Backpressure
from sentiflow.models import PostIn
from sentiflow.queue.base import Broker, BrokerAdmin, Delivery
from sentiflow.queue.memory import MemoryBroker
from sentiflow.settings import QueueSettings
from tests.conftest import redis_at, require, wait_for

VISIBILITY_S = 0.3


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.connected)])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Broker, BrokerAdmin]]:
    """A broker and its admin side, memory or Redis."""
    if request.param == "memory":
        memory = MemoryBroker(max_backlog=50, max_deliveries=3, visibility_timeout_s=VISIBILITY_S)
        await memory.start()
        await memory.start()  # idempotent
        yield memory, memory
        return
    from sentiflow.keys import Keys
    from sentiflow.queue.redis import RedisStreamsBroker
    from sentiflow.queue.redis_admin import RedisStreamsAdmin

    require("Redis", "127.0.0.1", 6379)
    prefix = f"sftest-{uuid.uuid4().hex[:10]}"
    redis = redis_at()
    keys = Keys(prefix)
    queue = QueueSettings(max_backlog=50, max_deliveries=3, visibility_timeout_s=VISIBILITY_S)
    impl = RedisStreamsBroker(redis, keys, queue)
    await impl.start()
    await impl.start()  # idempotent
    yield impl, RedisStreamsAdmin(redis, keys)
    found = [k async for k in redis.client.scan_iter(f"{prefix}:*")]
    if found:
        await redis.client.delete(*found)
    await impl.close()
    await redis.close()


@pytest.fixture
def broker(queue: tuple[Broker, BrokerAdmin]) -> Broker:
    return queue[0]


@pytest.fixture
def admin(queue: tuple[Broker, BrokerAdmin]) -> BrokerAdmin:
    return queue[1]


def posts(n: int, start: int = 0) -> list[PostIn]:
    return [
        PostIn(source="t", external_id=f"e{i}", text=f"post {i}", topic="x" if i % 2 else None)
        for i in range(start, start + n)
    ]


async def take(broker: Broker, consumer: str, n: int) -> list[Delivery]:
    got: list[Delivery] = []

    async def enough() -> bool:
        got.extend(await broker.consume(consumer, n - len(got), 50))
        return len(got) >= n

    await wait_for(enough)
    return got


async def test_posts_round_trip_in_order(broker: Broker) -> None:
    sent = [
        *posts(3),
        PostIn(
            source="s",
            text="naïve café ✓",
            author="a",
            url="https://example.org/1",
            meta={"k": [1, 2]},
            created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        ),
    ]
    await broker.publish(sent)
    got = await take(broker, "c1", 4)
    assert [d.post for d in got] == sent
    assert [d.post.id for d in got] == [p.id for p in sent]
    assert all(d.deliveries == 1 for d in got)
    assert len({d.id for d in got}) == 4
    assert all(d.accepted_at > 0 for d in got)


async def test_backlog_counts_until_ack(broker: Broker) -> None:
    assert await broker.backlog() == 0
    await broker.publish(posts(5))
    assert await broker.backlog() == 5
    first = await broker.consume("c1", 2, 100)
    assert len(first) == 2
    assert await broker.backlog() == 5
    await broker.ack(first)
    await broker.ack(first)  # a second ack changes nothing
    assert await broker.backlog() == 3
    rest = await take(broker, "c2", 3)
    await broker.ack(rest)
    assert await broker.backlog() == 0
    assert await broker.consume("c1", 10, 50) == []


async def test_a_batch_spans_requests_in_order(broker: Broker) -> None:
    await broker.publish(posts(3))
    await broker.publish(posts(3, start=3))
    first = await broker.consume("c1", 4, 100)
    assert [d.post.external_id for d in first] == ["e0", "e1", "e2", "e3"]
    rest = await broker.consume("c1", 4, 100)
    assert [d.post.external_id for d in rest] == ["e4", "e5"]
    await broker.ack([*first, *rest])
    assert await broker.backlog() == 0


async def test_full_queue_refuses_the_whole_request(broker: Broker) -> None:
    await broker.publish(posts(40))
    with pytest.raises(Backpressure) as caught:
        await broker.publish(posts(20, start=40))
    assert caught.value.retry_after > 0
    assert "SENTIFLOW_QUEUE_MAX" in caught.value.message
    assert await broker.backlog() == 40
    await broker.publish(posts(10, start=40))
    assert await broker.backlog() == 50


async def test_unacked_delivery_goes_to_another_consumer(broker: Broker) -> None:
    await broker.publish(posts(2))
    crashed = await take(broker, "dies", 2)
    again = await take(broker, "lives", 2)
    assert sorted(d.id for d in again) == sorted(d.id for d in crashed)
    assert all(d.deliveries == 2 for d in again)
    await broker.ack(again)
    assert await broker.backlog() == 0


async def test_touch_keeps_a_delivery_in_hand(broker: Broker) -> None:
    await broker.publish(posts(1))
    held = await take(broker, "slow", 1)
    for _ in range(4):
        await broker.touch(held)
        assert await broker.consume("other", 10, int(VISIBILITY_S * 300)) == []
    await broker.ack(held)
    assert await broker.backlog() == 0


async def test_failing_post_is_retried_then_dead_lettered(
    broker: Broker, admin: BrokerAdmin
) -> None:
    await broker.publish(posts(3))
    first = await take(broker, "c1", 3)
    poison = first[0]
    await broker.ack(first[1:])
    tries = [poison.deliveries]
    await broker.fail([poison], reason="ValueError: bad")
    for _ in range(2):
        [retry] = await take(broker, "c1", 1)
        assert retry.post == poison.post
        tries.append(retry.deliveries)
        await broker.fail([retry], reason="ValueError: bad")
    assert tries == [1, 2, 3]
    assert await broker.backlog() == 0
    assert await broker.consume("c1", 10, 100) == []
    [letter] = await admin.dead_letters()
    assert letter.post == poison.post
    assert letter.reason == "ValueError: bad"
    assert letter.deliveries == 3

    assert await admin.replay_dead_letters([letter.id]) == 1
    assert await admin.dead_letters() == []
    [replayed] = await take(broker, "c2", 1)
    assert replayed.post == poison.post
    assert replayed.deliveries == 1
    await broker.ack([replayed])
    assert await broker.backlog() == 0


async def test_replay_all_dead_letters(broker: Broker, admin: BrokerAdmin) -> None:
    await broker.publish(posts(4))
    batch = await take(broker, "c1", 4)
    for _ in range(3):
        await broker.fail(batch, reason="boom")
        batch = await take(broker, "c1", 4) if _ < 2 else []
    assert len(await admin.dead_letters()) == 4
    assert len(await admin.dead_letters(limit=2)) == 2
    assert await admin.replay_dead_letters() == 4
    again = await take(broker, "c1", 4)
    assert sorted(d.post.external_id or "" for d in again) == ["e0", "e1", "e2", "e3"]
    await broker.ack(again)
    assert await broker.backlog() == 0


async def test_ping(broker: Broker) -> None:
    await broker.ping()
