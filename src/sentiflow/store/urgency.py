"""The urgency score of a negative post, and the ranking key stored for it.

    urgency = confidence × emotion weight × reach factor × 2^(−age hours / HALF_LIFE_HOURS)

The decay is the same for every post, so ordering by `rank_key` = ln(base) + created hours ×
ln 2 / half-life orders by urgency at any moment, and an index on it serves the list.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

import orjson

HALF_LIFE_HOURS: Final = 6.0
LOUD_EMOTIONS: Final = frozenset({"anger", "fear"})
LOUD_WEIGHT: Final = 1.5
# Meta fields that say how many people a post reaches, in order of preference.
REACH_FIELDS: Final = ("reach", "followers", "score", "likes")
_DECAY: Final = math.log(2) / HALF_LIFE_HOURS


def reach_of(meta: dict[str, Any]) -> float:
    if not meta:
        return 0.0
    for name in REACH_FIELDS:
        value = meta.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 0.0


def base_score(confidence: float, emotion: str, meta: dict[str, Any]) -> float:
    """The urgency of a post at the moment it was written."""
    weight = LOUD_WEIGHT if emotion in LOUD_EMOTIONS else 1.0
    reach = 1.0 + math.log10(1.0 + reach_of(meta)) / 3.0
    return max(confidence, 1e-6) * weight * reach


def _hours(moment: datetime) -> float:
    return moment.timestamp() / 3600.0


def rank_key(base: float, created_at: datetime) -> float:
    return math.log(base) + _hours(created_at) * _DECAY


# exp() of more than this overflows a float; a post dated far ahead (or a corrupt row) would
# otherwise make the whole urgent list fail.
_MAX_EXPONENT: Final = 700.0


def urgency(rank: float, now: datetime) -> float:
    """The score now of a post with ranking key `rank`; finite whatever the stored key."""
    exponent = rank - _hours(now) * _DECAY
    if not math.isfinite(exponent):
        return 0.0 if math.isnan(exponent) or exponent < 0 else math.exp(_MAX_EXPONENT)
    return math.exp(min(exponent, _MAX_EXPONENT))


def _as_datetime(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def urgent_row(
    post_id: str,
    source: str,
    topic: str | None,
    created_at: datetime | str,
    meta: dict[str, Any] | str,
    confidence: float,
    emotion: str,
) -> dict[str, Any]:
    """The `urgent_posts` row of one negative post (raw SQL hands JSON and dates as text)."""
    meta_dict = orjson.loads(meta) if isinstance(meta, str) else meta
    created = _as_datetime(created_at)
    base = base_score(confidence, emotion, meta_dict)
    return {
        "post_id": post_id,
        "source": source,
        "topic": topic or "",
        "created_at": created,
        "base": base,
        "rank_key": rank_key(base, created),
    }
