"""Validate a batch item by item: valid posts go on, each bad one is reported by index and field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from sentiflow.models import PostIn

MAX_BATCH = 1_000
_POSTS: Final = TypeAdapter(list[PostIn])


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    field: str
    message: str


def explain(exc: ValidationError) -> tuple[str, str]:
    """The first error of a pydantic ValidationError as (field, what to do)."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"]) or "body"
    kind = err["type"]
    if kind == "extra_forbidden":
        known = ", ".join(PostIn.model_fields)
        return loc, f"unknown field {loc!r}; a post has only: {known}"
    if kind == "missing":
        return loc, f"{loc} is required"
    if kind.startswith("datetime"):
        return loc, f"{loc} is not an ISO 8601 date-time (e.g. 2026-11-24T09:30:00Z)"
    message = str(err["msg"]).removeprefix("Value error, ")
    return loc, f"{loc}: {message}"


def validate_posts(
    items: Iterable[Any], *, defaults: dict[str, Any] | None = None
) -> tuple[list[tuple[int, PostIn]], list[Rejection]]:
    items = [{**defaults, **i} if defaults and isinstance(i, dict) else i for i in items]
    if all(isinstance(item, dict) for item in items):
        # The usual batch, all valid: one call into pydantic-core for the whole list, cheaper
        # per post than one call each. Any error: item by item, to name the bad one.
        try:
            return list(enumerate(_POSTS.validate_python(items))), []
        except ValidationError:
            pass
    accepted: list[tuple[int, PostIn]] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejection(index, "body", "each post must be a JSON object"))
            continue
        try:
            accepted.append((index, PostIn.model_validate(item)))
        except ValidationError as exc:
            field, message = explain(exc)
            rejected.append(Rejection(index, field, message))
    return accepted, rejected


def dedupe(posts: Sequence[PostIn]) -> list[PostIn]:
    """Drop repeats of a dedup key within one batch (the store drops repeats across batches)."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for post in posts:
        if post.dedup_key not in seen:
            seen.add(post.dedup_key)
            unique.append(post)
    return unique
