"""/metrics: Prometheus exposition of every process's counters and the queue right now."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from sentiflow.api.deps import BrokerDep
from sentiflow.errors import Unavailable
from sentiflow.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def prometheus(broker: BrokerDep) -> Response:
    info: dict[str, int] = {}
    try:
        queue_info = getattr(broker, "queue_info", None)
        # Both brokers have queue_info; the Broker protocol leaves it out as optional.
        info = await queue_info() if queue_info else {"lag": await broker.backlog()}
    except Unavailable:
        pass  # the counters still tell something; /health says what is down
    return Response(render(info), media_type=CONTENT_TYPE)
