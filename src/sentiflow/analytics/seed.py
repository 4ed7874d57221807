"""Synthetic posts for benches and demos: realistic texts, analyses that agree with them,
and rollups, spread over `days` days and several sources, written in bulk (store/seed.py)."""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from sentiflow.models import post_id
from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS
from sentiflow.store.seed import BulkWriter, Chunk, Table
from sentiflow.store.urgency import HALF_LIFE_HOURS, LOUD_EMOTIONS, LOUD_WEIGHT

SOURCES: Final = ("twitter", "reddit", "appstore", "trustpilot", "support")
TOPICS: Final = ("billing", "delivery", "app", "support", "pricing", "outage", "login", "refund")
MODEL_VERSION: Final = "seed-1"
SENTIMENT_WEIGHTS: Final = {"negative": 0.32, "neutral": 0.33, "positive": 0.35}
EMOTIONS_OF: Final[dict[str, tuple[tuple[str, ...], tuple[float, ...]]]] = {
    "negative": (
        ("anger", "sadness", "disgust", "fear", "surprise"),
        (0.4, 0.25, 0.15, 0.15, 0.05),
    ),
    "neutral": (("neutral", "surprise", "joy"), (0.8, 0.15, 0.05)),
    "positive": (("joy", "surprise", "neutral"), (0.8, 0.1, 0.1)),
}
_WORDS: Final = {
    "negative": (
        "terrible service, still waiting on my {t}",
        "the {t} is broken again and nobody answers",
        "charged twice, worst {t} experience ever",
        "so frustrated with the {t}, cancelling",
        "{t} has been down for hours, unacceptable",
        "I am worried the {t} lost my data",
    ),
    "neutral": (
        "does anyone know how the {t} works now",
        "changed my {t} settings today",
        "the {t} update arrived this morning",
        "question about the {t} page",
    ),
    "positive": (
        "love the new {t}, works perfectly",
        "great {t} support, thank you",
        "the {t} is fast and easy now",
        "really happy with the {t} team",
    ),
}
_TAGS: Final = ("#fail", "#help", "#love", "#update", "#refund", "#outage", "#thanks", "")
_MENTIONS: Final = ("@acme", "@acmesupport", "@acmehelp", "")


SENTIMENTS: Final = tuple(SENTIMENT_WEIGHTS)
EMOTION_NAMES: Final = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
_LOUD: Final = np.array([e in LOUD_EMOTIONS for e in EMOTION_NAMES])
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_US: Final = 60_000_000
_TOPIC_KEYS: Final = (*TOPICS, "")
# A rollup cell inside its bucket is ((source · topics + topic) · 3 + sentiment) · 7 + emotion.
_PER_SOURCE: Final = len(_TOPIC_KEYS) * len(SENTIMENTS) * len(EMOTION_NAMES)


def _labels(names: Sequence[str | None]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Names as an object array, so a column of codes becomes a list of str in one step."""
    out = np.empty(len(names), dtype=object)
    out[:] = list(names)
    return out


def _texts() -> list[str]:
    """Every text the templates make: sentiment, template, topic, tag and mention in turn."""
    return [
        f"{template.format(t=topic or 'app')} {tag} {mention}".strip().replace("  ", " ")
        for sentiment in SENTIMENTS
        for template in _WORDS[sentiment]
        for topic in (*TOPICS, None)
        for tag in _TAGS
        for mention in _MENTIONS
    ]


_TEXTS: Final = _labels(_texts())
_TOPIC_LABELS: Final = _labels(_TOPIC_KEYS)
_POST_TOPICS: Final = _labels([*TOPICS, None])
_SENTIMENT_LABELS: Final = _labels(SENTIMENTS)
_EMOTION_LABELS: Final = _labels(EMOTION_NAMES)
# The text of every number with four decimals in [0, 1]: a JSON probability is then a
# lookup, not a float repr (the values are rounded to four decimals).
_DECIMAL_TEXT: Final = _labels([repr(k / 10_000) for k in range(10_001)])


def _decimals(values: np.ndarray[Any, Any]) -> list[str]:
    return _DECIMAL_TEXT[np.rint(values * 10_000).astype(np.int64)].tolist()  # type: ignore[no-any-return]


_PER_TOPIC: Final = len(_TAGS) * len(_MENTIONS)
_PER_TEMPLATE: Final = len(_TOPIC_KEYS) * _PER_TOPIC
# Where each sentiment's templates start in _TEXTS, and how many it has.
_FIRST_TEXT: Final = np.cumsum([0] + [len(_WORDS[s]) * _PER_TEMPLATE for s in SENTIMENTS])[:-1]
_TEMPLATES: Final = np.array([len(_WORDS[s]) for s in SENTIMENTS])


class RollupCells:
    """The rollup cells of one grain over a seed written in time order.

    Every bucket but the newest is complete once a chunk is added, so its cells are handed
    out once, final; the newest bucket stays open for the next chunk to add to. Each cell is
    then written exactly once, and a load into empty tables needs no upsert.
    """

    def __init__(self, minutes: int, sources: Sequence[str]) -> None:
        self.bucket_us = minutes * _MINUTE_US
        self.per_bucket = len(sources) * _PER_SOURCE
        self.sources = _labels(sources)
        self.codes = np.empty(0, dtype=np.int64)
        self.sums = np.empty((0, 3))

    def add(
        self,
        at_us: np.ndarray[Any, Any],
        cell: np.ndarray[Any, Any],
        polarity: np.ndarray[Any, Any],
        confidence: np.ndarray[Any, Any],
    ) -> list[tuple[Any, ...]]:
        """Add posts (time, cell, polarity, confidence); returns the rows of closed buckets."""
        codes = np.concatenate([self.codes, at_us // self.bucket_us * self.per_bucket + cell])
        weights = np.concatenate(
            [self.sums, np.column_stack([np.ones(len(cell)), polarity, confidence])]
        )
        cells, inverse = np.unique(codes, return_inverse=True)
        sums = np.column_stack(
            [np.bincount(inverse, weights=weights[:, k], minlength=len(cells)) for k in range(3)]
        )
        newest = cells >= cells[-1] // self.per_bucket * self.per_bucket
        self.codes, self.sums = cells[newest], sums[newest]
        return self._rows(cells[~newest], sums[~newest])

    def close(self) -> list[tuple[Any, ...]]:
        """The rows of the bucket still open."""
        rows = self._rows(self.codes, self.sums)
        self.codes, self.sums = self.codes[:0], self.sums[:0]
        return rows

    def _rows(
        self, codes: np.ndarray[Any, Any], sums: np.ndarray[Any, Any]
    ) -> list[tuple[Any, ...]]:
        bucket, cell = np.divmod(codes, self.per_bucket)
        cell, emotion = np.divmod(cell, len(EMOTION_NAMES))
        cell, sentiment = np.divmod(cell, len(SENTIMENTS))
        source, topic = np.divmod(cell, len(_TOPIC_KEYS))
        return list(
            zip(
                bucket.tolist(),
                self.sources[source].tolist(),
                _TOPIC_LABELS[topic].tolist(),
                _SENTIMENT_LABELS[sentiment].tolist(),
                _EMOTION_LABELS[emotion].tolist(),
                sums[:, 0].astype(np.int64).tolist(),
                sums[:, 1].tolist(),
                sums[:, 2].tolist(),
                strict=True,
            )
        )


def make_chunk(
    rng: np.random.Generator,
    *,
    run: str,
    first: int,
    n: int,
    lo_us: int,
    hi_us: int,
    sources: Sequence[str],
    rollups: dict[str, RollupCells],
) -> Chunk:
    """`n` posts at whole microseconds in [lo_us, hi_us), in time order. numpy does the dice;
    Python builds only what has to be one object per row (ids, texts of JSON)."""
    at_us = np.sort(rng.integers(lo_us, hi_us, n))
    sentiment = rng.choice(3, n, p=list(SENTIMENT_WEIGHTS.values()))
    source = rng.integers(0, len(sources), n)
    topic = np.where(rng.random(n) < 0.85, rng.integers(0, len(TOPICS), n), len(TOPICS))
    confidence = np.round(0.5 + rng.random(n) * 0.5, 4)
    magnitude = np.round(0.05 + rng.random(n) * 0.95, 4)
    polarity = np.select(
        [sentiment == 0, sentiment == 2],
        [-magnitude, magnitude],
        np.round((magnitude - 0.5) / 10, 4),
    )
    emotion = np.zeros(n, dtype=np.int64)
    for index, name in enumerate(SENTIMENTS):
        mask = sentiment == index
        names, weights = EMOTIONS_OF[name]
        codes = np.array([EMOTION_NAMES.index(e) for e in names])
        emotion[mask] = codes[rng.choice(len(names), int(mask.sum()), p=weights)]
    emotion_conf = np.round(0.35 + rng.random(n) * 0.6, 4)
    followers = np.where(rng.random(n) < 0.6, (rng.pareto(1.2, n) * 20 + 20).astype(np.int64), -1)
    variant = rng.integers(0, len(_TAGS) * len(_MENTIONS), n)
    template = rng.integers(0, 1_000_000, n) % _TEMPLATES[sentiment]
    text = _FIRST_TEXT[sentiment] + template * _PER_TEMPLATE + topic * _PER_TOPIC + variant
    user = rng.integers(0, 200_000, n)
    # Urgency of negative posts, vectorised: the same formula as store/urgency.py.
    base = (
        np.maximum(confidence, 1e-6)
        * np.where(_LOUD[emotion], LOUD_WEIGHT, 1.0)
        * (1 + np.log10(1 + np.maximum(followers, 0)) / 3)
    )
    rank = np.log(base) + at_us / 3.6e9 * (math.log(2) / HALF_LIFE_HOURS)

    names = _labels(sources)[source].tolist()
    externals = [f"seed-{run}-{k}" for k in range(first, first + n)]
    ids = [post_id(src, ext) for src, ext in zip(names, externals, strict=True)]
    topics = _POST_TOPICS[topic].tolist()
    ingested_us = at_us + 1_000_000
    rest = np.round((1 - confidence) / 2, 4)
    neg, neu, pos = (_decimals(np.where(sentiment == k, confidence, rest)) for k in range(3))
    emotions = _EMOTION_LABELS[emotion].tolist()
    negative = np.flatnonzero(sentiment == 0)
    post_table = Table(
        {
            "id": ids,
            "source": names,
            "external_id": externals,
            "text": _TEXTS[text].tolist(),
            "author": [f"user{u}" for u in user.tolist()],
            "topic": topics,
            "meta": [f'{{"followers": {f}}}' if f >= 0 else "{}" for f in followers.tolist()],
        },
        {"created_at": at_us, "ingested_at": ingested_us},
    )
    analysis_table = Table(
        {
            "post_id": ids,
            "sentiment": _SENTIMENT_LABELS[sentiment].tolist(),
            "sentiment_confidence": confidence.tolist(),
            "sentiment_probs": [
                f'{{"negative": {a}, "neutral": {b}, "positive": {c}}}'
                for a, b, c in zip(neg, neu, pos, strict=True)
            ],
            "polarity": polarity.tolist(),
            "emotion": emotions,
            "emotion_confidence": emotion_conf.tolist(),
            "emotion_probs": [
                f'{{"{e}": {c}, "other": {o}}}'
                for e, c, o in zip(
                    emotions, _decimals(emotion_conf), _decimals(1 - emotion_conf), strict=True
                )
            ],
            "model_version": [MODEL_VERSION] * n,
        },
        {"analyzed_at": ingested_us},
    )
    urgent_table = Table(
        {
            "post_id": [ids[i] for i in negative.tolist()],
            "source": _labels(sources)[source[negative]].tolist(),
            "topic": _TOPIC_LABELS[topic[negative]].tolist(),
            "base": base[negative].tolist(),
            "rank_key": rank[negative].tolist(),
        },
        {"created_at": at_us[negative]},
    )
    cell = ((source * len(_TOPIC_KEYS) + topic) * len(SENTIMENTS) + sentiment) * len(
        EMOTION_NAMES
    ) + emotion
    return Chunk(
        {"posts": post_table, "analyses": analysis_table, "urgent_posts": urgent_table},
        {table: cells.add(at_us, cell, polarity, confidence) for table, cells in rollups.items()},
    )


def chunks(
    *,
    posts: int,
    start: datetime,
    end: datetime,
    sources: Sequence[str],
    chunk: int,
    seed_value: int | None,
) -> Iterator[Chunk]:
    """The seed's chunks in time order, each post density the same; the last one closes the
    rollup buckets still open."""
    rng = np.random.default_rng(seed_value)
    run = secrets.token_hex(4) if seed_value is None else f"s{seed_value}"
    lo = (start - _EPOCH) // timedelta(microseconds=1)
    span = (end - _EPOCH) // timedelta(microseconds=1) - lo
    rollups = {table.name: RollupCells(minutes, sources) for table, minutes in GRAINS.values()}
    for first in range(0, posts, chunk):
        n = min(chunk, posts - first)
        part = make_chunk(
            rng,
            run=run,
            first=first,
            n=n,
            lo_us=lo + span * first // posts,
            hi_us=lo + span * (first + n) // posts,
            sources=sources,
            rollups=rollups,
        )
        if first + n == posts:
            for table, cells in rollups.items():
                part.rollups[table].extend(cells.close())
        yield part


async def seed(
    store: Store,
    *,
    posts: int,
    days: float = 30.0,
    sources: Sequence[str] = SOURCES,
    chunk: int = 50_000,
    seed_value: int | None = None,
    progress: Callable[[int], None] | None = None,
    stage: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Write `posts` synthetic posts ending now; returns how many were written. `progress`
    hears of each chunk written, `stage` of the index builds that follow the last one.

    The next chunk is made in a thread while the database stores the last one, so the
    generator and the database work at the same time."""
    end = now or datetime.now(UTC)
    parts = chunks(
        posts=posts,
        start=end - timedelta(days=days),
        end=end,
        sources=list(sources),
        chunk=chunk,
        seed_value=seed_value,
    )
    written = 0
    async with BulkWriter.open(store) as writer:
        pending = asyncio.ensure_future(asyncio.to_thread(next, parts, None))
        try:
            while (part := await pending) is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(next, parts, None))
                await writer.write(part)
                written += part.posts
                if progress is not None:
                    progress(part.posts)
        finally:
            # A chunk still being made finishes before the writer closes.
            await asyncio.wait([pending])
        if stage is not None and writer.into_empty:
            stage("building indexes")
    return written
