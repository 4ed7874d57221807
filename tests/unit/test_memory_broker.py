"""MemoryBroker: bounded, at-least-once, dead letters after N failed deliveries."""

from __future__ import annotations

import pytest

from sentiflow.errors import Backpressure
from sentiflow.models import PostIn
from sentiflow.queue.memory import MemoryBroker


def posts(n: int) -> list[PostIn]:
    return [PostIn(source="s", external_id=str(i), text=f"post {i}") for i in range(n)]


async def test_full_queue_refuses_whole_batch() -> None:
    broker = MemoryBroker(max_backlog=5)
    await broker.publish(posts(4))
    with pytest.raises(Backpressure) as err:
        await broker.publish(posts(2))
    assert err.value.retry_after > 0
    assert await broker.backlog() == 4


async def test_unacked_deliveries_count_as_backlog_until_acked() -> None:
    broker = MemoryBroker()
    await broker.publish(posts(3))
    batch = await broker.consume("w", 10, 0)
    assert len(batch) == 3
    assert await broker.backlog() == 3
    await broker.ack(batch[:2])
    assert await broker.backlog() == 1


async def test_failed_delivery_is_retried_then_dead_lettered() -> None:
    broker = MemoryBroker(max_deliveries=2)
    await broker.publish(posts(1))
    first = await broker.consume("w", 10, 0)
    await broker.fail(first, "boom")
    second = await broker.consume("w", 10, 0)
    assert second[0].deliveries == 2
    await broker.fail(second, "boom again")
    assert await broker.consume("w", 10, 0) == []
    dead = await broker.dead_letters()
    assert [d.reason for d in dead] == ["boom again"]
    assert await broker.replay_dead_letters() == 1
    assert len(await broker.consume("w", 10, 0)) == 1
