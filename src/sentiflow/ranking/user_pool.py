"""A simulated user pool for `sentiflow seed --users`: users with an activity level and one
platform each, their ranking sessions over the last days, and each session's feed drawn from
the carried posts (stored, with their analyses) that were on that platform before it.

The semantics are those of the ranking challenge's seed: `--activity-distribution
'0.2:20,1:65,5:15'` gives 20 % of the users a fifth of the baseline sessions per day, 65 % the
baseline and 15 % five times it; `--platform-distribution 'facebook:11,reddit:7.4'` weighs the
platforms (not necessarily summing to 100). Timestamps are chronological and end near now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis, PostIn
from sentiflow.ranking.sessions import user_key
from sentiflow.store.db import Store
from sentiflow.store.rank_sessions import RankSession, SessionItem, save_sessions
from sentiflow.store.write import save_batch

Analyze = Callable[[list[str]], list[Analysis]]

DEFAULT_ACTIVITY: Final = "1:100"
DEFAULT_PLATFORMS: Final = "facebook:11,reddit:7.4,twitter:1.25"
# Posts are spread over one day more than the sessions, so the first sessions have a feed.
LEAD: Final = timedelta(days=1)
# A feed is drawn from the newest posts of its platform before the session, this many times
# the feed's size: recent, but not always the same ones.
RECENT: Final = 5
BATCH: Final = 1_000


@dataclass(frozen=True, slots=True)
class PoolSpec:
    users: int
    days: float
    sessions_per_day: float
    items_per_session: int
    activity: Sequence[tuple[float, float]]  # (multiplier, weight)
    platforms: Sequence[tuple[str, float]]  # (platform, weight)


def parse_distribution(text: str, *, option: str) -> list[tuple[str, float]]:
    """'name:weight,name:weight' as pairs; a bad one raises naming the option."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.rpartition(":")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not value > 0:
            raise ValidationFailed(
                f"{option}: {part!r} is not name:weight with a positive weight; "
                "write it like 'facebook:11,reddit:7.4'",
                field=option,
            )
        pairs.append((name.strip(), value))
    if not pairs:
        raise ValidationFailed(f"{option} is empty; write it like 'a:1,b:2'", field=option)
    return pairs


def parse_activity(text: str) -> list[tuple[float, float]]:
    """'multiplier:percent,…' as (multiplier, weight) pairs."""
    option = "--activity-distribution"
    pairs = []
    for name, weight in parse_distribution(text, option=option):
        try:
            multiplier = float(name)
        except ValueError:
            multiplier = -1.0
        if multiplier < 0:
            raise ValidationFailed(
                f"{option}: {name!r} is not a non-negative activity multiplier; "
                "write it like '0.2:20,1:65,5:15'",
                field=option,
            )
        pairs.append((multiplier, weight))
    return pairs


def _weights(pairs: Sequence[tuple[Any, float]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    weights = np.array([w for _, w in pairs], dtype=np.float64)
    weights /= weights.sum()
    return weights


def pool_posts(
    carried: Sequence[Mapping[str, Any]],
    platforms: Sequence[tuple[str, float]],
    *,
    start: datetime,
    end: datetime,
    rng: np.random.Generator,
) -> list[PostIn]:
    """The carried posts, each on one platform (by weight) at a time in [start, end), in
    time order. Their external ids are fixed, so seeding again stores no post twice."""
    names = [name for name, _ in platforms]
    on = rng.choice(len(names), len(carried), p=_weights(platforms))
    span = (end - start).total_seconds()
    offsets = np.sort(rng.random(len(carried)) * span)
    return [
        PostIn(
            source=names[p],
            external_id=f"pool-{post['external_id']}",
            text=post["text"],
            topic=post.get("topic"),
            created_at=start + timedelta(seconds=float(offset)),
        )
        for post, p, offset in zip(carried, on.tolist(), offsets.tolist(), strict=True)
    ]


def _session_count(expected: float, rng: np.random.Generator) -> int:
    """`expected` rounded up or down at random, so the mean is kept and no user of a
    fractional activity is left with none by rounding alone."""
    whole = int(expected)
    return whole + int(rng.random() < expected - whole)


def simulate(
    spec: PoolSpec,
    posts: Sequence[PostIn],
    labels: Mapping[str, Analysis],
    *,
    end: datetime,
    run: str,
    rng: np.random.Generator,
    users: Callable[[str], str] = user_key,
) -> list[RankSession]:
    """Every user's sessions in time order, each with the feed it showed: up to
    `items_per_session` of its platform's newest posts before it, newest first."""
    by_platform: dict[str, list[PostIn]] = {}
    for post in posts:  # already in time order
        by_platform.setdefault(post.source, []).append(post)
    times = {p: np.array([x.created_at.timestamp() for x in ps]) for p, ps in by_platform.items()}
    multipliers = rng.choice(
        [m for m, _ in spec.activity], spec.users, p=_weights(spec.activity)
    ).tolist()
    platforms = rng.choice(len(spec.platforms), spec.users, p=_weights(spec.platforms)).tolist()
    start = end - timedelta(days=spec.days)
    planned: list[tuple[float, int]] = []
    for user, multiplier in enumerate(multipliers):
        count = _session_count(spec.sessions_per_day * multiplier * spec.days, rng)
        planned += [(float(t), user) for t in rng.random(count) * spec.days * 86_400]
    planned.sort()
    width = len(str(spec.users))
    sessions = []
    for n, (offset, user) in enumerate(planned):
        at = start + timedelta(seconds=offset)
        platform = spec.platforms[platforms[user]][0]
        shown = by_platform.get(platform, [])
        before = int(np.searchsorted(times.get(platform, np.empty(0)), at.timestamp()))
        recent = np.arange(max(0, before - RECENT * spec.items_per_session), before)
        picked = rng.choice(recent, min(spec.items_per_session, len(recent)), replace=False)
        feed = [shown[k] for k in sorted(picked.tolist(), reverse=True)]
        sessions.append(
            RankSession(
                id=f"seed-{run}-{n}",
                user_id=users(f"user-{user:0{width}d}"),
                platform=platform,
                cohort=None,
                strategy="chronological",
                partial=False,
                created_at=at,
                items=[_item(post, labels.get(post.id)) for post in feed],
            )
        )
    return sessions


def _item(post: PostIn, analysis: Analysis | None) -> SessionItem:
    return SessionItem(
        item_id=post.external_id or post.id,
        text=post.text,
        source=post.source,
        post_id=post.id,
        sentiment=None if analysis is None else analysis.sentiment,
        emotion=None if analysis is None else analysis.emotion,
    )


async def seed_pool(
    store: Store,
    spec: PoolSpec | None,
    *,
    carried: Sequence[Mapping[str, Any]],
    platforms: Sequence[tuple[str, float]],
    days: float,
    analyze: Analyze,
    seed_value: int | None = None,
    now: datetime | None = None,
    users: Callable[[str], str] = user_key,
) -> tuple[int, int]:
    """Store the carried posts on their platforms with their analyses and, unless `spec` is
    None (`--no-user-pool`), the pool's sessions and feeds. Returns (posts, sessions)."""
    end = now or datetime.now(UTC)
    rng = np.random.default_rng(seed_value)
    posts = pool_posts(
        carried, platforms, start=end - timedelta(days=days) - LEAD, end=end, rng=rng
    )
    labels: dict[str, Analysis] = {}
    for first in range(0, len(posts), BATCH):
        batch = posts[first : first + BATCH]
        found = await asyncio.to_thread(analyze, [post.text for post in batch])
        await save_batch(store, batch, found)
        labels.update(zip((post.id for post in batch), found, strict=True))
    if spec is None:
        return len(posts), 0
    run = f"s{seed_value}" if seed_value is not None else f"{end.timestamp():.0f}"
    sessions = simulate(spec, posts, labels, end=end, run=run, rng=rng, users=users)
    for first in range(0, len(sessions), BATCH):
        await save_sessions(store, sessions[first : first + BATCH])
    return len(posts), len(sessions)
