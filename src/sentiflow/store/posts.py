"""SQL for reading posts: one by id, or a filtered page behind /api/posts, each with its
analysis and its effective label (a human correction wins over the model)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, and_, func, or_, select, tuple_
from sqlalchemy.engine import Row

from sentiflow.errors import ValidationFailed
from sentiflow.models import AnalysisOut, LabelOut, PostOut
from sentiflow.store.db import Store
from sentiflow.store.schema import analyses, labels, posts
from sentiflow.store.sql import utc


@dataclass(frozen=True, slots=True)
class PostFilter:
    sentiment: str | None = None
    emotion: str | None = None
    source: str | None = None
    topic: str | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_confidence: float | None = None
    group: str | None = None
    # An ISO 639-1 code; "" selects posts whose language is unknown.
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[PostOut]
    next_cursor: str | None


# The effective label: a human correction (labels) wins over the model (analyses).
effective_sentiment = func.coalesce(labels.c.sentiment, analyses.c.sentiment)
effective_emotion = func.coalesce(labels.c.emotion, analyses.c.emotion)


def group_key() -> Any:
    """A post's near-duplicate group: the first post of it (`duplicate_of`), else its own id."""
    return func.coalesce(posts.c.duplicate_of, posts.c.id)


def in_groups(groups: Sequence[str]) -> Any:
    """Posts of these near-duplicate groups; the OR lets each side use its index."""
    keys = list(groups)
    return and_(or_(posts.c.id.in_(keys), posts.c.duplicate_of.in_(keys)), group_key().in_(keys))


def select_posts() -> Select[Any]:
    return select(
        posts,
        analyses,
        labels.c.sentiment.label("label_sentiment"),
        labels.c.emotion.label("label_emotion"),
        labels.c.corrected_by,
        labels.c.corrected_at,
    ).select_from(
        posts.outerjoin(analyses, analyses.c.post_id == posts.c.id).outerjoin(
            labels, labels.c.post_id == posts.c.id
        )
    )


def _label(m: Any) -> LabelOut | None:
    # Selects that do not join `labels` (e.g. analytics' urgent list) show the model's label.
    if m.get("label_sentiment") is not None:
        return LabelOut(
            sentiment=m["label_sentiment"],
            emotion=m["label_emotion"],
            source="human",
            corrected_by=m["corrected_by"],
            corrected_at=utc(m["corrected_at"]),
        )
    if m["sentiment"] is not None:
        return LabelOut(sentiment=m["sentiment"], emotion=m["emotion"], source="model")
    return None


def to_post(row: Row[Any]) -> PostOut:
    m = row._mapping
    analysis = None
    if m["sentiment"] is not None:
        analysis = AnalysisOut(
            sentiment=m["sentiment"],
            sentiment_confidence=m["sentiment_confidence"],
            sentiment_probs=m["sentiment_probs"],
            polarity=m["polarity"],
            emotion=m["emotion"],
            emotion_confidence=m["emotion_confidence"],
            emotion_probs=m["emotion_probs"],
            model_version=m["model_version"],
            analyzed_at=utc(m["analyzed_at"]),
        )
    return PostOut(
        id=m["id"],
        source=m["source"],
        external_id=m["external_id"],
        text=m["text"],
        author=m["author"],
        created_at=utc(m["created_at"]),
        url=m["url"],
        topic=m["topic"],
        meta=m["meta"],
        duplicate_of=m["duplicate_of"],
        lang=m["lang"],
        ingested_at=utc(m["ingested_at"]),
        handled_at=utc(m["handled_at"]) if m["handled_at"] else None,
        analysis=analysis,
        label=_label(m),
    )


async def get_post(store: Store, post_id: str) -> PostOut | None:
    async with store.engine.connect() as conn:
        row = (await conn.execute(select_posts().where(posts.c.id == post_id))).first()
    return to_post(row) if row else None


def encode_cursor(post: PostOut) -> str:
    raw = f"{post.created_at.isoformat()}|{post.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pid = raw.split("|", 1)
        return datetime.fromisoformat(moment), pid
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor is not one this API handed out; pass next_cursor from the previous page",
            field="cursor",
        ) from None


def lang_is(lang: str) -> Any:
    """Posts in language `lang`; "" for those whose language is unknown."""
    return posts.c.lang == lang if lang else posts.c.lang.is_(None)


def _label_where(f: PostFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.sentiment:
        clauses.append(effective_sentiment == f.sentiment)
    if f.emotion:
        clauses.append(effective_emotion == f.emotion)
    if f.min_confidence is not None:
        clauses.append(analyses.c.sentiment_confidence >= f.min_confidence)
    return clauses


def post_where(f: PostFilter) -> list[Any]:
    """WHERE clauses of a filter over `posts` joined to `analyses` and `labels`."""
    clauses = _label_where(f)
    if f.source:
        clauses.append(posts.c.source == f.source)
    if f.topic:
        clauses.append(posts.c.topic == f.topic)
    if f.q:
        escaped = f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(posts.c.text.ilike(f"%{escaped}%", escape="\\"))
    if f.since:
        clauses.append(posts.c.created_at >= f.since)
    if f.until:
        clauses.append(posts.c.created_at < f.until)
    if f.group:
        clauses.append(in_groups([f.group]))
    if f.lang is not None:
        clauses.append(lang_is(f.lang))
    return clauses


# The order of every post listing, which the keyset below continues.
NEWEST_FIRST: Final = (posts.c.created_at.desc(), posts.c.id.desc())


def older_than(store: Store, moment: datetime, pid: str) -> Any:
    """Posts after (`moment`, `pid`) in `NEWEST_FIRST` order: the keyset of the next page."""
    if store.dialect == "sqlite":
        return or_(
            posts.c.created_at < moment, and_(posts.c.created_at == moment, posts.c.id < pid)
        )
    return tuple_(posts.c.created_at, posts.c.id) < (moment, pid)


async def list_posts(
    store: Store, filters: PostFilter, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """Newest first (by created_at, then id), keyset-paginated."""
    stmt = select_posts().where(*post_where(filters))
    if cursor:
        stmt = stmt.where(older_than(store, *decode_cursor(cursor)))
    stmt = stmt.order_by(*NEWEST_FIRST).limit(limit + 1)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    items = [to_post(r) for r in rows[:limit]]
    next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def posts_by_ids(store: Store, ids: list[str]) -> list[PostOut]:
    """The stored posts among `ids`, with their analyses, in the order of `ids`."""
    if not ids:
        return []
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select_posts().where(posts.c.id.in_(ids)))).all()
    found = {p.id: p for p in map(to_post, rows)}
    return [found[i] for i in ids if i in found]
