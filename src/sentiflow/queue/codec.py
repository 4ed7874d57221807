"""How posts sit in the Redis stream: one entry carries the posts of one `publish` call (up to
`ENTRY_POSTS`) as a JSON array, and, for posts queued again after a failure, their deliveries
so far. Entry ids start with the milliseconds at which Redis accepted the entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson

from sentiflow.models import PostIn

# An entry's fields: its posts (a JSON array of post objects; one object in an entry that an
# older sentiflow wrote) and, for posts queued again after a failure, their deliveries so far.
FIELD: Final = b"p"
TRIES: Final = b"d"
# Posts per entry: one ingest request's worth. A worker reads whole entries.
ENTRY_POSTS: Final = 1_000


def decode(payload: bytes) -> list[PostIn]:
    """Trusted decode of an entry's posts (each `PostIn.payload()`): they were validated at
    ingest, so no validator runs again."""
    data = orjson.loads(payload)
    posts = []
    for fields in [data] if isinstance(data, dict) else data:
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        posts.append(PostIn.trusted(fields))
    return posts


def dumps(post: PostIn) -> bytes:
    return orjson.dumps(post.payload())


def entries(posts: Sequence[PostIn], tries: int) -> list[Any]:
    """The publish script's arguments for `posts`: (posts, deliveries so far, payload) per
    entry."""
    args: list[Any] = []
    for start in range(0, len(posts), ENTRY_POSTS):
        chunk = posts[start : start + ENTRY_POSTS]
        args += (len(chunk), tries, orjson.dumps([p.payload() for p in chunk]))
    return args


def fields_of(fields: Any) -> tuple[bytes, int]:
    """An entry's payload and deliveries so far, from XREADGROUP's flat [field, value, ...]
    list or XAUTOCLAIM's dict. No payload: an empty one (buried as undecodable)."""
    if isinstance(fields, dict):
        return fields.get(FIELD, b""), int(fields.get(TRIES, 0))
    fields = fields or []
    if len(fields) == 2 and fields[0] == FIELD:
        return fields[1], 0
    found = dict(zip(fields[::2], fields[1::2], strict=False))
    return found.get(FIELD, b""), int(found.get(TRIES, 0))


def accepted_at(entry_id: str) -> float:
    """A stream id starts with the milliseconds at which Redis accepted the entry."""
    return int(entry_id.split("-", 1)[0]) / 1000


def next_id(entry_id: str) -> str:
    ms, seq = entry_id.split("-", 1)
    return f"{ms}-{int(seq) + 1}"


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair."""
    ms, seq = entry_id.split("-", 1)
    return int(ms), int(seq)
