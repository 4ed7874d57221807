"""Distributed mode's broker and event bus on Redis: a stream with one consumer group, reclaim of
a crashed worker's entries, a dead-letter stream, and batch events over pub/sub.

Every redis error is translated into `Unavailable(part="broker")` naming the URL, so the API
answers 503 and workers back off and retry until Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Final

import orjson
import structlog
from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sentiflow.errors import Backpressure, Unavailable
from sentiflow.events import Subscription
from sentiflow.keys import Keys, consumer_name
from sentiflow.metrics import metrics
from sentiflow.models import PostIn
from sentiflow.queue.base import DeadLetter, Delivery
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.queue")

FIELD: Final = b"p"
# How often one consumer looks for entries idle past the visibility timeout, and trims the
# acknowledged history. Both are cheap, but not per batch.
RECLAIM_EVERY_S: Final = 1.0
TRIM_EVERY_S: Final = 5.0


_FIELDS: Final = tuple(PostIn.model_fields)

# XADD of every payload in one command: atomic like MULTI/EXEC (a script runs alone), but one
# request and one reply instead of one per post, which is most of the producer's cost.
_XADD_ALL: Final = """
for i = 2, #ARGV do
    redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i])
end
return #ARGV - 1
"""


def encode(post: PostIn) -> bytes:
    """A validated post as stream payload: orjson of its fields (datetimes as ISO 8601)."""
    values = post.__dict__  # also holds cached properties (id), which are not sent
    return orjson.dumps({name: values[name] for name in _FIELDS})


def decode(payload: bytes) -> PostIn:
    """Trusted decode: the payload was validated at ingest, so no validators run again."""
    fields = orjson.loads(payload)
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    return PostIn.model_construct(**fields)


def accepted_at(entry_id: str) -> float:
    """A stream id starts with the milliseconds at which Redis accepted the entry."""
    return int(entry_id.split("-", 1)[0]) / 1000


def _next_id(entry_id: str) -> str:
    ms, seq = entry_id.split("-", 1)
    return f"{ms}-{int(seq) + 1}"


def describe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def connect(url: str) -> Any:
    """An asyncio client. Typed `Any`: the types-redis stubs predate redis 5's asyncio API."""
    # One immediate retry replaces a pooled connection that died with a restarted Redis; past
    # that, callers decide (workers back off, the API answers 503 at once).
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


class RedisBase:
    def __init__(self, url: str, keys: Keys) -> None:
        self.url = url
        self.keys = keys
        self.redis: Any = connect(url)

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Translate redis errors into `Unavailable` naming the URL and what to do."""
        try:
            yield
        except (rex.ConnectionError, rex.TimeoutError, rex.BusyLoadingError, OSError) as exc:
            raise Unavailable(
                f"Redis at {describe_url(self.url)} cannot be reached ({type(exc).__name__}: "
                f"{exc}); start Redis or fix SENTIFLOW_REDIS_URL",
                part="broker",
            ) from exc
        except rex.ResponseError as exc:
            if "READONLY" in str(exc) or "MASTERDOWN" in str(exc):
                raise Unavailable(
                    f"Redis at {describe_url(self.url)} refuses writes ({exc}); "
                    "point SENTIFLOW_REDIS_URL at the primary",
                    part="broker",
                ) from exc
            raise

    async def ping(self) -> None:
        async with self._guard():
            await self.redis.ping()


class RedisStreamsBroker(RedisBase):
    """The `Broker` on one Redis stream and one consumer group (see queue/base.py)."""

    def __init__(
        self,
        url: str,
        *,
        keys: Keys,
        max_backlog: int = 100_000,
        max_deliveries: int = 5,
        visibility_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(url, keys)
        self.stream = keys.posts_stream
        self.dead = keys.dead_letters
        self.group = keys.workers_group
        self.max_backlog = max_backlog
        self.max_deliveries = max_deliveries
        self.visibility_ms = int(visibility_timeout_s * 1000)
        self._claim_cursor = "0-0"
        self._consumers: set[str] = set()
        self._next_reclaim = 0.0
        self._next_trim = 0.0
        self._xadd_all = self.redis.register_script(_XADD_ALL)
        # The reply as Redis sends it: redis-py's own parsing builds a dict per entry, a
        # large share of a worker's cost per post; `_payloads` reads the one field directly.
        self.redis.set_response_callback("XREADGROUP", _unparsed)

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStreamsBroker:
        assert settings.redis_url is not None
        return cls(
            settings.redis_url,
            keys=Keys(settings.redis_prefix),
            max_backlog=settings.queue_max,
            max_deliveries=settings.max_deliveries,
            visibility_timeout_s=settings.visibility_timeout_s,
        )

    async def start(self) -> None:
        async with self._guard():
            await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            # From id 0, so posts queued before the first worker ever started are read too.
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("broker.group_created", stream=self.stream, group=self.group)
        except rex.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        await self.redis.aclose()

    async def publish(self, posts: Sequence[PostIn]) -> None:
        if not posts:
            return
        backlog = await self.backlog()
        if backlog + len(posts) > self.max_backlog:
            raise Backpressure(
                f"the queue holds {backlog:,} posts (limit {self.max_backlog:,}); "
                "retry after a moment, add workers, or raise SENTIFLOW_QUEUE_MAX",
                retry_after=1.0,
            )
        # One script: a request's posts are queued all together or not at all.
        async with self._guard():
            await self._xadd_all(keys=[self.stream], args=[FIELD, *map(encode, posts)])

    async def consume(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        async with self._guard():
            try:
                if consumer not in self._consumers:
                    # Redis lists a consumer only once something was delivered to it; say
                    # so at once, so XINFO CONSUMERS shows idle workers too.
                    await self.redis.xgroup_createconsumer(self.stream, self.group, consumer)
                    self._consumers.add(consumer)
                if time.monotonic() >= self._next_reclaim:
                    claimed = await self._reclaim(consumer, count)
                    if claimed:
                        return claimed
                reply = await self.redis.xreadgroup(
                    self.group, consumer, {self.stream: ">"}, count=count, block=block_ms or None
                )
            except rex.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The group vanished (Redis restarted without persistence, or was flushed).
                log.warning("broker.group_missing", stream=self.stream, group=self.group)
                await self._ensure_group()
                return []
            if not reply:
                return []
            # RESP3 (redis-py's default now) answers a map of stream → entries; RESP2 a list.
            entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            return await self._deliveries(consumer, _payloads(entries), deliveries=None)

    async def _reclaim(self, consumer: str, count: int) -> list[Delivery]:
        """Take over entries idle past the visibility timeout (a crashed or failing worker's)."""
        self._next_reclaim = time.monotonic() + RECLAIM_EVERY_S
        cursor, entries, *_ = await self.redis.xautoclaim(
            self.stream, self.group, consumer, self.visibility_ms, self._claim_cursor, count=count
        )
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor != "0-0":
            self._next_reclaim = 0.0  # more to scan
        entries = [(i, f.get(FIELD, b"")) for i, f in entries if f]
        if not entries:
            return []
        ids = [i.decode() for i, _ in entries]
        rows = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=_id_key),
            max=max(ids, key=_id_key),
            count=len(ids) * 2,
            consumername=consumer,
        )
        times = {r["message_id"].decode(): int(r["times_delivered"]) for r in rows}
        log.info("broker.reclaimed", consumer=consumer, n=len(ids))
        return await self._deliveries(consumer, entries, deliveries=times)

    async def _deliveries(
        self, consumer: str, entries: Sequence[Any], *, deliveries: dict[str, int] | None
    ) -> list[Delivery]:
        batch: list[Delivery] = []
        doomed: list[tuple[str, bytes, str, int]] = []
        for raw_id, payload in entries:
            entry_id = raw_id.decode()
            tries = 1 if deliveries is None else deliveries.get(entry_id, 1)
            if tries > self.max_deliveries:
                # Delivered that often without an ack or a fail: it keeps killing its worker.
                doomed.append((entry_id, payload, "delivered too often without an ack", tries))
                continue
            try:
                post = decode(payload)
            except (ValueError, TypeError, KeyError) as exc:
                doomed.append((entry_id, payload, f"undecodable entry: {exc!r}", tries))
                continue
            batch.append(Delivery(entry_id, post, tries, accepted_at(entry_id)))
        if doomed:
            await self._bury(doomed)
        return batch

    async def _bury(self, letters: Sequence[tuple[str, bytes, str, int]]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, payload, reason, tries in letters:
                pipe.xadd(
                    self.dead,
                    {b"id": entry_id, FIELD: payload, b"reason": reason, b"deliveries": tries},
                )
                pipe.xack(self.stream, self.group, entry_id)
            await pipe.execute()
        metrics().dead_lettered.labels(consumer_name()).inc(len(letters))
        for entry_id, _, reason, tries in letters:
            log.warning("post.dead_lettered", entry=entry_id, deliveries=tries, reason=reason)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self._guard():
            await self.redis.xack(self.stream, self.group, *[d.id for d in deliveries])
            if time.monotonic() >= self._next_trim:
                await self.trim()

    async def touch(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self._guard():
            consumer = await self._owner(deliveries[0].id)
            if consumer is not None:
                # JUSTID: resets the idle time without counting a delivery.
                await self.redis.xclaim(
                    self.stream, self.group, consumer, 0, [d.id for d in deliveries], justid=True
                )

    async def trim(self) -> None:
        """Drop acknowledged history: entries older than both the oldest pending entry and
        the group's read position. A pending or unread entry is never trimmed."""
        self._next_trim = time.monotonic() + TRIM_EVERY_S
        # One MULTI, so pending and read position are one consistent snapshot.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xpending(self.stream, self.group)
            pipe.xinfo_groups(self.stream)
            pending, groups = await pipe.execute()
        group = next((g for g in groups if g["name"].decode() == self.group), None)
        if group is None:
            return
        last = group["last-delivered-id"].decode()
        if last == "0-0":
            return
        keep_from = _next_id(last)
        if pending["pending"]:
            keep_from = min(keep_from, pending["min"].decode(), key=_id_key)
        await self.redis.xtrim(self.stream, minid=keep_from, approximate=True)

    async def fail(self, deliveries: Sequence[Delivery], reason: str) -> None:
        if not deliveries:
            return
        async with self._guard():
            doomed = [d for d in deliveries if d.deliveries >= self.max_deliveries]
            retry = [d for d in deliveries if d.deliveries < self.max_deliveries]
            if doomed:
                await self._bury([(d.id, encode(d.post), reason, d.deliveries) for d in doomed])
            if retry:
                # Mark them idle past the visibility timeout: the next reclaim, by any
                # consumer, takes them again (and counts one more delivery).
                consumer = (await self._owner(retry[0].id)) or "failed"
                await self.redis.xclaim(
                    self.stream,
                    self.group,
                    consumer,
                    0,
                    [d.id for d in retry],
                    idle=self.visibility_ms + 1,
                    justid=True,
                )
                self._next_reclaim = 0.0

    async def _owner(self, entry_id: str) -> str | None:
        rows = await self.redis.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return rows[0]["consumer"].decode() if rows else None

    async def backlog(self) -> int:
        """Pending (delivered, not acked) plus lag (not yet delivered)."""
        info = await self.queue_info()
        return info["pending"] + info["lag"]

    async def queue_info(self) -> dict[str, int]:
        """Stream length, group lag and pending count, and dead letters, for /metrics."""
        async with self._guard():
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xlen(self.stream)
                    pipe.xinfo_groups(self.stream)
                    pipe.xlen(self.dead)
                    length, groups, dead = await pipe.execute()
            except rex.ResponseError:
                # No stream yet: nothing queued.
                return {"length": 0, "lag": 0, "pending": 0, "dead": 0}
        group = next((g for g in groups if g["name"].decode() == self.group), None)
        if group is None:
            return {"length": length, "lag": length, "pending": 0, "dead": dead}
        lag = group.get("lag")
        # Redis cannot always tell the lag (after deletions inside the unread range); the
        # stream length is then a safe over-estimate.
        return {
            "length": length,
            "lag": length if lag is None else int(lag),
            "pending": int(group["pending"]),
            "dead": dead,
        }

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._guard():
            rows = await self.redis.xrange(self.dead, count=limit)
        letters = []
        for raw_id, fields in rows:
            try:
                post = decode(fields[FIELD])
            except (ValueError, TypeError, KeyError):
                post = PostIn.model_construct(source="?", text=repr(fields.get(FIELD, b""))[:200])
            letters.append(
                DeadLetter(
                    id=raw_id.decode(),
                    post=post,
                    reason=fields.get(b"reason", b"").decode(),
                    deliveries=int(fields.get(b"deliveries", b"0")),
                )
            )
        return letters

    async def replay_dead_letters(self, ids: Sequence[str] | None = None) -> int:
        replayed = 0
        async with self._guard():
            if ids is None:
                while rows := await self.redis.xrange(self.dead, count=1000):
                    replayed += await self._replay(rows)
            else:
                for dead_id in ids:
                    replayed += await self._replay(
                        await self.redis.xrange(self.dead, dead_id, dead_id)
                    )
        return replayed

    async def _replay(self, rows: Sequence[Any]) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            for raw_id, fields in rows:
                pipe.xadd(self.stream, {FIELD: fields[FIELD]})
                pipe.xdel(self.dead, raw_id)
            await pipe.execute()
        return len(rows)


def _unparsed(response: Any, **_options: Any) -> Any:
    return response


def _payloads(entries: Sequence[Any]) -> list[tuple[bytes, bytes]]:
    """(id, payload) of XREADGROUP's entries, each `[id, [field, value, ...]]`. Ours have the
    one field; an entry without it gets an empty payload (and is buried as undecodable)."""
    out = []
    for raw_id, fields in entries:
        fields = fields or []
        if fields[:1] == [FIELD]:
            out.append((raw_id, fields[1]))
        else:
            out.append((raw_id, dict(zip(fields[::2], fields[1::2], strict=False)).get(FIELD, b"")))
    return out


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-", 1)
    return int(ms), int(seq)


class RedisEventBus(RedisBase):
    """Batch events over Redis pub/sub, fanned out to this process's subscribers, so every
    API process sees every worker's batches. Publishing never fails the caller."""

    def __init__(self, url: str, keys: Keys) -> None:
        super().__init__(url, keys)
        self.channel = keys.events_channel
        self._subscribers: set[Subscription] = set()
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisEventBus:
        assert settings.redis_url is not None
        return cls(settings.redis_url, Keys(settings.redis_prefix))

    async def publish(self, event: dict[str, Any]) -> None:
        try:
            await self.redis.publish(self.channel, orjson.dumps(event))
        except (rex.RedisError, OSError) as exc:
            # Events refresh caches and live views; the data is already committed.
            log.warning("events.publish_failed", error=repr(exc))

    def subscribe(self, maxsize: int = 100) -> Subscription:
        subscription = Subscription(maxsize)
        self._subscribers.add(subscription)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def _listen(self) -> None:
        backoff = 0.1
        while self._subscribers:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    backoff = 0.1
                    while self._subscribers:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        event = orjson.loads(message["data"])
                        for subscription in list(self._subscribers):
                            subscription.offer(event)
            except (rex.RedisError, OSError) as exc:
                log.warning("events.listen_failed", error=repr(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        self._subscribers.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()
