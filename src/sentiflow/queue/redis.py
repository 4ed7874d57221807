"""Distributed mode's broker and event bus on Redis: a stream with one consumer group, reclaim of
a crashed worker's entries, a dead-letter stream, and batch events over pub/sub.

One stream entry carries the posts of one `publish` call (up to `ENTRY_POSTS`), so Redis, the
producer and the worker pay per request rather than per post; deliveries, acks and dead letters
stay per post (see `RedisStreamsBroker`). Every redis error is translated into
`Unavailable(part="broker")` naming the URL, so the API answers 503 and workers back off and
retry until Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
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

# An entry's fields: its posts (a JSON array of post objects; one object in an entry that an
# older sentiflow wrote) and, for posts queued again after a failure, their deliveries so far.
FIELD: Final = b"p"
TRIES: Final = b"d"
# Posts per entry: one ingest request's worth. A worker reads whole entries.
ENTRY_POSTS: Final = 1_000
# Entries per XREADGROUP while filling a batch: bounds how far a read can overshoot the batch
# when entry sizes change (the excess waits in the consumer for its next batch).
READ_ENTRIES: Final = 16
# How often one consumer looks for entries idle past the visibility timeout, and trims the
# acknowledged history. Both are cheap, but not per batch.
RECLAIM_EVERY_S: Final = 1.0
TRIM_EVERY_S: Final = 5.0

# Queue entries and count their posts in the backlog, all or none, refusing them (reply
# {0, backlog}) when the backlog would pass ARGV[1] (0: no limit, for posts queued again).
# ARGV after the limit: (posts, deliveries so far, payload) for each entry.
_PUBLISH: Final = """
local posts = 0
for i = 2, #ARGV, 3 do posts = posts + tonumber(ARGV[i]) end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
if limit > 0 and held + posts > limit then return {0, held} end
for i = 2, #ARGV, 3 do
    if ARGV[i + 1] == '0' then
        redis.call('XADD', KEYS[1], '*', 'p', ARGV[i + 2])
    else
        redis.call('XADD', KEYS[1], '*', 'p', ARGV[i + 2], 'd', ARGV[i + 1])
    end
end
return {1, redis.call('INCRBY', KEYS[2], posts)}
"""

# Acknowledge finished entries, ARGV = group, then (entry id, posts) pairs, and take their posts
# off the backlog: only for an entry this call acknowledged, so an entry two consumers finish
# (after a reclaim) counts once. Never below zero: entries written by hand or by an older
# sentiflow were never counted.
_FINISH: Final = """
local done = 0
for i = 2, #ARGV, 2 do
    if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
        done = done + tonumber(ARGV[i + 1])
    end
end
if done > 0 and redis.call('DECRBY', KEYS[2], done) < 0 then
    redis.call('SET', KEYS[2], 0)
end
return done
"""


def decode(payload: bytes) -> list[PostIn]:
    """Trusted decode of an entry's posts (each `PostIn.payload()`): they were validated at
    ingest, so no validator runs again."""
    data = orjson.loads(payload)
    posts = []
    for fields in [data] if isinstance(data, dict) else data:
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        posts.append(PostIn.trusted(fields))
    return posts


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


@dataclass(slots=True)
class _Entry:
    """An entry in this consumer's hands: how many posts it has, and which are resolved
    (committed, dead-lettered or queued again). It is acknowledged when all are."""

    size: int
    resolved: set[int] = field(default_factory=set)


class RedisStreamsBroker(RedisBase):
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
        self.counter = keys.queued_posts
        self.max_backlog = max_backlog
        self.max_deliveries = max_deliveries
        self.visibility_ms = int(visibility_timeout_s * 1000)
        self._claim_cursor = "0-0"
        self._consumers: set[str] = set()
        self._next_reclaim = 0.0
        self._next_trim = 0.0
        self._publish = self.redis.register_script(_PUBLISH)
        self._finish = self.redis.register_script(_FINISH)
        # Deliveries read past the last batch, and the entries in hand, by entry id.
        self._held: deque[Delivery] = deque()
        self._open: dict[str, _Entry] = {}
        # Posts per entry in the last read: how many entries the next read asks for.
        self._entry_posts = 1.0
        # The reply as Redis sends it: redis-py's own parsing builds a dict per entry.
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
        # One script: a request's posts are queued all together or not at all.
        async with self._guard():
            queued, held = await self._queue(_entries(posts, 0), limit=self.max_backlog)
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
        async with self._guard():
            try:
                if consumer not in self._consumers:
                    # Redis lists a consumer only once something was delivered to it; say
                    # so at once, so XINFO CONSUMERS shows idle workers too.
                    await self.redis.xgroup_createconsumer(self.stream, self.group, consumer)
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
            reply = await self.redis.xreadgroup(
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
        cursor, entries, *_ = await self.redis.xautoclaim(
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
        rows = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=_id_key),
            max=max(ids, key=_id_key),
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
            payload, before = _fields(fields)
            tries = before + (1 if deliveries is None else deliveries.get(entry_id, 1))
            try:
                posts = decode(payload)
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
                    (f"{entry_id}/{i}", _dumps(p), reason, tries) for i, p in enumerate(posts)
                ]
                finished.append((entry_id, len(posts)))
                continue
            self._open[entry_id] = _Entry(len(posts))
            at = accepted_at(entry_id)
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
        async with self.redis.pipeline(transaction=True) as pipe:
            for letter_id, payload, reason, tries in doomed:
                pipe.xadd(
                    self.dead,
                    {b"id": letter_id, FIELD: payload, b"reason": reason, b"deliveries": tries},
                )
            by_tries: dict[int, list[PostIn]] = {}
            for d in again:
                by_tries.setdefault(d.deliveries, []).append(d.post)
            if by_tries:
                args = [a for tries, posts in by_tries.items() for a in _entries(posts, tries)]
                await self._queue(args, client=pipe)
            if finished:
                await self._acknowledge(finished, client=pipe)
            await pipe.execute()
        if doomed:
            metrics().dead_lettered.labels(consumer_name()).inc(len(doomed))
        for letter_id, _, reason, tries in doomed:
            log.warning("post.dead_lettered", entry=letter_id, deliveries=tries, reason=reason)

    async def _queue(self, args: Sequence[Any], *, limit: int = 0, client: Any = None) -> Any:
        """`_PUBLISH` with `_entries` arguments: add the entries and count their posts, within
        `limit` (0: none, for posts accepted already); through `client`, a pipeline, if given."""
        keys = [self.stream, self.counter]
        return await self._publish(keys=keys, args=[limit, *args], client=client)

    async def _acknowledge(
        self, finished: Sequence[tuple[str, int]], *, client: Any = None
    ) -> None:
        """`_FINISH`: acknowledge entries, (id, posts) each, and take their posts off the count."""
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
        async with self._guard():
            await self._acknowledge(finished)
            if time.monotonic() >= self._next_trim:
                await self.trim()

    async def touch(self, deliveries: Sequence[Delivery]) -> None:
        entries = list(dict.fromkeys(d.id.rpartition("/")[0] for d in deliveries))
        if not entries:
            return
        async with self._guard():
            consumer = await self._owner(entries[0])
            if consumer is not None:
                # JUSTID: resets the idle time without counting a delivery.
                await self.redis.xclaim(self.stream, self.group, consumer, 0, entries, justid=True)

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
        """Dead-letter the deliveries out of tries; queue the others again at once, in entries
        of their own that carry their deliveries so far."""
        if not deliveries:
            return
        doomed = [
            (d.id, _dumps(d.post), reason, d.deliveries)
            for d in deliveries
            if d.deliveries >= self.max_deliveries
        ]
        again = [d for d in deliveries if d.deliveries < self.max_deliveries]
        async with self._guard():
            await self._settle(doomed=doomed, again=again, finished=self._resolve(deliveries))

    async def _owner(self, entry_id: str) -> str | None:
        rows = await self.redis.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return rows[0]["consumer"].decode() if rows else None

    async def backlog(self) -> int:
        """Posts accepted and not yet acknowledged: the counter, less the posts this consumer
        resolved in entries it has not finished."""
        async with self._guard():
            return self._unresolved(await self.redis.get(self.counter))

    def _unresolved(self, counted: bytes | None) -> int:
        return max(0, int(counted or 0) - sum(len(e.resolved) for e in self._open.values()))

    async def queue_info(self) -> dict[str, int]:
        """For /metrics: the stream's length, lag and pending count in entries, queued posts,
        and dead letters."""
        async with self._guard():
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xlen(self.stream)
                    pipe.xinfo_groups(self.stream)
                    pipe.xlen(self.dead)
                    pipe.get(self.counter)
                    length, groups, dead, counted = await pipe.execute()
            except rex.ResponseError:
                # No stream yet: nothing queued.
                return {"length": 0, "lag": 0, "pending": 0, "dead": 0, "backlog": 0}
        backlog = self._unresolved(counted)
        group = next((g for g in groups if g["name"].decode() == self.group), None)
        if group is None:
            return {"length": length, "lag": length, "pending": 0, "dead": dead, "backlog": backlog}
        lag = group.get("lag")
        # Redis cannot always tell the lag (after deletions inside the unread range); the
        # stream length is then a safe over-estimate.
        return {
            "length": length,
            "lag": length if lag is None else int(lag),
            "pending": int(group["pending"]),
            "dead": dead,
            "backlog": backlog,
        }

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self._guard():
            rows = await self.redis.xrange(self.dead, count=limit)
        letters = []
        for raw_id, fields in rows:
            try:
                [post] = decode(fields[FIELD])
            except (ValueError, TypeError, KeyError, AttributeError):
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
        """Queue dead letters again, each as an entry of its own, with no deliveries yet."""
        async with self.redis.pipeline(transaction=True) as pipe:
            await self._queue([a for _, fields in rows for a in (1, 0, fields[FIELD])], client=pipe)
            for raw_id, _ in rows:
                pipe.xdel(self.dead, raw_id)
            await pipe.execute()
        return len(rows)


def _dumps(post: PostIn) -> bytes:
    return orjson.dumps(post.payload())


def _entries(posts: Sequence[PostIn], tries: int) -> list[Any]:
    """`_PUBLISH` arguments for `posts`: (posts, deliveries so far, payload) per entry."""
    args: list[Any] = []
    for start in range(0, len(posts), ENTRY_POSTS):
        chunk = posts[start : start + ENTRY_POSTS]
        args += (len(chunk), tries, orjson.dumps([p.payload() for p in chunk]))
    return args


def _unparsed(response: Any, **_options: Any) -> Any:
    return response


def _fields(fields: Any) -> tuple[bytes, int]:
    """An entry's payload and deliveries so far, from XREADGROUP's flat [field, value, ...]
    list or XAUTOCLAIM's dict. No payload: an empty one (buried as undecodable)."""
    if isinstance(fields, dict):
        return fields.get(FIELD, b""), int(fields.get(TRIES, 0))
    fields = fields or []
    if len(fields) == 2 and fields[0] == FIELD:
        return fields[1], 0
    found = dict(zip(fields[::2], fields[1::2], strict=False))
    return found.get(FIELD, b""), int(found.get(TRIES, 0))


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
