"""`RedisStreamsBroker`: distributed mode's broker, a Redis stream with one consumer group,
reclaim of a crashed worker's entries and a dead-letter stream (see `codec` for how posts sit
in an entry, `scripts` for the Lua that keeps the backlog count, `redis_admin` for the
operators' side).

One stream entry carries the posts of one `publish` call, so Redis, the producer and the
worker pay per request rather than per post; deliveries, acks and dead letters stay per post.
Every Redis error is translated into `Unavailable(part="broker")` naming the URL, so the API
answers 503 and workers back off and retry until Redis returns.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from redis import exceptions as rex

from sentiflow.connections import RedisConnection
from sentiflow.errors import Backpressure, Unavailable
from sentiflow.keys import Keys, consumer_name
from sentiflow.metrics import metrics
from sentiflow.models import PostIn
from sentiflow.queue import codec, scripts
from sentiflow.queue.base import Delivery
from sentiflow.settings import QueueSettings

log = structlog.get_logger("sentiflow.queue")

PART: Final = "broker"
# Entries per XREADGROUP while filling a batch: bounds how far a read can overshoot the batch
# when entry sizes change (the excess waits in the consumer for its next batch).
READ_ENTRIES: Final = 16
# How often one consumer looks for entries idle past the visibility timeout, and trims the
# acknowledged history. Both are cheap, but not per batch.
RECLAIM_EVERY_S: Final = 1.0
TRIM_EVERY_S: Final = 5.0


@dataclass(slots=True)
class _Entry:
    """An entry in this consumer's hands: how many posts it has, and which are resolved
    (committed, dead-lettered or queued again). It is acknowledged when all are."""

    size: int
    resolved: set[int] = field(default_factory=set)


class RedisStreamsBroker:
    """The `Broker` on one Redis stream and one consumer group (see queue/base.py).

    An entry holds the posts of one `publish`; a delivery is one post of it, with id
    `<entry id>/<index>`. `consume` reads whole entries and keeps what does not fit the batch
    for the next call. An entry is acknowledged once each of its posts is acked, dead-lettered
    or queued again: a post that failed goes back in an entry of its own (with its deliveries
    so far), so a retry repeats that post alone. An entry reclaimed from a crashed consumer is
    delivered whole; the store skips the posts already committed. A counter kept beside the
    stream, in the same scripts that add and acknowledge entries, says how many posts are
    queued, for backpressure and `backlog`.
    """

    def __init__(self, redis: RedisConnection, keys: Keys, queue: QueueSettings) -> None:
        self.redis = redis
        self.client: Any = redis.client
        self.stream = keys.posts_stream
        self.dead = keys.dead_letters
        self.group = keys.workers_group
        self.counter = keys.queued_posts
        self.max_backlog = queue.max_backlog
        self.max_deliveries = queue.max_deliveries
        self.visibility_ms = int(queue.visibility_timeout_s * 1000)
        self._claim_cursor = "0-0"
        self._consumers: set[str] = set()
        self._next_reclaim = 0.0
        self._next_trim = 0.0
        self._publish = self.client.register_script(scripts.PUBLISH)
        self._finish = self.client.register_script(scripts.FINISH)
        # Deliveries read past the last batch, and the entries in hand, by entry id.
        self._held: deque[Delivery] = deque()
        self._open: dict[str, _Entry] = {}
        # Posts per entry in the last read: how many entries the next read asks for.
        self._entry_posts = 1.0
        # The reply as Redis sends it: redis-py's own parsing builds a dict per entry. Only
        # the broker reads streams, so the process's shared client can take this callback.
        self.client.set_response_callback("XREADGROUP", _unparsed)

    async def start(self) -> None:
        with self.redis.errors(PART):
            await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            # From id 0, so posts queued before the first worker ever started are read too.
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("broker.group_created", stream=self.stream, group=self.group)
        except rex.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        """Nothing to release: the connection belongs to the process (see `connections`)."""

    async def ping(self) -> None:
        await self.redis.ping(PART)

    async def publish(self, posts: Sequence[PostIn]) -> None:
        if not posts:
            return
        # One script: a request's posts are queued all together or not at all.
        with self.redis.errors(PART):
            queued, held = await self._queue(codec.entries(posts, 0), limit=self.max_backlog)
        if not queued:
            raise Backpressure(
                f"the queue holds {held:,} posts (limit {self.max_backlog:,}); "
                "retry after a moment, add workers, or raise SENTIFLOW_QUEUE_MAX",
                retry_after=1.0,
            )

    async def consume(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        if len(self._held) < count:
            try:
                # Waiting for new entries only when nothing is in hand.
                await self._fill(consumer, count, 0 if self._held else block_ms)
            except Unavailable:
                if not self._held:
                    raise
        return self._take(count)

    async def _fill(self, consumer: str, count: int, block_ms: int) -> None:
        with self.redis.errors(PART):
            try:
                if consumer not in self._consumers:
                    # Redis lists a consumer only once something was delivered to it; say
                    # so at once, so XINFO CONSUMERS shows idle workers too.
                    await self.client.xgroup_createconsumer(self.stream, self.group, consumer)
                    self._consumers.add(consumer)
                if time.monotonic() >= self._next_reclaim and await self._reclaim(consumer, count):
                    return
                await self._read(consumer, count, block_ms)
            except rex.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The group vanished (Redis restarted without persistence, or was flushed).
                log.warning("broker.group_missing", stream=self.stream, group=self.group)
                await self._ensure_group()

    async def _read(self, consumer: str, count: int, block_ms: int) -> None:
        """Read new entries until `count` posts are in hand or none are left; only the first
        read waits, up to `block_ms`."""
        block = block_ms or None
        while len(self._held) < count:
            want = min(
                READ_ENTRIES, max(1, math.ceil((count - len(self._held)) / self._entry_posts))
            )
            reply = await self.client.xreadgroup(
                self.group, consumer, {self.stream: ">"}, count=want, block=block
            )
            if not reply:
                return
            # RESP3 (redis-py's default now) answers a map of stream → entries; RESP2 a list.
            entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            await self._deliver(entries, deliveries=None)
            if len(entries) < want:
                return
            block = None

    def _take(self, count: int) -> list[Delivery]:
        held = self._held
        return [held.popleft() for _ in range(min(count, len(held)))]

    async def _reclaim(self, consumer: str, count: int) -> bool:
        """Take over entries idle past the visibility timeout (a crashed or failing worker's)."""
        self._next_reclaim = time.monotonic() + RECLAIM_EVERY_S
        want = min(READ_ENTRIES, max(1, math.ceil(count / self._entry_posts)))
        cursor, entries, *_ = await self.client.xautoclaim(
            self.stream, self.group, consumer, self.visibility_ms, self._claim_cursor, count=want
        )
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor != "0-0":
            self._next_reclaim = 0.0  # more to scan
        # Entries trimmed meanwhile come back without fields.
        entries = [(i, f) for i, f in entries if f]
        if not entries:
            return False
        ids = [i.decode() for i, _ in entries]
        rows = await self.client.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=codec.id_key),
            max=max(ids, key=codec.id_key),
            count=len(ids) * 2,
            consumername=consumer,
        )
        times = {r["message_id"].decode(): int(r["times_delivered"]) for r in rows}
        log.info("broker.reclaimed", consumer=consumer, entries=len(ids))
        await self._deliver(entries, deliveries=times)
        return True

    async def _deliver(self, entries: Sequence[Any], *, deliveries: dict[str, int] | None) -> None:
        """Unpack entries into held deliveries; bury those delivered too often, or unreadable."""
        doomed: list[tuple[str, bytes, str, int]] = []
        finished: list[tuple[str, int]] = []
        posts_read = 0
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            payload, before = codec.fields_of(fields)
            tries = before + (1 if deliveries is None else deliveries.get(entry_id, 1))
            try:
                posts = codec.decode(payload)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                doomed.append((entry_id, payload, f"undecodable entry: {exc!r}", tries))
                finished.append((entry_id, 0))
                continue
            posts_read += len(posts)
            if not posts:  # nothing to deliver: acknowledge it at once
                finished.append((entry_id, 0))
                continue
            if tries > self.max_deliveries:
                # Delivered that often without an ack or a fail: it keeps killing its worker.
                reason = "delivered too often without an ack"
                doomed += [
                    (f"{entry_id}/{i}", codec.dumps(p), reason, tries) for i, p in enumerate(posts)
                ]
                finished.append((entry_id, len(posts)))
                continue
            self._open[entry_id] = _Entry(len(posts))
            at = codec.accepted_at(entry_id)
            self._held.extend(
                Delivery(f"{entry_id}/{i}", post, tries, at) for i, post in enumerate(posts)
            )
        self._entry_posts = max(1.0, posts_read / len(entries)) if entries else self._entry_posts
        if doomed or finished:
            await self._settle(doomed=doomed, finished=finished)

    async def _settle(
        self,
        *,
        doomed: Sequence[tuple[str, bytes, str, int]] = (),
        again: Sequence[Delivery] = (),
        finished: Sequence[tuple[str, int]] = (),
    ) -> None:
        """In one transaction: dead letters written, posts queued again, entries finished."""
        async with self.client.pipeline(transaction=True) as pipe:
            for letter_id, payload, reason, tries in doomed:
                pipe.xadd(
                    self.dead,
                    {
                        b"id": letter_id,
                        codec.FIELD: payload,
                        b"reason": reason,
                        b"deliveries": tries,
                    },
                )
            by_tries: dict[int, list[PostIn]] = {}
            for d in again:
                by_tries.setdefault(d.deliveries, []).append(d.post)
            if by_tries:
                args = [a for tries, posts in by_tries.items() for a in codec.entries(posts, tries)]
                await self._queue(args, client=pipe)
            if finished:
                await self._acknowledge(finished, client=pipe)
            await pipe.execute()
        if doomed:
            metrics().dead_lettered.labels(consumer_name()).inc(len(doomed))
        for letter_id, _, reason, tries in doomed:
            log.warning("post.dead_lettered", entry=letter_id, deliveries=tries, reason=reason)

    async def _queue(self, args: Sequence[Any], *, limit: int = 0, client: Any = None) -> Any:
        """`scripts.PUBLISH` with `codec.entries` arguments: add the entries and count their posts, within
        `limit` (0: none, for posts accepted already); through `client`, a pipeline, if given."""
        keys = [self.stream, self.counter]
        return await self._publish(keys=keys, args=[limit, *args], client=client)

    async def _acknowledge(
        self, finished: Sequence[tuple[str, int]], *, client: Any = None
    ) -> None:
        """`scripts.FINISH`: acknowledge entries, (id, posts) each, and take their posts off the count."""
        args = [a for entry_id, size in finished for a in (entry_id, size)]
        await self._finish(
            keys=[self.stream, self.counter], args=[self.group, *args], client=client
        )

    def _resolve(self, deliveries: Iterable[Delivery]) -> list[tuple[str, int]]:
        """Mark deliveries resolved; the entries (id, posts) now wholly resolved. A delivery
        of an entry no longer in hand (acknowledged already) changes nothing."""
        finished = []
        for d in deliveries:
            entry_id, _, index = d.id.rpartition("/")
            entry = self._open.get(entry_id)
            if entry is None:
                continue
            entry.resolved.add(int(index))
            if len(entry.resolved) == entry.size:
                del self._open[entry_id]
                finished.append((entry_id, entry.size))
        return finished

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        finished = self._resolve(deliveries)
        if not finished:
            return
        with self.redis.errors(PART):
            await self._acknowledge(finished)
            if time.monotonic() >= self._next_trim:
                await self.trim()

    async def touch(self, deliveries: Sequence[Delivery]) -> None:
        entries = list(dict.fromkeys(d.id.rpartition("/")[0] for d in deliveries))
        if not entries:
            return
        with self.redis.errors(PART):
            consumer = await self._owner(entries[0])
            if consumer is not None:
                # JUSTID: resets the idle time without counting a delivery.
                await self.client.xclaim(self.stream, self.group, consumer, 0, entries, justid=True)

    async def trim(self) -> None:
        """Drop acknowledged history: entries older than both the oldest pending entry and
        the group's read position. A pending or unread entry is never trimmed."""
        self._next_trim = time.monotonic() + TRIM_EVERY_S
        # One MULTI, so pending and read position are one consistent snapshot.
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.xpending(self.stream, self.group)
            pipe.xinfo_groups(self.stream)
            pending, groups = await pipe.execute()
        group = next((g for g in groups if g["name"].decode() == self.group), None)
        if group is None:
            return
        last = group["last-delivered-id"].decode()
        if last == "0-0":
            return
        keep_from = codec.next_id(last)
        if pending["pending"]:
            keep_from = min(keep_from, pending["min"].decode(), key=codec.id_key)
        await self.client.xtrim(self.stream, minid=keep_from, approximate=True)

    async def fail(self, deliveries: Sequence[Delivery], reason: str) -> None:
        """Dead-letter the deliveries out of tries; queue the others again at once, in entries
        of their own that carry their deliveries so far."""
        if not deliveries:
            return
        doomed = [
            (d.id, codec.dumps(d.post), reason, d.deliveries)
            for d in deliveries
            if d.deliveries >= self.max_deliveries
        ]
        again = [d for d in deliveries if d.deliveries < self.max_deliveries]
        with self.redis.errors(PART):
            await self._settle(doomed=doomed, again=again, finished=self._resolve(deliveries))

    async def _owner(self, entry_id: str) -> str | None:
        rows = await self.client.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return rows[0]["consumer"].decode() if rows else None

    async def backlog(self) -> int:
        """Posts accepted and not yet acknowledged: the counter, less the posts this consumer
        resolved in entries it has not finished."""
        with self.redis.errors(PART):
            return self._unresolved(await self.client.get(self.counter))

    def _unresolved(self, counted: bytes | None) -> int:
        return max(0, int(counted or 0) - sum(len(e.resolved) for e in self._open.values()))


def _unparsed(response: Any, **_options: Any) -> Any:
    return response
