"""/metrics: Prometheus exposition of every process's counters and the queue right now."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from fastapi.responses import Response

from sentiflow.api.deps import AdminDep
from sentiflow.errors import Unavailable
from sentiflow.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def prometheus(admin: AdminDep) -> Response:
    try:
        figures = dataclasses.asdict(await admin.stats())
    except Unavailable:
        figures = {}  # the counters still tell something; /health says what is down
    return Response(render(figures), media_type=CONTENT_TYPE)
