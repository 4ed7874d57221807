"""/api/rank and /rank: order a feed of posts by a strategy under a deadline (ranking/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.background import BackgroundTask

from sentiflow.api.deps import RankerDep, RankKey, SettingsDep, StoreDep, UserKeyDep
from sentiflow.api.errors import error_body
from sentiflow.errors import ValidationFailed
from sentiflow.ranking.base import RankItem
from sentiflow.ranking.engine import RankResult
from sentiflow.ranking.feed import MAX_DEADLINE_MS, MAX_ITEMS, from_challenge, parse_feed
from sentiflow.ranking.history import MAX_SESSIONS
from sentiflow.ranking.registry import all_strategies
from sentiflow.ranking.sessions import Session, record
from sentiflow.store.db import Store

router = APIRouter(tags=["rank"])


class RankItemDoc(BaseModel):
    id: str = Field(description="The client's id of the post; returned in ranked_ids.")
    text: str = Field(description="1 to 10,000 characters.")
    source: str | None = Field(
        None, description="With id, the (source, external_id) of a stored post, if it is one."
    )
    author: str | None = None
    created_at: datetime | None = Field(None, description="ISO 8601.")
    meta: dict[str, Any] | None = None


class SessionDoc(BaseModel):
    id: str | None = Field(None, description="The page view's id; a new one when absent.")
    user_id: str | None = Field(None, description="Needed for options.seen_sessions.")
    platform: str | None = None
    cohort: str | None = None


class SignalsDoc(BaseModel):
    version: int | None
    computed_at: datetime | None
    stale: bool


class RankResponse(BaseModel):
    ranked_ids: list[str] = Field(description="Every item's id, best first.")
    scores: dict[str, float] = Field(description="The strategy's score of each scored item.")
    partial: bool = Field(description="True when some items were not scored by the deadline.")
    timings_ms: dict[str, float]
    scorers: dict[str, Literal["done", "timeout", "failed"]]
    signals: SignalsDoc | None = Field(description="The signals used (trending only).")


class StrategyDoc(BaseModel):
    name: str
    doc: str


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_BODY_SCHEMA = _json_body(
    {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ITEMS,
                "items": RankItemDoc.model_json_schema(),
            },
            "strategy": {"type": "string", "description": "See /api/rank/strategies."},
            "options": {
                "type": "object",
                "description": "deadline_ms (≤ 60,000), seen_sessions (demote what the "
                "session's user was shown in their last N sessions) and the strategy's options.",
            },
            "session": {
                **SessionDoc.model_json_schema(),
                "description": "Who the feed is for: the ranked feed is stored as this session.",
            },
        },
    }
)
_CHALLENGE_BODY = _json_body(
    {"type": "object", "description": "A RankingRequest of the ranking-challenge package."}
)


def _json(body: Any, background: BackgroundTask | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", background=background)


def _recording(
    store: Store,
    session: Session | None,
    *,
    enabled: bool,
    strategy: str,
    items: Sequence[RankItem],
    result: RankResult,
) -> BackgroundTask | None:
    """The session's record, to run once the answer is sent (Starlette's background task)."""
    if session is None or not enabled:
        return None
    return BackgroundTask(record, store, session, strategy=strategy, items=items, result=result)


def _not_json(what: str) -> JSONResponse:
    message = f"the body is not valid JSON; send {what}"
    return JSONResponse(error_body("invalid_json", message, "body"), status_code=400)


def _too_many(count: int) -> JSONResponse:
    message = f"{count:,} items in one request; rank at most {MAX_ITEMS:,} at a time"
    return JSONResponse(error_body("too_many", message, "items"), status_code=413)


@router.post(
    "/api/rank",
    response_model=None,
    openapi_extra=_BODY_SCHEMA,
    responses={200: {"model": RankResponse}, 400: {}, 413: {}, 422: {}},
)
async def rank(
    request: Request,
    ranker: RankerDep,
    settings: SettingsDep,
    store: StoreDep,
    users: UserKeyDep,
    _: RankKey,
) -> Response | JSONResponse:
    """Order up to 1,000 posts by `strategy` (default: SENTIFLOW_RANK_DEFAULT_STRATEGY).
    Stored posts reuse their analyses; others are analysed now. Answers by `deadline_ms`
    (option, default 400) with unscored items last in feed order and `partial: true`. With
    `session`, the ranked feed is stored as that session after the answer is sent."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _not_json("a JSON object")
    items = body.get("items") if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > MAX_ITEMS:
        return _too_many(len(items))
    feed = parse_feed(body, default_strategy=settings.rank_default_strategy)
    session = feed.session
    if session is not None and session.user_id is not None:
        session = replace(session, user_id=users(session.user_id))
    result = await ranker.rank(
        feed.items,
        strategy=feed.strategy,
        options=feed.options,
        deadline_ms=feed.deadline_ms,
        user_id=session.user_id if session else None,
    )
    background = _recording(
        store,
        session,
        enabled=settings.rank_sessions,
        strategy=feed.strategy,
        items=feed.items,
        result=result,
    )
    return _json(result.as_dict(), background)


@router.get("/api/rank/strategies", response_model=list[StrategyDoc])
async def strategies(_: RankKey) -> list[StrategyDoc]:
    """Every strategy /api/rank knows, with what its score means."""
    return [StrategyDoc(name=s.name, doc=s.doc) for s in all_strategies()]


@router.post(
    "/rank",
    response_model=None,
    openapi_extra=_CHALLENGE_BODY,
    responses={200: {"description": "A RankingResponse."}},
)
async def rank_challenge(
    request: Request,
    ranker: RankerDep,
    settings: SettingsDep,
    store: StoreDep,
    users: UserKeyDep,
    _: RankKey,
    strategy: Annotated[str | None, Query(description="Default: the configured one.")] = None,
    deadline_ms: Annotated[float | None, Query(gt=0, le=MAX_DEADLINE_MS)] = None,
    seen_sessions: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_SESSIONS,
            description="Demote what this user was shown in their last N sessions.",
        ),
    ] = 0,
) -> Response:
    """The Prosocial Ranking Challenge's ranker API: a `RankingRequest` in, a
    `RankingResponse` out (package `ranking-challenge`). Fields it does not use are ignored.
    The session (user, platform, cohort) and its ranked feed are stored after the answer is
    sent, except for prefetches."""
    from ranking_challenge.request import RankingRequest
    from ranking_challenge.response import RankingResponse, RankingResponseMetadata

    try:
        challenge = RankingRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return _not_json("a RankingRequest")
        where = ".".join(str(p) for p in first["loc"]) or "body"
        message = f"{where}: {first['msg']}; send a ranking_challenge RankingRequest"
        raise ValidationFailed(message, field=where) from None
    if len(challenge.items) > MAX_ITEMS:
        return _too_many(len(challenge.items))
    items = from_challenge(challenge)
    strategy = strategy or settings.rank_default_strategy
    about = challenge.session
    session = Session(
        id=about.session_id[:100],
        user_id=users(about.user_id),
        platform=about.platform,
        cohort=about.cohort[:100] if about.cohort else None,
    )
    result = await ranker.rank(
        items,
        strategy=strategy,
        deadline_ms=deadline_ms,
        options={"seen_sessions": seen_sessions} if seen_sessions else None,
        user_id=session.user_id,
    )
    response = RankingResponse(
        ranked_ids=result.ranked_ids,
        metadata=RankingResponseMetadata(intervention_on=bool(result.scores)),
    )
    background = _recording(
        store,
        session,
        enabled=settings.rank_sessions and not about.prefetch,
        strategy=strategy,
        items=items,
        result=result,
    )
    return _json(response.model_dump(mode="json", exclude_none=True), background)
