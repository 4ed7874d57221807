"""SQL for the urgent list (negative, unhandled posts by urgency, near-duplicates shown once
with their count) and for marking one handled, with its near-duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Select, and_, delete, func, or_, select, update

from sentiflow.models import PostOut
from sentiflow.store.db import Store
from sentiflow.store.posts import get_post, group_key, in_groups, to_post
from sentiflow.store.schema import analyses, posts, urgent_posts
from sentiflow.store.stats import RollupFilter

# Rows read per round while collecting distinct groups (a burst of copies spans many rows).
_ROUND: Final = 4


@dataclass(frozen=True, slots=True)
class Urgent:
    post: PostOut  # the most urgent post of its group
    rank_key: float
    count: int  # unhandled urgent posts in its group, this one included


def _filtered(stmt: Select[Any], f: RollupFilter) -> Select[Any]:
    u = urgent_posts
    if f.source:
        stmt = stmt.where(u.c.source == f.source)
    if f.topic is not None:
        stmt = stmt.where(u.c.topic == f.topic)
    if f.since:
        stmt = stmt.where(u.c.created_at >= f.since)
    if f.until:
        stmt = stmt.where(u.c.created_at < f.until)
    return stmt


async def urgent(store: Store, f: RollupFilter, *, limit: int) -> list[Urgent]:
    """The most urgent posts first, one per near-duplicate group (its most urgent member),
    each with its ranking key (store/urgency.py) and how many urgent posts its group has."""
    u = urgent_posts
    base = _filtered(
        select(posts, analyses, u.c.rank_key, group_key().label("group_key"))
        .select_from(
            u.join(posts, posts.c.id == u.c.post_id).join(
                analyses, analyses.c.post_id == u.c.post_id
            )
        )
        .order_by(u.c.rank_key.desc(), u.c.post_id.desc()),
        f,
    )
    leaders: dict[str, tuple[PostOut, float]] = {}
    stmt = base
    async with store.engine.connect() as conn:
        while len(leaders) < limit:
            want = (limit - len(leaders)) * _ROUND
            rows = (await conn.execute(stmt.limit(want))).all()
            for row in rows:
                m = row._mapping
                if m["group_key"] not in leaders and len(leaders) < limit:
                    leaders[m["group_key"]] = (to_post(row), float(m["rank_key"]))
            if len(rows) < want:
                break
            last = rows[-1]._mapping
            stmt = base.where(
                or_(
                    u.c.rank_key < last["rank_key"],
                    and_(u.c.rank_key == last["rank_key"], u.c.post_id < last["id"]),
                )
            )
        counts = await _counts(conn, f, list(leaders))
    return [Urgent(post, rank, counts.get(g, 1)) for g, (post, rank) in leaders.items()]


async def _counts(conn: Any, f: RollupFilter, groups: Sequence[str]) -> dict[str, int]:
    if not groups:
        return {}
    key = group_key().label("group_key")
    stmt = _filtered(
        select(key, func.count())
        .select_from(urgent_posts.join(posts, posts.c.id == urgent_posts.c.post_id))
        .where(in_groups(groups))
        .group_by(key),
        f,
    )
    return {g: int(n) for g, n in (await conn.execute(stmt)).all()}


async def mark_handled(store: Store, post_id: str) -> PostOut | None:
    """Set `handled_at` (the first time only) of the post and of the urgent posts of its
    near-duplicate group, which all leave the urgent list: one answer covers the copies."""
    async with store.engine.begin() as conn:
        group = (
            await conn.execute(select(group_key()).where(posts.c.id == post_id))
        ).scalar_one_or_none()
        members = [post_id]
        if group is not None:
            members += [
                pid
                for (pid,) in await conn.execute(
                    select(urgent_posts.c.post_id)
                    .select_from(urgent_posts.join(posts, posts.c.id == urgent_posts.c.post_id))
                    .where(in_groups([group]))
                )
            ]
        await conn.execute(
            update(posts)
            .where(posts.c.id.in_(members), posts.c.handled_at.is_(None))
            .values(handled_at=datetime.now(UTC))
        )
        await conn.execute(delete(urgent_posts).where(urgent_posts.c.post_id.in_(members)))
    return await get_post(store, post_id)
