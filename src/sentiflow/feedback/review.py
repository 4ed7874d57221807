"""The review queue: which analysed, uncorrected posts a reviewer sees next.

`uncertain`: smallest margin between the two most likely sentiments first (stored
probabilities). `disagreement`: among the 500 least certain, those where the label their file
brought (`sentiflow import --label-column`) or, without one, a second analyzer
(SENTIFLOW_REVIEW_SECOND_OPINION, default lexicon) run on the fly, names another sentiment;
posts the second analyzer itself labelled are skipped. `negative`: the newest posts the model
calls negative (what a team answering complaints checks first). `random`: a uniform sample.
Each post handed out is claimed for SENTIFLOW_REVIEW_CLAIM_S seconds, so concurrent
reviewers never get the same post. Near-duplicates come once: the first of a group found, with
the group's other open posts claimed alongside and counted.
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

Strategy = Literal["uncertain", "disagreement", "negative", "random"]
_ORDER: Final[dict[str, review_store.Order]] = {
    "uncertain": "margin",
    "disagreement": "margin",
    "negative": "newest_negative",
    "random": "random",
}
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
    group: str  # its near-duplicate group (GET /api/posts?group= lists it)
    count: int  # posts of that group claimed with it, itself included


async def _second_opinion(settings: Settings) -> AnalyzerPool:
    name = settings.review_second_opinion
    if name not in _second:
        # Loading a model is CPU work too: off the event loop.
        _second[name] = await asyncio.to_thread(AnalyzerPool, settings, name=name, processes=0)
    return _second[name]


async def _disagreeing(settings: Settings, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose file label, or else second analyzer, names another sentiment, each with
    that `second_opinion`. A label from the file is a person's, so it is asked first."""
    imported = [r for r in rows if r.get("import_sentiment")]
    kept = [_file_opinion(r) for r in imported if r["import_sentiment"] != r["sentiment"]]
    analyzer = await _second_opinion(settings)
    rest = [
        r for r in rows if not r.get("import_sentiment") and r["model_version"] != analyzer.version
    ]
    if rest:
        opinions = await analyzer.analyze([r["text"] for r in rest])
        for row, other in zip(rest, opinions, strict=True):
            if other.sentiment != row["sentiment"]:
                row["second_opinion"] = {
                    "sentiment": other.sentiment,
                    "sentiment_confidence": other.sentiment_confidence,
                    "emotion": other.emotion,
                    "model_version": other.model_version,
                }
                kept.append(row)
    # Keep the pool's order (least certain first) whichever opinion disagreed.
    order = {r["id"]: i for i, r in enumerate(rows)}
    return sorted(kept, key=lambda r: order[r["id"]])


def _file_opinion(row: dict[str, Any]) -> dict[str, Any]:
    row["second_opinion"] = {"sentiment": row["import_sentiment"], "source": row["import_source"]}
    return row


async def next_posts(
    settings: Settings, store: Store, *, strategy: Strategy, limit: int, reviewer: str
) -> list[ReviewItem]:
    """Up to `limit` posts for `reviewer`, each claimed for them alone. A group of
    near-duplicates comes once, with all its open posts claimed and counted."""
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=settings.review_claim_s)
    claim_id = secrets.token_hex(8)
    order = _ORDER[strategy]
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
        got.extend(
            await _claim_groups(
                store,
                _one_per_group(rows, got)[:want],
                claim_id=claim_id,
                reviewer=reviewer,
                expires=expires,
                now=now,
            )
        )
        if len(got) >= limit:
            break
    return [_item(r, expires) for r in got]


def _one_per_group(rows: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    taken = {r["group_key"] for r in got}
    out = []
    for row in rows:
        if row["group_key"] not in taken:
            taken.add(row["group_key"])
            out.append(row)
    return out


async def _claim_groups(
    store: Store,
    rows: list[dict[str, Any]],
    *,
    claim_id: str,
    reviewer: str,
    expires: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Claim each row's post and the other open posts of its group; the rows whose own post
    this call got, each with `count`, the posts of its group it claimed."""
    members = await review_store.open_members(store, [r["group_key"] for r in rows], now=now)
    for row in rows:
        members.setdefault(row["group_key"], [row["id"]])
    claimed = await review_store.claim(
        store,
        sorted({pid for row in rows for pid in members[row["group_key"]]}),
        claim_id=claim_id,
        reviewer=reviewer,
        expires_at=expires,
        now=now,
    )
    out = []
    for row in rows:
        if row["id"] in claimed:
            row["count"] = sum(pid in claimed for pid in members[row["group_key"]])
            out.append(row)
    return out


def _item(r: dict[str, Any], expires: datetime) -> ReviewItem:
    return ReviewItem(
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
        group=r["group_key"],
        count=r["count"],
    )
