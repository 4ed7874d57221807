"""The connector contract: a source of posts that can stop and resume where it left off.

A connector yields pages, each with the cursor that resumes *after* it; the runner stores
that cursor only once the page is queued, so a crash re-reads at most one page (and the
store's dedup key makes the re-read harmless).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import structlog
from pydantic import BaseModel, ValidationError

from sentiflow.ingest.validate import explain
from sentiflow.models import PostIn

log = structlog.get_logger("sentiflow.connectors")


def post_or_skip(source: str, fields: dict[str, Any]) -> PostIn | None:
    """The post these fields make, or None (logged with the reason) when one is invalid, so
    one bad item (a date far in the future, say) never costs the rest of its page."""
    try:
        return PostIn.model_validate(fields)
    except ValidationError as exc:
        log.warning("connector.item_skipped", source=source, error=explain(exc)[1])
        return None


@dataclass(frozen=True, slots=True)
class Page:
    """Posts fetched in one step and the cursor that resumes after them."""

    posts: list[PostIn]
    cursor: dict[str, Any] = field(default_factory=dict)


class Connector(Protocol):
    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def fetch(self, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        """New posts since `cursor` ({} the first time), page by page."""

    async def close(self) -> None: ...


class SearchableConnector(Connector, Protocol):
    def search(self, query: str, limit: int) -> AsyncIterator[list[PostIn]]:
        """Posts matching `query` at the source, up to `limit` in all."""
