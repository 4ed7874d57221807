"""The batch event a worker publishes after each commit: counts by label, source, topic and
minute, and a few sample posts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from sentiflow.events.base import BatchEvent, Sample
from sentiflow.models import Analysis, PostIn


def batch_event(
    fresh: Sequence[tuple[PostIn, Analysis]],
    *,
    committed_at: float,
    samples: int = 5,
    minute_sums: Mapping[tuple[int, str, str, str, str], Sequence[float]] | None = None,
) -> BatchEvent:
    """The summary of one committed batch; `fresh` holds only the newly stored posts.
    `minute_sums`, the store's minute rollup increments of the same posts (`Written.sums`),
    spares a pass over them."""
    groups: Counter[tuple[str, str | None, int, str, str]]
    if minute_sums is not None:
        groups = Counter(
            {
                (source, topic or None, minute, s, e): int(sums[0])
                for (minute, source, topic, s, e), sums in minute_sums.items()
            }
        )
    else:
        # One pass over the posts builds the groups; every other figure comes from the
        # groups, which are few (a batch spans few minutes, sources and topics).
        groups = Counter(
            (p.source, p.topic, int(p.created_at.timestamp() // 60), a.sentiment, a.emotion)
            for p, a in fresh
        )
    sentiment: Counter[str] = Counter()
    emotion: Counter[str] = Counter()
    for (_, _, _, s, e), n in groups.items():
        sentiment[s] += n
        emotion[e] += n
    return {
        "type": "batch",
        "committed_at": committed_at,
        "count": len(fresh),
        "sentiment": dict(sentiment),
        "emotion": dict(emotion),
        "sources": sorted({key[0] for key in groups}),
        "topics": sorted({key[1] for key in groups if key[1]}),
        "buckets": sorted({key[2] for key in groups}),
        "groups": [[*key, n] for key, n in groups.items()],
        "samples": [_sample(p, a) for p, a in fresh[-samples:]],
    }


def _sample(p: PostIn, a: Analysis) -> Sample:
    return {
        "id": p.id,
        "source": p.source,
        "topic": p.topic,
        "lang": p.lang or a.lang,
        "text": p.text[:280],
        "created_at": p.created_at.isoformat(),
        "sentiment": a.sentiment,
        "sentiment_confidence": a.sentiment_confidence,
        "emotion": a.emotion,
        "emotion_confidence": a.emotion_confidence,
    }
