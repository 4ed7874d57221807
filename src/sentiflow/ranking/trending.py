"""Trending keywords and entities per window, with their mean polarity, and the named entities
common across recent posts: what the scheduler's `signals` job computes from recent stored
posts and writes into the `SignalStore`."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import structlog

from sentiflow.ranking.base import Signals, Term
from sentiflow.ranking.signals.base import SignalStore
from sentiflow.ranking.terms import entities, terms
from sentiflow.settings import SignalSettings
from sentiflow.store.db import Store
from sentiflow.store.ranking import recent_posts

log = structlog.get_logger("sentiflow.ranking.signals")

# Posts read per window and per baseline: enough for a trend, bounded for a busy store. Both
# are the newest of their span, and expected counts scale by the posts read, so a cap on a
# busy store samples rather than skews.
MAX_POSTS = 20_000
MIN_COUNT = 3  # posts that must mention a term in the window before it can trend


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


def common_entities(
    posts: Iterable[tuple[str, datetime, float | None]],
    *,
    now: datetime,
    window_s: int,
    top: int,
) -> list[Term]:
    """The named entities (ranking/terms.py `entities`) mentioned by at least MIN_COUNT posts
    of the last `window_s`, most mentioned first; weight is the count over the top count."""
    start = now - timedelta(seconds=window_s)
    counts: dict[str, int] = defaultdict(int)
    polarity: dict[str, float] = defaultdict(float)
    for text, created_at, pol in posts:
        if start <= created_at < now:
            for name in entities(text):
                counts[name] += 1
                polarity[name] += pol or 0.0
    common = sorted(
        ((count, name) for name, count in counts.items() if count >= MIN_COUNT),
        key=lambda cn: (-cn[0], cn[1]),
    )[:top]
    best = common[0][0] if common else 1
    return [
        Term(
            term=name,
            kind="entity",
            weight=round(count / best, 4),
            count=count,
            polarity=round(polarity[name] / count, 4),
        )
        for count, name in common
    ]


async def refresh_signals(
    settings: SignalSettings, store: Store, signal_store: SignalStore
) -> Signals:
    """Recompute trending terms from recent stored posts and publish them: the scheduler's
    `signals` job, every `signals_interval_s` seconds, once across all workers. The common
    entities are those of the longest window."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    windows: dict[int, list[Term]] = {}
    read = 0
    longest: list[tuple[str, datetime, float | None]] = []
    longest_s = max(settings.windows_s, default=0)
    for window_s in settings.windows_s:
        start = now - timedelta(seconds=window_s)
        base_start = start - timedelta(seconds=window_s * settings.baseline)
        rows = await recent_posts(store, since=start, until=now, limit=MAX_POSTS)
        rows += await recent_posts(store, since=base_start, until=start, limit=MAX_POSTS)
        read += len(rows)
        # Tokenising thousands of posts is CPU work: keep it off the event loop.
        windows[window_s] = await asyncio.to_thread(
            trending_terms,
            rows,
            now=now,
            window_s=window_s,
            baseline=settings.baseline,
            top=settings.top,
        )
        if window_s == longest_s:
            longest = rows
    named = await asyncio.to_thread(
        common_entities, longest, now=now, window_s=longest_s, top=settings.top
    )
    signals = await signal_store.put(windows, now, named)
    log.info(
        "signals.refreshed",
        version=signals.version,
        posts=read,
        terms=sum(len(t) for t in windows.values()),
        entities=len(named),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return signals
