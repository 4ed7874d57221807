"""`RedisStreamsAdmin`: the operators' side of the Redis broker: the queue's figures for
/metrics, and the dead letters (list, queue again)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from redis import exceptions as rex

from sentiflow.connections import RedisConnection
from sentiflow.keys import Keys
from sentiflow.models import PostIn
from sentiflow.queue import codec, scripts
from sentiflow.queue.base import DeadLetter, QueueStats

PART: Final = "broker"
UNDECODABLE: Final = (ValueError, TypeError, KeyError, AttributeError)


class RedisStreamsAdmin:
    def __init__(self, redis: RedisConnection, keys: Keys) -> None:
        self.redis = redis
        self.client: Any = redis.client
        self.stream = keys.posts_stream
        self.dead = keys.dead_letters
        self.group = keys.workers_group
        self.counter = keys.queued_posts
        self._publish = self.client.register_script(scripts.PUBLISH)

    async def stats(self) -> QueueStats:
        """The stream's length, lag and pending count in entries, queued posts, dead letters."""
        with self.redis.errors(PART):
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.xlen(self.stream)
                    pipe.xinfo_groups(self.stream)
                    pipe.xlen(self.dead)
                    pipe.get(self.counter)
                    length, groups, dead, counted = await pipe.execute()
            except rex.ResponseError:
                return QueueStats()  # no stream yet: nothing queued
        backlog = max(0, int(counted or 0))
        group = next((g for g in groups if g["name"].decode() == self.group), None)
        if group is None:
            return QueueStats(length=length, lag=length, dead=dead, backlog=backlog)
        lag = group.get("lag")
        # Redis cannot always tell the lag (after deletions inside the unread range); the
        # stream length is then a safe over-estimate.
        return QueueStats(
            length=length,
            lag=length if lag is None else int(lag),
            pending=int(group["pending"]),
            dead=dead,
            backlog=backlog,
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self.redis.errors(PART):
            rows = await self.client.xrange(self.dead, count=limit)
        return [_letter(raw_id, fields) for raw_id, fields in rows]

    async def replay_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        replayed = 0
        with self.redis.errors(PART):
            if ids is None:
                while rows := await self.client.xrange(self.dead, count=1000):
                    replayed += await self._replay(rows)
            else:
                for dead_id in ids:
                    replayed += await self._replay(
                        await self.client.xrange(self.dead, dead_id, dead_id)
                    )
        return replayed

    async def _replay(self, rows: Sequence[Any]) -> int:
        """Queue dead letters again, each as an entry of its own, with no deliveries yet."""
        async with self.client.pipeline(transaction=True) as pipe:
            args = [a for _, fields in rows for a in (1, 0, fields[codec.FIELD])]
            await self._publish(keys=[self.stream, self.counter], args=[0, *args], client=pipe)
            for raw_id, _ in rows:
                pipe.xdel(self.dead, raw_id)
            await pipe.execute()
        return len(rows)


def _letter(raw_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    try:
        [post] = codec.decode(fields[codec.FIELD])
    except UNDECODABLE:
        post = PostIn.model_construct(source="?", text=repr(fields.get(codec.FIELD, b""))[:200])
    return DeadLetter(
        id=raw_id.decode(),
        post=post,
        reason=fields.get(b"reason", b"").decode(),
        deliveries=int(fields.get(b"deliveries", b"0")),
    )
