"""The connector contract: a source of posts that can stop and resume where it left off.

A connector yields pages, each with the cursor that resumes *after* it; the runner stores
that cursor only once the page is queued, so a crash re-reads at most one page (and the
store's dedup key makes the re-read harmless).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from sentiflow.models import PostIn


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
