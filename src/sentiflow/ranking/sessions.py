"""Ranking sessions: who a feed was ranked for, the one place a user id becomes what is stored,
and the record of a ranked feed, written after the answer has been sent (never on the
deadline's path)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from sentiflow.errors import ValidationFailed
from sentiflow.models import could_be_post_id, post_id
from sentiflow.ranking.base import RankItem
from sentiflow.ranking.engine import RankResult
from sentiflow.store.db import Store
from sentiflow.store.rank_sessions import RankSession, SessionItem, save_sessions

log = structlog.get_logger("sentiflow.ranking.sessions")

_FIELDS: Final = {"id": 100, "user_id": 200, "platform": 40, "cohort": 100}


@dataclass(frozen=True, slots=True)
class Session:
    """A page view of a user: `id` is the client's (or a new one), `user_id` already keyed."""

    id: str
    user_id: str | None = None
    platform: str | None = None
    cohort: str | None = None


def user_key(user_id: str) -> str:
    """A user id as sent, trimmed to what is stored."""
    return user_id.strip()[: _FIELDS["user_id"]]


def user_keyer(hasher: Callable[[str], str] | None) -> Callable[[str], str]:
    """What is stored and matched for a user id: every user id of a ranking session passes
    through it, coming in (a ranked feed, the seed) and going out (the `user_id` filter of
    GET /api/sessions), so with SENTIFLOW_HASH_AUTHORS users are kept under the same keyed
    hash as authors and never in clear."""
    if hasher is None:
        return user_key
    keyed = hasher

    def hashed(user_id: str) -> str:
        return keyed(user_key(user_id))

    return hashed


def new_session_id() -> str:
    return secrets.token_hex(12)


def parse_session(raw: Any) -> Session:
    """The `session` of a POST /api/rank body: {"id", "user_id", "platform", "cohort"}, each
    optional; a bad one raises `ValidationFailed` naming the field."""
    if not isinstance(raw, dict):
        raise ValidationFailed(
            'session must be an object such as {"id": "...", "user_id": "u1"}', field="session"
        )
    extra = raw.keys() - _FIELDS.keys()
    if extra:
        name = sorted(extra)[0]
        raise ValidationFailed(
            f"session.{name} is not a session field; send id, user_id, platform, cohort",
            field=f"session.{name}",
        )
    values: dict[str, str | None] = {}
    for name, longest in _FIELDS.items():
        value = raw.get(name)
        if value is not None and (type(value) is not str or not 0 < len(value) <= longest):
            raise ValidationFailed(
                f"session.{name} must be a string of 1 to {longest} characters",
                field=f"session.{name}",
            )
        values[name] = value
    user_id = values["user_id"]
    return Session(
        id=values["id"] or new_session_id(),
        user_id=user_key(user_id) if user_id else None,
        platform=values["platform"],
        cohort=values["cohort"],
    )


def _stored_post(item: RankItem) -> str | None:
    """The stored post an item names, as the ranker looks it up (ranking/engine.py)."""
    if item.source:
        return post_id(item.source, item.id)
    return item.id if could_be_post_id(item.id) else None


def session_row(
    session: Session, *, strategy: str, items: Sequence[RankItem], result: RankResult
) -> RankSession:
    scores: Mapping[str, float] = result.scores
    analyses = result.analyses or [None] * len(items)
    return RankSession(
        id=session.id,
        user_id=session.user_id,
        platform=session.platform,
        cohort=session.cohort,
        strategy=strategy,
        partial=result.partial,
        created_at=datetime.now(UTC),
        items=[
            SessionItem(
                item_id=item.id,
                text=item.text,
                source=item.source,
                post_id=_stored_post(item),
                sentiment=None if a is None else a.sentiment,
                emotion=None if a is None else a.emotion,
                score=scores.get(item.id),
            )
            for item, a in zip(items, analyses, strict=True)
        ],
    )


async def record(
    store: Store,
    session: Session,
    *,
    strategy: str,
    items: Sequence[RankItem],
    result: RankResult,
) -> None:
    """Store a ranked feed as its session. Run after the answer is sent; a failure is logged
    (the user already has their feed), never raised."""
    try:
        row = session_row(session, strategy=strategy, items=items, result=result)
        await save_sessions(store, [row])
    except Exception as exc:
        log.warning("rank.session_not_recorded", session=session.id, error=repr(exc))
