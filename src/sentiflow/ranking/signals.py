"""Background signals: trending keywords and entities per window, with their mean polarity.

`refresh_signals(runtime)` reads recent posts from the store, finds the terms said more than
usual, and writes them with a version and timestamp into a `SignalStore` (Redis in distributed
mode, in process when embedded). The request path only ever reads the `SignalStore`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import structlog

from sentiflow.errors import Unavailable
from sentiflow.keys import Keys
from sentiflow.ranking.base import Signals, Term
from sentiflow.ranking.terms import terms
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.ranking import recent_posts

if TYPE_CHECKING:
    from sentiflow.runtime import Runtime

log = structlog.get_logger("sentiflow.ranking.signals")

# Posts read per window and per baseline: enough for a trend, bounded for a busy store. Both
# are the newest of their span, and expected counts scale by the posts read, so a cap on a
# busy store samples rather than skews.
MAX_POSTS = 20_000
MIN_COUNT = 3  # posts that must mention a term in the window before it can trend


class SignalStore(Protocol):
    async def get(self) -> Signals | None: ...

    async def put(self, windows: Mapping[int, Sequence[Term]], computed_at: datetime) -> Signals:
        """Store new signals under the next version and return them."""
        ...

    async def close(self) -> None: ...


def encode(signals: Signals) -> bytes:
    return orjson.dumps(
        {
            "version": signals.version,
            "computed_at": signals.computed_at.isoformat(),
            "windows": {
                str(w): [[t.term, t.kind, t.weight, t.count, t.polarity] for t in ts]
                for w, ts in signals.windows.items()
            },
        }
    )


def decode(raw: bytes) -> Signals:
    data: dict[str, Any] = orjson.loads(raw)
    return Signals(
        version=int(data["version"]),
        computed_at=datetime.fromisoformat(data["computed_at"]),
        windows={int(w): [Term(*t) for t in ts] for w, ts in data["windows"].items()},
    )


class MemorySignalStore:
    """Embedded mode: the signals live in this process."""

    def __init__(self) -> None:
        self._signals: Signals | None = None

    async def get(self) -> Signals | None:
        return self._signals

    async def put(self, windows: Mapping[int, Sequence[Term]], computed_at: datetime) -> Signals:
        version = self._signals.version + 1 if self._signals else 1
        self._signals = Signals(version=version, computed_at=computed_at, windows=dict(windows))
        return self._signals

    async def close(self) -> None:
        return None


class RedisSignalStore:
    """Distributed mode: one JSON value in Redis that every API process reads."""

    def __init__(self, url: str, keys: Keys) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._url = url
        self._keys = keys
        # Decoding costs more than a GET, so the last value is reused until Redis has a new one.
        self._last: tuple[bytes, Signals] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisSignalStore:
        assert settings.redis_url is not None
        return cls(settings.redis_url, Keys(settings.redis_prefix))

    async def get(self) -> Signals | None:
        raw = await self._call(self._redis.get(self._keys.signals))
        if raw is None:
            return None
        if self._last is None or self._last[0] != raw:
            self._last = (raw, decode(raw))
        return self._last[1]

    async def put(self, windows: Mapping[int, Sequence[Term]], computed_at: datetime) -> Signals:
        version = int(await self._call(self._redis.incr(self._keys.signals_version)))
        signals = Signals(version=version, computed_at=computed_at, windows=dict(windows))
        await self._call(self._redis.set(self._keys.signals, encode(signals)))
        return signals

    async def _call(self, awaitable: Any) -> Any:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            return await awaitable
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise Unavailable(
                f"Redis at {self._url} cannot be reached for ranking signals "
                f"({type(exc).__name__}); start it or unset SENTIFLOW_REDIS_URL",
                part="signals",
            ) from exc

    async def close(self) -> None:
        await self._redis.aclose()


def build_signal_store(settings: Settings) -> SignalStore:
    if settings.redis_url is None:
        return MemorySignalStore()
    return RedisSignalStore.from_settings(settings)


def trending_terms(
    posts: Iterable[tuple[str, datetime, float | None]],
    *,
    now: datetime,
    window_s: int,
    baseline: int,
    top: int,
) -> list[Term]:
    """Terms mentioned in more posts of the last `window_s` than their rate over the
    `baseline` windows before predicts, strongest first.

    Strength is (observed - expected) / sqrt(expected + 1): a Poisson-style surprise that
    favours terms both frequent and new. With no history every term is new and the most
    mentioned ones trend.
    """
    start = now - timedelta(seconds=window_s)
    base_start = start - timedelta(seconds=window_s * baseline)
    recent: dict[str, int] = defaultdict(int)
    usual: dict[str, int] = defaultdict(int)
    polarity: dict[str, float] = defaultdict(float)
    kinds: dict[str, str] = {}
    n_recent = n_usual = 0
    for text, created_at, pol in posts:
        if created_at >= now or created_at < base_start:
            continue
        found = terms(text)
        if created_at >= start:
            n_recent += 1
            for term in found:
                recent[term] += 1
                polarity[term] += pol or 0.0
        else:
            n_usual += 1
            for term in found:
                usual[term] += 1
    for term in recent:
        kinds[term] = "entity" if term[0] in "#@" or " " in term else "keyword"
    scale = n_recent / n_usual if n_usual else 0.0
    strengths: list[tuple[float, str]] = []
    for term, count in recent.items():
        if count < MIN_COUNT:
            continue
        expected = usual.get(term, 0) * scale
        strength = (count - expected) / math.sqrt(expected + 1)
        if strength > 1.0:
            strengths.append((strength, term))
    strengths.sort(key=lambda st: (-st[0], st[1]))
    best = strengths[0][0] if strengths else 1.0
    return [
        Term(
            term=term,
            kind=kinds[term],
            weight=round(strength / best, 4),
            count=recent[term],
            polarity=round(polarity[term] / recent[term], 4),
        )
        for strength, term in strengths[:top]
    ]


async def refresh_signals(runtime: Runtime) -> Signals:
    """Recompute trending terms from recent stored posts and publish them: the scheduler's
    `signals` job, every `signals_interval_s` seconds, once across all workers."""
    return await compute_signals(runtime.settings, runtime.store, runtime.signals)


async def compute_signals(settings: Settings, store: Store, signal_store: SignalStore) -> Signals:
    """`refresh_signals` for whatever holds a store and a signal store."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    windows: dict[int, list[Term]] = {}
    read = 0
    for window_s in settings.signals_windows_s:
        start = now - timedelta(seconds=window_s)
        base_start = start - timedelta(seconds=window_s * settings.signals_baseline)
        rows = await recent_posts(store, since=start, until=now, limit=MAX_POSTS)
        rows += await recent_posts(store, since=base_start, until=start, limit=MAX_POSTS)
        read += len(rows)
        # Tokenising thousands of posts is CPU work: keep it off the event loop.
        windows[window_s] = await asyncio.to_thread(
            trending_terms,
            rows,
            now=now,
            window_s=window_s,
            baseline=settings.signals_baseline,
            top=settings.signals_top,
        )
    signals = await signal_store.put(windows, now)
    log.info(
        "signals.refreshed",
        version=signals.version,
        posts=read,
        terms=sum(len(t) for t in windows.values()),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return signals
