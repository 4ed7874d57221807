"""Turn a ranking request body into `RankItem`s: sentiflow's own JSON (checked by hand, since
a pydantic model per item costs more than ranking it) and the Prosocial Ranking Challenge's
`RankingRequest`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress, repeat
from types import MappingProxyType, NoneType
from typing import TYPE_CHECKING, Any, Final

from sentiflow.errors import ValidationFailed
from sentiflow.models import MAX_TEXT, normalize_text
from sentiflow.ranking.base import RankItem
from sentiflow.ranking.sessions import Session, parse_session

if TYPE_CHECKING:
    from ranking_challenge.request import RankingRequest

MAX_ITEMS: Final = 1_000
MAX_DEADLINE_MS: Final = 60_000
_ITEM_FIELDS: Final = frozenset({"id", "text", "source", "author", "created_at", "meta"})
_BODY_FIELDS: Final = frozenset({"items", "strategy", "options", "session"})
# Shared by the items that have no meta: read-only.
_NO_META: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Feed:
    items: list[RankItem]
    strategy: str
    options: dict[str, Any]
    deadline_ms: float | None
    session: Session | None = None  # who the feed is for; recorded when given


def parse_feed(body: Any, *, default_strategy: str) -> Feed:
    """Check a POST /api/rank body; a bad one raises `ValidationFailed` naming the field."""
    if not isinstance(body, dict):
        raise ValidationFailed(
            'send a JSON object: {"items": [...], "strategy": "..."}', field="body"
        )
    extra = body.keys() - _BODY_FIELDS
    if extra:
        name = sorted(extra)[0]
        raise ValidationFailed(
            f"unknown field {name!r}; send items, strategy, options, session", field=name
        )
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not 0 < len(raw_items) <= MAX_ITEMS:
        raise ValidationFailed("items must be a list of 1 to 1,000 posts", field="items")
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
    items = _well_formed(raw_items)
    if items is None:
        items = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_items):
            item = _item(raw, index)
            if item.id in seen:
                raise _bad(index, "id", f"{item.id!r} appears twice; ids must be unique in a feed")
            seen.add(item.id)
            items.append(item)
    session = None if body.get("session") is None else parse_session(body["session"])
    return Feed(
        items=items, strategy=strategy, options=options, deadline_ms=deadline, session=session
    )


def _well_formed(raw_items: list[Any]) -> list[RankItem] | None:
    """The items, if every one is well formed and has a string id; None otherwise, and the
    item-by-item path (`_item`) then says which is not and why. This one checks a column at a
    time (`map`, `set`, `max` loop in C): item by item, checking was most of a request's CPU
    outside the engine. It accepts nothing that `_item` refuses, and builds the same items."""
    if set(map(type, raw_items)) != {dict}:
        return None
    fields = set().union(*raw_items)
    if not fields <= _ITEM_FIELDS:
        return None

    def column(name: str) -> list[Any]:
        if name not in fields:  # no item has it
            return [None] * len(raw_items)
        return list(map(dict.get, raw_items, repeat(name)))

    ids = column("id")
    if set(map(type, ids)) != {str} or not all(ids) or len(set(ids)) != len(ids):
        return None
    texts = _texts(column("text"))
    sources, authors = column("source"), column("author")
    if texts is None or not _strings_or_none(sources, 100) or not _strings_or_none(authors, 200):
        return None
    if any(sources):
        sources = [None if s is None else s.strip() or None for s in sources]
    created = _moments(column("created_at"))
    metas = _metas(column("meta"), present="meta" in fields)
    if created is None or metas is None:
        return None
    return list(map(RankItem, ids, texts, sources, authors, created, metas))


def _texts(texts: list[Any]) -> list[str] | None:
    """The texts normalised, or None if one is not a string of 1 to MAX_TEXT characters."""
    if set(map(type, texts)) != {str} or max(map(len, texts)) > 4 * MAX_TEXT:
        return None
    # Printable ASCII is already NFC and free of control characters: only strip it.
    plain = map(operator.and_, map(str.isascii, texts), map(str.isprintable, texts))
    others = list(compress(range(len(texts)), map(operator.not_, plain)))
    stripped = list(map(str.strip, texts))
    for i in others:
        stripped[i] = normalize_text(texts[i])
    if not all(stripped) or max(map(len, stripped)) > MAX_TEXT:
        return None
    return stripped


def _moments(created: list[Any]) -> list[datetime | None] | None:
    """The dates parsed (None where absent), or None if one is not a date."""
    if not any(created):
        return created
    try:
        return [None if c is None else _moment(c, i) for i, c in enumerate(created)]
    except ValidationFailed:
        return None


def _metas(metas: list[Any], *, present: bool) -> list[Mapping[str, Any]] | None:
    if not set(map(type, metas)) <= {dict, NoneType}:
        return None
    return [m or _NO_META for m in metas] if present else [_NO_META] * len(metas)


def _strings_or_none(values: list[Any], longest: int) -> bool:
    kinds = set(map(type, values))
    if kinds == {NoneType}:
        return True
    return kinds <= {str, NoneType} and max(map(len, filter(None, values)), default=0) <= longest


def _bad(index: int, name: str | None, problem: str) -> ValidationFailed:
    where = f"items.{index}" + (f".{name}" if name else "")
    return ValidationFailed(f"{where}: {problem}", field=where)


def _item(raw: Any, index: int) -> RankItem:
    """One item checked on its own, field by field in order, for the message that says what
    is wrong with the first bad one."""
    if type(raw) is not dict:
        raise _bad(index, None, "must be an object with id and text")
    if not raw.keys() <= _ITEM_FIELDS:
        name = sorted(raw.keys() - _ITEM_FIELDS)[0]
        raise _bad(index, name, "unknown field; put extra data in meta")
    item_id = _item_id(raw.get("id"), index)
    text = _item_text(raw.get("text"), index)
    source, author = raw.get("source"), raw.get("author")
    if source is not None:
        if type(source) is not str or len(source) > 100:
            raise _bad(index, "source", "must be a string of at most 100 characters")
        source = source.strip() or None
    if author is not None and (type(author) is not str or len(author) > 200):
        raise _bad(index, "author", "must be a string of at most 200 characters")
    created_at = raw.get("created_at")
    if created_at is not None:
        created_at = _moment(created_at, index)
    meta = raw.get("meta")
    if meta is not None and type(meta) is not dict:
        raise _bad(index, "meta", "must be an object")
    return RankItem(item_id, text, source, author, created_at, meta or {})


def _item_id(item_id: Any, index: int) -> str:
    if type(item_id) is str and item_id:
        return str(item_id)
    if type(item_id) is not int:
        raise _bad(index, "id", "must be a non-empty string")
    return str(item_id)


def _item_text(text: Any, index: int) -> str:
    if type(text) is not str or len(text) > 4 * MAX_TEXT:
        raise _bad(index, "text", f"must be a string of 1 to {MAX_TEXT:,} characters")
    # Printable ASCII is already NFC and free of control characters: only strip it.
    clean = text.strip() if text.isascii() and text.isprintable() else normalize_text(text)
    if not clean or len(clean) > MAX_TEXT:
        raise _bad(index, "text", f"must have 1 to {MAX_TEXT:,} characters after normalisation")
    return clean


def _moment(value: Any, index: int) -> datetime:
    try:
        if type(value) is not str or len(value) > 64:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(
            index, "created_at", "not an ISO 8601 date such as 2026-01-31T12:00:00Z"
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
