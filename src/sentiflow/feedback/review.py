"""The review queue: which analysed, uncorrected posts a reviewer sees next.

`uncertain`: smallest margin between the two most likely sentiments first (stored
probabilities). `disagreement`: among the 500 least certain, those where a second analyzer
(SENTIFLOW_REVIEW_SECOND_OPINION, default lexicon), run on the fly, names another sentiment;
posts the second analyzer itself labelled are skipped. `random`: a uniform sample.
Each post handed out is claimed for SENTIFLOW_REVIEW_CLAIM_S seconds, so concurrent
reviewers never get the same post.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.settings import Settings
from sentiflow.store import review as review_store
from sentiflow.store.db import Store
from sentiflow.store.sql import utc

Strategy = Literal["uncertain", "disagreement", "random"]
DISAGREEMENT_POOL: Final = 500
ROUNDS: Final = 8
# The second-opinion analyzers of this process, by name, each in a thread of its own.
_second: dict[str, AnalyzerPool] = {}


@dataclass(frozen=True, slots=True)
class ReviewItem:
    id: str
    text: str
    source: str
    topic: str | None
    created_at: datetime
    sentiment: str
    sentiment_confidence: float
    sentiment_probs: dict[str, float]
    margin: float
    emotion: str
    emotion_confidence: float
    model_version: str
    second_opinion: dict[str, Any] | None
    claim_expires_at: datetime


async def _second_opinion(settings: Settings) -> AnalyzerPool:
    name = settings.review_second_opinion
    if name not in _second:
        # Loading a model is CPU work too: off the event loop.
        _second[name] = await asyncio.to_thread(AnalyzerPool, settings, name=name, processes=0)
    return _second[name]


async def _disagreeing(settings: Settings, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    analyzer = await _second_opinion(settings)
    rows = [r for r in rows if r["model_version"] != analyzer.version]
    if not rows:
        return []
    opinions = await analyzer.analyze([r["text"] for r in rows])
    kept = []
    for row, other in zip(rows, opinions, strict=True):
        if other.sentiment != row["sentiment"]:
            row["second_opinion"] = {
                "sentiment": other.sentiment,
                "sentiment_confidence": other.sentiment_confidence,
                "emotion": other.emotion,
                "model_version": other.model_version,
            }
            kept.append(row)
    return kept


async def next_posts(
    settings: Settings, store: Store, *, strategy: Strategy, limit: int, reviewer: str
) -> list[ReviewItem]:
    """Up to `limit` posts for `reviewer`, each claimed for them alone."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=settings.review_claim_s)
    claim_id = secrets.token_hex(8)
    order: review_store.Order = "random" if strategy == "random" else "margin"
    got: list[dict[str, Any]] = []
    seen: list[str] = []
    for _ in range(ROUNDS):
        want = limit - len(got)
        pool = DISAGREEMENT_POOL if strategy == "disagreement" else want * 2
        rows = await review_store.candidates(store, order=order, limit=pool, now=now, skip=seen)
        if not rows:
            break
        seen.extend(r["id"] for r in rows)
        if strategy == "disagreement":
            rows = await _disagreeing(settings, rows)
        rows = rows[:want]
        claimed = await review_store.claim(
            store,
            [r["id"] for r in rows],
            claim_id=claim_id,
            reviewer=reviewer,
            expires_at=expires,
            now=now,
        )
        got.extend(r for r in rows if r["id"] in claimed)
        if len(got) >= limit:
            break
    return [
        ReviewItem(
            id=r["id"],
            text=r["text"],
            source=r["source"],
            topic=r["topic"],
            created_at=utc(r["created_at"]),
            sentiment=r["sentiment"],
            sentiment_confidence=r["sentiment_confidence"],
            sentiment_probs=r["sentiment_probs"],
            margin=round(float(r["margin"]), 6),
            emotion=r["emotion"],
            emotion_confidence=r["emotion_confidence"],
            model_version=r["model_version"],
            second_opinion=r.get("second_opinion"),
            claim_expires_at=expires,
        )
        for r in got
    ]
