"""`Analytics`: what the API's analytics routes call. Stats queries go through the cache with
single-flight; keyword trends over long windows run as background jobs. `follow_batches`
invalidates the cached answers each batch event touches.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import orjson
import structlog

from sentiflow.analytics import trends
from sentiflow.analytics.cache import Cache, Change, Scope, cache_key
from sentiflow.analytics.flight import Flight, FlightPlan, single_flight
from sentiflow.errors import NotFound, Unavailable, ValidationFailed
from sentiflow.events import Event, EventBus
from sentiflow.keys import Keys
from sentiflow.locks import Locks
from sentiflow.models import Alert, PostOut
from sentiflow.settings import CacheSettings
from sentiflow.store import alerts as alert_store
from sentiflow.store import post_stats, stats
from sentiflow.store import trends as trend_store
from sentiflow.store import urgent as urgent_store
from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS, minute_bucket
from sentiflow.store.urgency import urgency

log = structlog.get_logger("sentiflow.analytics")

# Points a timeseries shows when `since` is not given, and the most it may show.
DEFAULT_POINTS: Final[dict[str, int]] = {"minute": 60, "hour": 48, "day": 30}
MAX_POINTS: Final = 2_000
JOB_TTL_S: Final = 3600.0
JOB_LEASE_S: Final = 900.0


def _at(minute: int) -> datetime:
    return stats.minute_start(minute)


async def invalidate(cache: Cache, event: Event) -> int:
    """Drop the cached answers a batch event touches; other events touch none."""
    if event["type"] != "batch" or not event["count"]:
        return 0
    return await cache.invalidate(Change.from_event(event))


async def follow_batches(cache: Cache, events: EventBus, stop: asyncio.Event) -> None:
    """Invalidate cached answers as batch events arrive, until `stop` is set."""
    subscription = events.subscribe(maxsize=1000)
    try:
        while not stop.is_set():
            try:
                event = await asyncio.wait_for(subscription.queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            try:
                await invalidate(cache, event)
                if subscription.dropped:
                    # Events were lost, so what they would have invalidated is unknown.
                    subscription.dropped = 0
                    await cache.invalidate(Change.unknown())
            except Unavailable as exc:
                log.warning("cache.invalidate_failed", error=exc.message)
    finally:
        events.unsubscribe(subscription)


class Analytics:
    def __init__(
        self, store: Store, cache: Cache, locks: Locks, keys: Keys, settings: CacheSettings
    ) -> None:
        self.store = store
        self.cache = cache
        self.locks = locks
        self.keys = keys
        self.settings = settings
        self.flight = Flight()
        # Computations actually run, per query name: what single-flight saves is visible here.
        self.computations: Counter[str] = Counter()
        self._jobs: set[asyncio.Task[None]] = set()

    # Stats over the rollups, cached.

    def _normal(self, f: stats.RollupFilter) -> stats.RollupFilter:
        """The filter at the rollups' resolution (whole minutes), so equal questions share a key."""
        if f.since and f.until and f.until <= f.since:
            raise ValidationFailed("until must be later than since", field="until")
        lo, hi = f.minutes
        return stats.RollupFilter(
            source=f.source or None,
            topic=f.topic,
            since=_at(lo) if f.since else None,
            until=_at(hi) if f.until else None,
            lang=f.lang,
        )

    async def _cached(
        self,
        name: str,
        f: stats.RollupFilter,
        params: list[tuple[str, Any]],
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> bytes:
        lo, hi = f.minutes
        key = cache_key(
            name,
            [
                ("source", f.source),
                ("topic", f.topic),
                ("lo", lo),
                ("hi", hi),
                ("lang", f.lang),
                *params,
            ],
        )

        async def counted() -> dict[str, Any]:
            self.computations[name] += 1
            return await compute()

        return await single_flight(
            self.cache,
            self.locks,
            self._plan(key, Scope(f.source, f.topic, lo, hi)),
            counted,
            stats=self.flight,
        )

    def _plan(self, key: str, scope: Scope | None) -> FlightPlan:
        return FlightPlan(
            key=key,
            lock=self.keys.lock(f"flight:{key}"),
            scope=scope,
            ttl=self.settings.ttl_s,
            lock_ttl=self.settings.lock_ttl_s,
        )

    async def summary(self, f: stats.RollupFilter) -> bytes:
        f = self._normal(f)
        # Rollups have no language: a filter by it is counted from the posts.
        source = stats if f.lang is None else post_stats
        return await self._cached("summary", f, [], lambda: source.summary(self.store, f))

    async def distribution(self, f: stats.RollupFilter, *, by: stats.Dimension) -> bytes:
        f = self._normal(f)
        source = stats if f.lang is None else post_stats
        return await self._cached(
            "distribution", f, [("by", by)], lambda: source.distribution(self.store, f, by=by)
        )

    async def timeseries(
        self,
        f: stats.RollupFilter,
        *,
        bucket: stats.Grain,
        by: Literal["sentiment", "emotion"],
        now: datetime | None = None,
    ) -> bytes:
        size = GRAINS[bucket][1]
        # Without an end, the series runs to the end of the current bucket.
        hi = (
            minute_bucket(f.until)
            if f.until
            else (minute_bucket(now or datetime.now(UTC)) // size + 1) * size
        )
        lo = minute_bucket(f.since) if f.since else hi - DEFAULT_POINTS[bucket] * size
        points = -(-hi // size) - lo // size
        if points > MAX_POINTS:
            raise ValidationFailed(
                f"that range holds {points:,} {bucket} buckets (at most {MAX_POINTS:,}); "
                "narrow since/until or use a coarser bucket",
                field="since",
            )
        f = self._normal(stats.RollupFilter(f.source, f.topic, _at(lo), _at(hi), f.lang))
        source = stats if f.lang is None else post_stats
        return await self._cached(
            "timeseries",
            f,
            [("bucket", bucket), ("by", by)],
            lambda: source.timeseries(self.store, f, bucket=bucket, by=by),
        )

    # Keyword trends: cached, and run in the background over long windows.

    async def keywords(
        self, window: str, *, source: str | None = None, topic: str | None = None
    ) -> tuple[Literal["done", "pending"], bytes | str]:
        """("done", JSON) when the answer is at hand, else ("pending", job id) to poll."""
        span = trends.parse_window(window)
        seconds = int(span.total_seconds())
        key = cache_key("trends", [("window", seconds), ("source", source), ("topic", topic)])
        label = window.strip().lower()

        async def compute() -> dict[str, Any]:
            self.computations["trends"] += 1
            return await self._trends(label, span, source=source, topic=topic)

        if seconds <= self.settings.trends_sync_max_s:
            raw = await single_flight(
                self.cache, self.locks, self._plan(key, None), compute, stats=self.flight
            )
            return "done", raw
        if (hit := await self.cache.get(key)) is not None:
            return "done", hit
        # A long window's answer moves slowly: keep it for 1/24 of the window (24h → 1h).
        ttl = max(self.settings.ttl_s, seconds / 24)
        return "pending", await self._job_for(key, compute, ttl)

    async def _job_for(
        self, key: str, compute: Callable[[], Awaitable[dict[str, Any]]], ttl: float
    ) -> str:
        """The id of the job computing `key`, starting one unless a process already has."""
        deadline = asyncio.get_running_loop().time() + 2.0
        token = secrets.token_hex(16)
        while True:
            if (running := await self.cache.get(f"jobfor:{key}")) is not None:
                return running.decode()
            if await self.locks.acquire(self.keys.lock(f"job:{key}"), token, JOB_LEASE_S):
                break
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable(
                    "a keyword-trends job is being started elsewhere; retry in a moment",
                    part="cache",
                )
            await asyncio.sleep(0.02)
        job_id = secrets.token_urlsafe(12)
        await self.cache.set(f"job:{job_id}", orjson.dumps({"status": "pending"}), ttl=JOB_TTL_S)
        await self.cache.set(f"jobfor:{key}", job_id.encode(), ttl=JOB_LEASE_S)
        task = asyncio.create_task(self._run_job(job_id, key, token, compute, ttl))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return job_id

    async def _run_job(
        self,
        job_id: str,
        key: str,
        token: str,
        compute: Callable[[], Awaitable[dict[str, Any]]],
        ttl: float,
    ) -> None:
        try:
            result = await compute()
            await self.cache.set(key, orjson.dumps(result), ttl=ttl)
            record: dict[str, Any] = {"status": "done", "result": result}
        except Exception as exc:
            log.exception("job.failed", job=job_id, error=repr(exc))
            record = {"status": "failed", "result": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            await self.cache.set(f"job:{job_id}", orjson.dumps(record), ttl=JOB_TTL_S)
            await self.cache.delete(f"jobfor:{key}")
        finally:
            await self.locks.release(self.keys.lock(f"job:{key}"), token)

    async def job(self, job_id: str) -> dict[str, Any]:
        raw = await self.cache.get(f"job:{job_id}")
        if raw is None:
            raise NotFound(
                f"no job {job_id!r}; job ids come from a 202 answer and live for an hour",
                field="id",
            )
        record: dict[str, Any] = orjson.loads(raw)
        record.setdefault("result", None)
        return record

    async def _trends(
        self,
        label: str,
        span: timedelta,
        *,
        source: str | None,
        topic: str | None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        end = now or datetime.now(UTC)
        windows: list[dict[str, Counter[trends.Term]]] = []
        for until in (end, end - span):
            counters: dict[str, Counter[trends.Term]] = {
                "negative": Counter(),
                "positive": Counter(),
            }
            async for chunk in trend_store.texts(
                self.store, since=until - span, until=until, source=source, topic=topic
            ):
                # Tokenising is CPU work: off the event loop, so other requests keep flowing.
                await asyncio.to_thread(trends.count, chunk, counters)
            windows.append(counters)
        current, previous = windows
        top = self.settings.trends_top
        return {
            "window": label,
            "negative": trends.ranked(current["negative"], previous["negative"], top),
            "positive": trends.ranked(current["positive"], previous["positive"], top),
        }

    # Urgent posts and alerts: index reads, not cached.

    async def urgent(self, f: stats.RollupFilter, *, limit: int) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        found = await urgent_store.urgent(self.store, f, limit=limit)
        return [
            {
                **u.post.model_dump(mode="json"),
                "urgency": round(urgency(u.rank_key, now), 6),
                "count": u.count,
            }
            for u in found
        ]

    async def handled(self, post_id: str) -> PostOut:
        post = await urgent_store.mark_handled(self.store, post_id)
        if post is None:
            raise NotFound(
                f"no post with id {post_id!r}; ids come from POST /api/posts", field="id"
            )
        return post

    async def alerts(self, f: stats.RollupFilter, *, limit: int) -> list[Alert]:
        return await alert_store.list_alerts(self.store, f, limit=limit)

    async def close(self) -> None:
        for task in list(self._jobs):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
