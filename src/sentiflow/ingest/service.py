"""The one way posts enter the system: validate, drop in-batch repeats, queue on the broker."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sentiflow.ingest.validate import Rejection, dedupe, validate_posts
from sentiflow.queue.base import Broker


@dataclass(slots=True)  # not frozen: made once per post, and a frozen one costs more to make
class Accepted:
    index: int
    id: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: list[Accepted]
    rejected: list[Rejection]


async def submit(
    broker: Broker, items: Iterable[Any], *, defaults: dict[str, Any] | None = None
) -> IngestResult:
    """Queue the valid items; raises `Backpressure` (nothing queued) when the broker is full."""
    valid, rejected = validate_posts(items, defaults=defaults)
    if valid:
        await broker.publish(dedupe([post for _, post in valid]))
    return IngestResult(accepted=[Accepted(i, post.id) for i, post in valid], rejected=rejected)
