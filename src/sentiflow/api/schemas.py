"""Response models of the API (request bodies reuse the canonical records)."""

from __future__ import annotations

from pydantic import BaseModel

from sentiflow.models import PostOut


class AcceptedItem(BaseModel):
    index: int
    id: str


class RejectedItem(BaseModel):
    index: int
    field: str
    message: str


class IngestResponse(BaseModel):
    accepted: list[AcceptedItem]
    rejected: list[RejectedItem]


class PostPage(BaseModel):
    items: list[PostOut]
    next_cursor: str | None


class Summary(BaseModel):
    total: int
    sentiment: dict[str, int]
    emotion: dict[str, int]
    avg_polarity: float
    posts_per_minute: float


class Health(BaseModel):
    status: str
    parts: dict[str, str]
