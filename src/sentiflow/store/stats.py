"""SQL for analytics over the rollups (minute, hour and day tables) rather than the posts.

A time range is cut into whole days, whole hours at its edges and single minutes at the very
edges (`plan`), so a question over 30 days reads about 30 + 2·23 + 2·59 bucket rows per key.
`sentiflow.bench.oracles` answers the same questions straight from posts and analyses.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from sqlalchemy import Select, func, select, union_all

from sentiflow.models import EMOTIONS, SENTIMENTS
from sentiflow.store.db import Store
from sentiflow.store.rollups import GRAINS, minute_bucket

Grain = Literal["minute", "hour", "day"]
Dimension = Literal["sentiment", "emotion", "source", "topic"]
ORDER: Final[tuple[Grain, ...]] = ("day", "hour", "minute")
# Past the last minute a 32-bit bucket holds (year 6053): "no upper bound".
END_OF_TIME: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class RollupFilter:
    source: str | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # An ISO 639-1 code ("" for posts of unknown language). Rollups have no language, so a
    # filter by it is answered from the posts (`store/post_stats.py`).
    lang: str | None = None

    @property
    def minutes(self) -> tuple[int, int]:
        """The filter's time range as minute buckets [lo, hi)."""
        lo = minute_bucket(self.since) if self.since else 0
        hi = minute_bucket(self.until) if self.until else END_OF_TIME
        return lo, hi


def plan(lo: int, hi: int, *, coarsest: Grain = "day") -> list[tuple[Grain, int, int]]:
    """Cover minutes [lo, hi) with the fewest buckets: (grain, first, end) bucket ranges."""
    segments: list[tuple[Grain, int, int]] = []

    def cover(a: int, b: int, level: int) -> None:
        if a >= b:
            return
        grain = ORDER[level]
        size = GRAINS[grain][1]
        first, end = -(-a // size), b // size
        if size == 1 or first < end:
            if size == 1:
                first, end = a, b
            segments.append((grain, first, end))
            cover(a, first * size, level + 1)
            cover(end * size, b, level + 1)
        else:
            cover(a, b, level + 1)

    cover(lo, hi, ORDER.index(coarsest))
    return segments


def _union(
    f: RollupFilter, columns: list[str], *, coarsest: Grain = "day", to: int | None = None
) -> Any:
    """One UNION ALL over the planned buckets; `to` re-buckets into that many minutes as `t`."""
    parts: list[Select[Any]] = []
    # An empty range still needs one (empty) SELECT to stay valid SQL.
    for grain, first, end in plan(*f.minutes, coarsest=coarsest) or [("minute", 0, 0)]:
        table, size = GRAINS[grain]
        cols: list[Any] = [table.c[name] for name in columns]
        if to is not None:
            cols.append((table.c.bucket * size // to if size != to else table.c.bucket).label("t"))
        cols += [
            table.c.count.label("n"),
            table.c.polarity_sum.label("pol"),
        ]
        stmt = select(*cols).where(table.c.bucket >= first, table.c.bucket < end)
        if f.source:
            stmt = stmt.where(table.c.source == f.source)
        if f.topic is not None:
            stmt = stmt.where(table.c.topic == f.topic)
        parts.append(stmt)
    return union_all(*parts).subquery("r")


async def summary(store: Store, f: RollupFilter, *, coarsest: Grain = "day") -> dict[str, Any]:
    """Totals per sentiment and emotion, mean polarity and posts/minute over the last hour."""
    r = _union(f, ["sentiment", "emotion"], coarsest=coarsest)
    cells = select(r.c.sentiment, r.c.emotion, func.sum(r.c.n), func.sum(r.c.pol)).group_by(
        r.c.sentiment, r.c.emotion
    )
    lo, _ = f.minutes
    hour = RollupFilter(
        source=f.source,
        topic=f.topic,
        since=minute_start(max(lo, minute_bucket(datetime.now(UTC)) - 60)),
        until=f.until,
    )
    recent = _union(hour, [], coarsest="minute")
    last_hour = select(func.coalesce(func.sum(recent.c.n), 0))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(cells)).all()
        hour_count = int((await conn.execute(last_hour)).scalar_one())
    return summary_of([(s, e, int(n), float(p)) for s, e, n, p in rows], hour_count)


# The minute buckets a datetime can show; a stored bucket or a query bound past them (a
# post dated in year 9999, say) is shown at the edge instead of failing the whole answer.
_FIRST_MINUTE: Final = minute_bucket(datetime(1, 1, 2, tzinfo=UTC))
_LAST_MINUTE: Final = minute_bucket(datetime(9999, 12, 30, tzinfo=UTC))


def minute_start(bucket: int) -> datetime:
    """The moment minute bucket `bucket` starts (clamped to what a datetime can show)."""
    return datetime.fromtimestamp(min(max(bucket, _FIRST_MINUTE), _LAST_MINUTE) * 60, UTC)


def _finite(value: float) -> float:
    """A stored polarity sum that overflowed (or a corrupt one) counts as 0, not as a
    value JSON cannot carry."""
    return value if math.isfinite(value) else 0.0


def summary_of(cells: list[tuple[str, str, int, float]], hour_count: int) -> dict[str, Any]:
    """The summary's answer from (sentiment, emotion, posts, polarity sum) cells and the posts
    of the last hour."""
    sentiments: dict[str, int] = dict.fromkeys(SENTIMENTS, 0)
    emotions: dict[str, int] = dict.fromkeys(EMOTIONS, 0)
    polarity_sum = 0.0
    for sentiment, emotion, count, pol in cells:
        sentiments[sentiment] = sentiments.get(sentiment, 0) + count
        emotions[emotion] = emotions.get(emotion, 0) + count
        polarity_sum += _finite(pol)
    total = sum(sentiments.values())
    return {
        "total": total,
        "sentiment": sentiments,
        "emotion": emotions,
        "avg_polarity": round(_finite(polarity_sum / total), 4) if total else 0.0,
        "posts_per_minute": round(hour_count / 60, 2),
    }


def zero_counts(by: Dimension) -> dict[str, int]:
    """Every label of `by` at 0 (sources and topics: none known beforehand)."""
    if by == "sentiment":
        return dict.fromkeys(SENTIMENTS, 0)
    if by == "emotion":
        return dict.fromkeys(EMOTIONS, 0)
    return {}


async def distribution(
    store: Store, f: RollupFilter, *, by: Dimension, coarsest: Grain = "day"
) -> dict[str, Any]:
    """Posts per label of one dimension; posts without a topic count under ''."""
    r = _union(f, [by], coarsest=coarsest)
    stmt = select(r.c[by], func.sum(r.c.n)).group_by(r.c[by])
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return distribution_of(by, rows)


def distribution_of(by: Dimension, rows: Sequence[Any]) -> dict[str, Any]:
    """The distribution's answer from (label, posts) rows."""
    counts = zero_counts(by)
    for label, count in rows:
        counts[label] = int(count)
    return {"by": by, "total": sum(counts.values()), "counts": counts}


async def timeseries(
    store: Store, f: RollupFilter, *, bucket: Grain, by: Literal["sentiment", "emotion"]
) -> dict[str, Any]:
    """One point per bucket in [since, until), oldest first, empty buckets included."""
    size = GRAINS[bucket][1]
    r = _union(f, [by], coarsest=bucket, to=size)
    stmt = (
        select(r.c.t, r.c[by], func.sum(r.c.n), func.sum(r.c.pol))
        .group_by(r.c.t, r.c[by])
        .order_by(r.c.t)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return timeseries_of(f, rows, bucket=bucket, by=by)


def timeseries_of(
    f: RollupFilter, rows: Sequence[Any], *, bucket: Grain, by: Literal["sentiment", "emotion"]
) -> dict[str, Any]:
    """The timeseries' answer from (bucket number, label, posts, polarity sum) rows."""
    size = GRAINS[bucket][1]
    cells: dict[int, list[Any]] = defaultdict(lambda: [zero_counts(by), 0.0])
    for t, label, count, pol in rows:
        cell = cells[int(t)]
        cell[0][label] = int(count)
        cell[1] += _finite(float(pol))
    lo, hi = f.minutes
    span = range(lo // size, -(-hi // size)) if hi != END_OF_TIME else sorted(cells)
    points = []
    for t in span:
        counts, pol = cells[t] if t in cells else (zero_counts(by), 0.0)
        total = sum(counts.values())
        points.append(
            {
                "t": minute_start(t * size).isoformat().replace("+00:00", "Z"),
                "counts": counts,
                "total": total,
                "avg_polarity": round(_finite(pol / total), 4) if total else 0.0,
            }
        )
    return {"bucket": bucket, "by": by, "points": points}
