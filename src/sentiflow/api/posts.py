"""/api/posts: ingest one post or a batch, list and fetch stored posts."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from sentiflow.api.deps import BrokerDep, IngestKey, PostFilterDep, StoreDep
from sentiflow.api.errors import error_body
from sentiflow.api.schemas import IngestResponse, PostPage
from sentiflow.errors import NotFound
from sentiflow.ingest.service import submit
from sentiflow.ingest.validate import MAX_BATCH
from sentiflow.models import PostOut
from sentiflow.store import posts as post_store

router = APIRouter(prefix="/api/posts", tags=["posts"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/PostIn"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/PostIn"},
                            "maxItems": MAX_BATCH,
                        },
                    ]
                }
            }
        },
    }
}


def _fail(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


@router.post(
    "",
    status_code=202,
    response_model=IngestResponse,
    openapi_extra=_BODY_SCHEMA,
    responses={400: {}, 413: {}, 422: {}, 429: {}},
)
async def ingest(request: Request, broker: BrokerDep, _: IngestKey) -> Any:
    """Queue one post or a list of up to 1,000. Valid items of a mixed batch are kept;
    each rejected one is reported with its index, field and what to do."""
    raw = await request.body()  # capped by SENTIFLOW_MAX_BODY_BYTES as it is read
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _fail(
            400, "invalid_json", "the body is not valid JSON; send a post object or a list"
        )
    items = body if isinstance(body, list) else [body]
    if len(items) > MAX_BATCH:
        return _fail(
            413,
            "too_many",
            f"{len(items):,} posts in one request; send at most {MAX_BATCH:,} per request",
            "body",
        )
    if not items:
        return _fail(422, "invalid", "the list is empty; send at least one post", "body")
    result = await submit(broker, items)
    response = IngestResponse.model_validate(result, from_attributes=True)
    if not result.accepted:
        first = result.rejected[0]
        return JSONResponse(
            {
                **error_body("invalid", first.message, first.field),
                "rejected": [r.model_dump() for r in response.rejected],
            },
            status_code=422,
        )
    return response


@router.get("", response_model=PostPage)
async def list_posts(
    store: StoreDep,
    filters: PostFilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> PostPage:
    """Stored posts, newest first, with their analyses; pass `next_cursor` for the next page."""
    page = await post_store.list_posts(store, filters, limit=limit, cursor=cursor)
    return PostPage(items=page.items, next_cursor=page.next_cursor)


@router.get("/{post_id}", response_model=PostOut)
async def get_post(post_id: str, store: StoreDep) -> PostOut:
    post = await post_store.get_post(store, post_id)
    if post is None:
        raise NotFound(f"no post with id {post_id!r}; ids come from POST /api/posts", field="id")
    return post
