"""Turn a ranking request body into `RankItem`s: sentiflow's own JSON (checked by hand, since
a pydantic model per item costs more than ranking it) and the Prosocial Ranking Challenge's
`RankingRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from sentiflow.errors import ValidationFailed
from sentiflow.models import MAX_TEXT, normalize_text
from sentiflow.ranking.base import RankItem

if TYPE_CHECKING:
    from ranking_challenge.request import RankingRequest

MAX_ITEMS: Final = 1_000
MAX_DEADLINE_MS: Final = 60_000
_ITEM_FIELDS: Final = frozenset({"id", "text", "source", "author", "created_at", "meta"})
_BODY_FIELDS: Final = frozenset({"items", "strategy", "options"})


class TooMany(ValidationFailed):
    code = "too_many"
    status = 413


@dataclass(frozen=True, slots=True)
class Feed:
    items: list[RankItem]
    strategy: str
    options: dict[str, Any]
    deadline_ms: float | None


def _text(value: Any, where: str, *, limit: int) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{where} must be a string", field=where)
    if len(value) > limit:
        raise ValidationFailed(f"{where} is longer than {limit:,} characters", field=where)
    return value


def parse_feed(body: Any, *, default_strategy: str) -> Feed:
    """Check a POST /api/rank body; a bad one raises `ValidationFailed` naming the field."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            'send a JSON object: {"items": [...], "strategy": "..."}', field="body"
        )
    extra = body.keys() - _BODY_FIELDS
    if extra:
        name = sorted(extra)[0]
        raise ValidationFailed(f"unknown field {name!r}; send items, strategy, options", field=name)
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ValidationFailed("items must be a list of 1 to 1,000 posts", field="items")
    if len(raw_items) > MAX_ITEMS:
        raise TooMany(
            f"{len(raw_items):,} items in one request; rank at most {MAX_ITEMS:,} at a time",
            field="items",
        )
    strategy = body.get("strategy", default_strategy)
    if not isinstance(strategy, str):
        raise ValidationFailed("strategy must be a string", field="strategy")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ValidationFailed("options must be an object", field="options")
    options = dict(options)
    deadline = options.pop("deadline_ms", None)
    if deadline is not None and (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not 0 < deadline <= MAX_DEADLINE_MS
    ):
        raise ValidationFailed(
            f"options.deadline_ms must be a number of milliseconds in (0, {MAX_DEADLINE_MS:,}]",
            field="options.deadline_ms",
        )
    items: list[RankItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        items.append(_item(raw, f"items.{index}", seen))
    return Feed(items=items, strategy=strategy, options=options, deadline_ms=deadline)


def _item(raw: Any, where: str, seen: set[str]) -> RankItem:
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{where} must be an object with id and text", field=where)
    if not raw.keys() <= _ITEM_FIELDS:
        name = sorted(raw.keys() - _ITEM_FIELDS)[0]
        raise ValidationFailed(
            f"{where} has an unknown field {name!r}; put extra data in meta",
            field=f"{where}.{name}",
        )
    item_id = raw.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id:
        raise ValidationFailed(f"{where}.id must be a non-empty string", field=f"{where}.id")
    if item_id in seen:
        raise ValidationFailed(
            f"{where}.id {item_id!r} appears twice; ids must be unique in a feed",
            field=f"{where}.id",
        )
    seen.add(item_id)
    text = normalize_text(_text(raw.get("text"), f"{where}.text", limit=4 * MAX_TEXT))
    if not text or len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"{where}.text must have 1 to {MAX_TEXT:,} characters after normalisation",
            field=f"{where}.text",
        )
    source = raw.get("source")
    if source is not None:
        source = _text(source, f"{where}.source", limit=100).strip() or None
    author = raw.get("author")
    if author is not None:
        author = _text(author, f"{where}.author", limit=200)
    created_at = raw.get("created_at")
    if created_at is not None:
        created_at = _moment(created_at, f"{where}.created_at")
    meta = raw.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValidationFailed(f"{where}.meta must be an object", field=f"{where}.meta")
    return RankItem(
        id=item_id, text=text, source=source, author=author, created_at=created_at, meta=meta or {}
    )


def _moment(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_text(value, where, limit=64))
    except ValueError:
        raise ValidationFailed(
            f"{where} is not an ISO 8601 date such as 2026-01-31T12:00:00Z", field=where
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def from_challenge(request: RankingRequest) -> list[RankItem]:
    """The challenge's items as `RankItem`s: a Reddit title goes before the text, the
    platform is the source, the author's hash the author."""
    items = []
    for item in request.items:
        text = normalize_text(f"{item.title}\n\n{item.text}" if item.title else item.text)
        created = item.created_at
        items.append(
            RankItem(
                id=item.id,
                text=text or " ",
                source=request.session.platform,
                author=item.author_name_hash,
                created_at=created.replace(tzinfo=UTC) if created.tzinfo is None else created,
                meta={"type": item.type},
            )
        )
    return items
