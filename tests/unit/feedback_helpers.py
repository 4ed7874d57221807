"""Helpers of the feedback tests: seed analysed posts with chosen labels and probabilities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentiflow.models import Analysis, PostIn
from sentiflow.store.db import Store
from sentiflow.store.write import save_batch


def analysis(
    sentiment: str,
    probs: tuple[float, float, float],
    *,
    emotion: str = "neutral",
    version: str = "test-model-1",
) -> Analysis:
    neg, neu, pos = probs
    return Analysis(
        sentiment=sentiment,  # type: ignore[arg-type]
        sentiment_confidence=max(probs),
        sentiment_probs={"negative": neg, "neutral": neu, "positive": pos},
        polarity=pos - neg,
        emotion=emotion,  # type: ignore[arg-type]
        emotion_confidence=0.5,
        emotion_probs={"neutral": 0.5, "joy": 0.5},
        model_version=version,
    )


async def seed(
    store: Store, rows: list[tuple[str, Analysis]], *, source: str = "seed", topic: str = "t"
) -> list[str]:
    """Store posts with these texts and analyses, one minute apart; returns their ids."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [
        PostIn(
            source=source,
            external_id=f"{source}-{i}",
            text=text,
            topic=topic,
            created_at=start + timedelta(minutes=i),
        )
        for i, (text, _) in enumerate(rows)
    ]
    await save_batch(store, posts, [a for _, a in rows])
    return [p.id for p in posts]
