"""SQL for ranking sessions: the feeds ranked for users (`POST /rank`, `POST /api/rank`, the
user-pool seed), their lists and details for GET /api/sessions, and what a user was shown in
their last sessions (the ranking option `seen_sessions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, labels, rank_session_items, rank_sessions
from sentiflow.store.sql import utc


@dataclass(frozen=True, slots=True)
class SessionItem:
    """One post of a ranked feed, as the client sent it, with the labels ranking used."""

    item_id: str
    text: str
    source: str | None = None
    post_id: str | None = None
    sentiment: str | None = None
    emotion: str | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class RankSession:
    id: str
    user_id: str | None
    platform: str | None
    cohort: str | None
    strategy: str
    partial: bool
    created_at: datetime
    items: Sequence[SessionItem] = field(default_factory=tuple)


async def save_sessions(store: Store, sessions: Sequence[RankSession]) -> None:
    """Store sessions with their feeds in one transaction; a session id stored before is
    replaced (a page ranked again shows its latest feed)."""
    if not sessions:
        return
    ids = [s.id for s in sessions]
    session_rows = [
        {
            "id": s.id,
            "user_id": s.user_id,
            "platform": s.platform,
            "cohort": s.cohort,
            "strategy": s.strategy,
            "items": len(s.items),
            "partial": s.partial,
            "created_at": s.created_at,
        }
        for s in sessions
    ]
    item_rows = [
        {
            "session_id": s.id,
            "position": position,
            "item_id": item.item_id,
            "source": item.source,
            "post_id": item.post_id,
            "text": item.text,
            "sentiment": item.sentiment,
            "emotion": item.emotion,
            "score": item.score,
        }
        for s in sessions
        for position, item in enumerate(s.items)
    ]
    with store.translated():
        async with store.engine.begin() as conn:
            await conn.execute(
                delete(rank_session_items).where(rank_session_items.c.session_id.in_(ids))
            )
            await conn.execute(delete(rank_sessions).where(rank_sessions.c.id.in_(ids)))
            await conn.execute(insert(rank_sessions), session_rows)
            if item_rows:
                await conn.execute(insert(rank_session_items), item_rows)


async def list_sessions(
    store: Store,
    *,
    user_id: str | None = None,
    platform: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Sessions newest first, each with its item ids in feed order."""
    stmt = select(rank_sessions).order_by(
        rank_sessions.c.created_at.desc(), rank_sessions.c.id.desc()
    )
    if user_id is not None:
        stmt = stmt.where(rank_sessions.c.user_id == user_id)
    if platform is not None:
        stmt = stmt.where(rank_sessions.c.platform == platform)
    if since is not None:
        stmt = stmt.where(rank_sessions.c.created_at >= since)
    with store.translated():
        async with store.engine.connect() as conn:
            rows = (await conn.execute(stmt.limit(limit))).mappings().all()
            found: dict[str, list[str]] = {row["id"]: [] for row in rows}
            if found:
                items = await conn.execute(
                    select(rank_session_items.c.session_id, rank_session_items.c.item_id)
                    .where(rank_session_items.c.session_id.in_(list(found)))
                    .order_by(rank_session_items.c.session_id, rank_session_items.c.position)
                )
                for session_id, item_id in items:
                    found[session_id].append(item_id)
    return [_session(row) | {"items": found[row["id"]]} for row in rows]


async def get_session(store: Store, session_id: str) -> dict[str, Any] | None:
    """One session with its feed in order; each item's labels are a reviewer's correction of
    the stored post if there is one, else what ranking used, else the stored analysis."""
    items = rank_session_items.c
    sentiment = func.coalesce(labels.c.sentiment, items.sentiment, analyses.c.sentiment)
    emotion = func.coalesce(labels.c.emotion, items.emotion, analyses.c.emotion)
    stmt = (
        select(
            items.item_id,
            items.source,
            items.post_id,
            items.text,
            sentiment.label("sentiment"),
            emotion.label("emotion"),
            items.score,
        )
        .select_from(
            rank_session_items.outerjoin(analyses, analyses.c.post_id == items.post_id).outerjoin(
                labels, labels.c.post_id == items.post_id
            )
        )
        .where(items.session_id == session_id)
        .order_by(items.position)
    )
    with store.translated():
        async with store.engine.connect() as conn:
            row = (
                (await conn.execute(select(rank_sessions).where(rank_sessions.c.id == session_id)))
                .mappings()
                .first()
            )
            if row is None:
                return None
            feed = (await conn.execute(stmt)).mappings().all()
    return _session(row) | {
        "items": [
            {
                "id": item["item_id"],
                "source": item["source"],
                "post_id": item["post_id"],
                "text": item["text"],
                "sentiment": item["sentiment"],
                "emotion": item["emotion"],
                "score": item["score"],
            }
            for item in feed
        ]
    }


def _session(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "platform": row["platform"],
        "cohort": row["cohort"],
        "strategy": row["strategy"],
        "partial": bool(row["partial"]),
        "created_at": utc(row["created_at"]),
        "count": row["items"],
    }


async def seen_items(store: Store, *, user_id: str, sessions: int) -> set[str]:
    """The item ids shown to `user_id` in their last `sessions` sessions. On SQLite read on
    the event loop (`Store.loop_reads`), as ranking's other lookup: the deadline path."""
    last = (
        select(rank_sessions.c.id)
        .where(rank_sessions.c.user_id == user_id)
        .order_by(rank_sessions.c.created_at.desc())
        .limit(sessions)
    )
    stmt = (
        select(rank_session_items.c.item_id)
        .where(rank_session_items.c.session_id.in_(last))
        .distinct()
    )
    loop_reads = store.loop_reads()
    if loop_reads is not None:
        with loop_reads.connect() as sync_conn:
            return set(sync_conn.execute(stmt).scalars())
    async with store.engine.connect() as conn:
        return set((await conn.execute(stmt)).scalars())
