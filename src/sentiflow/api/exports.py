"""/api/posts/export: every post a filter of /api/posts matches, streamed as CSV, JSON Lines or
Parquet. Included before the posts router, so `export` is not taken for a post id."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from sentiflow.analytics import exports
from sentiflow.api.deps import PostFilterDep, StoreDep

router = APIRouter(prefix="/api/posts", tags=["posts"])
_FILE: dict[str, dict[str, object]] = {
    media.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
    for media in exports.MEDIA_TYPES.values()
}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"description": "The posts, newest first, as a file.", "content": _FILE}},
)
async def export(
    store: StoreDep, filters: PostFilterDep, format: exports.Format = "csv"
) -> StreamingResponse:
    """Every matching post with its analysis and effective label (the filters of GET
    /api/posts), streamed as it is read: a CSV with a header row, JSON Lines, or Parquet
    written one row group per chunk."""
    name = f"posts-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        exports.posts(store, filters, format),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
