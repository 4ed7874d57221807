"""Synthetic posts for benches and demos: realistic texts, analyses that agree with them,
and rollups, spread over `days` days and several sources, written in bulk (store/seed.py)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from sentiflow.analytics.urgency import HALF_LIFE_HOURS, LOUD_EMOTIONS, LOUD_WEIGHT
from sentiflow.models import post_id
from sentiflow.store.db import Store
from sentiflow.store.posts import GRAINS, RollupKey, coarsen
from sentiflow.store.seed import BulkWriter

SOURCES: Final = ("twitter", "reddit", "appstore", "trustpilot", "support")
TOPICS: Final = ("billing", "delivery", "app", "support", "pricing", "outage", "login", "refund")
MODEL_VERSION: Final = "seed-1"
_SECOND: Final = timedelta(seconds=1)
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


@dataclass(frozen=True, slots=True)
class Chunk:
    posts: list[tuple[Any, ...]]
    analyses: list[tuple[Any, ...]]
    urgent: list[tuple[Any, ...]]
    rollups: dict[str, dict[RollupKey, list[float]]]


SENTIMENTS: Final = tuple(SENTIMENT_WEIGHTS)
EMOTION_NAMES: Final = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
_LOUD: Final = np.array([e in LOUD_EMOTIONS for e in EMOTION_NAMES])


def _texts(sentiment: str) -> list[str]:
    """Every text a sentiment's templates make, indexed by a mixed-radix number."""
    return [
        f"{template.format(t=topic or 'app')} {tag} {mention}".strip().replace("  ", " ")
        for template in _WORDS[sentiment]
        for topic in (*TOPICS, None)
        for tag in _TAGS
        for mention in _MENTIONS
    ]


_TEXTS: Final = {s: _texts(s) for s in SENTIMENTS}


def make_chunk(
    rng: np.random.Generator,
    *,
    run: str,
    first: int,
    n: int,
    start: datetime,
    end: datetime,
    sources: Sequence[str],
) -> Chunk:
    """`n` posts with times spread over [start, end), in time order (numpy does the dice)."""
    epoch = start.timestamp() + np.sort(rng.random(n)) * (end - start).total_seconds()
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
    template = rng.integers(0, 1_000_000, n)
    # Urgency of negative posts, vectorised: the same formula as analytics/urgency.py.
    base = (
        np.maximum(confidence, 1e-6)
        * np.where(_LOUD[emotion], LOUD_WEIGHT, 1.0)
        * (1 + np.log10(1 + np.maximum(followers, 0)) / 3)
    )
    rank = np.log(base) + epoch / 3600 * (math.log(2) / HALF_LIFE_HOURS)
    user = rng.integers(0, 200_000, n)

    posts_rows: list[tuple[Any, ...]] = []
    analysis_rows: list[tuple[Any, ...]] = []
    urgent_rows: list[tuple[Any, ...]] = []
    per_topic = len(_TAGS) * len(_MENTIONS)
    # Plain lists: indexing them per row is far cheaper than indexing numpy arrays.
    columns = zip(
        range(n),
        sentiment.tolist(),
        source.tolist(),
        topic.tolist(),
        (template % 6).tolist(),
        variant.tolist(),
        epoch.tolist(),
        confidence.tolist(),
        np.round((1 - confidence) / 2, 4).tolist(),
        emotion.tolist(),
        emotion_conf.tolist(),
        np.round(1 - emotion_conf, 4).tolist(),
        followers.tolist(),
        polarity.tolist(),
        base.tolist(),
        rank.tolist(),
        user.tolist(),
        strict=True,
    )
    for i, si, so, t, tpl, var, ep, conf, rest, ei, econf, other, f, pol, b, rk, u in columns:
        s = SENTIMENTS[si]
        src = sources[so]
        topic_name = TOPICS[t] if t < len(TOPICS) else None
        at = (tpl % len(_WORDS[s])) * (len(TOPICS) + 1) * per_topic + t * per_topic + var
        text = _TEXTS[s][at]
        created = datetime.fromtimestamp(ep, UTC)
        ingested = created + _SECOND
        external = f"seed-{run}-{first + i}"
        pid = post_id(src, external)
        probs = [rest, rest, rest]
        probs[si] = conf
        emo = EMOTION_NAMES[ei]
        posts_rows.append(
            (pid, src, external, text, f"user{u}", created, None, topic_name,
             f'{{"followers": {f}}}' if f >= 0 else "{}", ingested, None)
        )  # fmt: skip
        analysis_rows.append(
            (pid, s, conf,
             f'{{"negative": {probs[0]}, "neutral": {probs[1]}, "positive": {probs[2]}}}',
             pol, emo, econf, f'{{"{emo}": {econf}, "other": {other}}}', MODEL_VERSION, ingested)
        )  # fmt: skip
        if s == "negative":
            urgent_rows.append((pid, src, topic_name or "", created, b, rk))
    # Minute rollups: one integer code per (minute, source, topic, sentiment, emotion) cell.
    minute = (epoch // 60).astype(np.int64)
    code = (((minute * len(sources) + source) * (len(TOPICS) + 1) + topic) * 3 + sentiment) * 7
    code = code + emotion
    cells, inverse = np.unique(code, return_inverse=True)
    counts = np.bincount(inverse)
    pol_sums = np.bincount(inverse, weights=polarity)
    conf_sums = np.bincount(inverse, weights=confidence)
    sums: dict[RollupKey, list[float]] = {}
    for cell, c, p, q in zip(
        cells.tolist(), counts.tolist(), pol_sums.tolist(), conf_sums.tolist(), strict=True
    ):
        cell, e = divmod(cell, 7)
        cell, se = divmod(cell, 3)
        cell, tp = divmod(cell, len(TOPICS) + 1)
        m, sr = divmod(cell, len(sources))
        topic_name = TOPICS[tp] if tp < len(TOPICS) else ""
        sums[(m, sources[sr], topic_name, SENTIMENTS[se], EMOTION_NAMES[e])] = [c, p, q]
    rollups = {grain: coarsen(sums, size) for grain, (_, size) in GRAINS.items()}
    return Chunk(posts_rows, analysis_rows, urgent_rows, rollups)


async def seed(
    store: Store,
    *,
    posts: int,
    days: float = 30.0,
    sources: Sequence[str] = SOURCES,
    chunk: int = 50_000,
    seed_value: int | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Write `posts` synthetic posts ending now; returns how many were written."""
    rng = np.random.default_rng(seed_value)
    run = secrets.token_hex(4) if seed_value is None else f"s{seed_value}"
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    step = (end - start) / max(1, -(-posts // chunk))
    async with BulkWriter.open(store) as writer:
        written = 0
        for index, first in enumerate(range(0, posts, chunk)):
            n = min(chunk, posts - first)
            part = make_chunk(
                rng,
                run=run,
                first=first,
                n=n,
                start=start + step * index,
                end=start + step * (index + 1),
                sources=list(sources),
            )
            await writer.write(part.posts, part.analyses, part.urgent, part.rollups)
            written += n
            if progress is not None:
                progress(n)
    return written
