"""WS /ws/live and GET /api/live: the routes of the live feed (the hub is `live_hub.py`)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from sentiflow.api.deps import LiveDep, admit_reader
from sentiflow.api.live_hub import Client, LiveFilter, LiveStats
from sentiflow.models import Sentiment

router = APIRouter(tags=["live"])


@router.get("/api/live", response_model=LiveStats)
async def live_stats(hub: LiveDep) -> LiveStats:
    """Live clients connected to this process, messages sent and summaries dropped for slow ones."""
    return hub.snapshot()


@router.websocket("/ws/live")
async def live(
    websocket: WebSocket,
    hub: LiveDep,
    source: str | None = None,
    topic: str | None = None,
    sentiment: Sentiment | None = None,
) -> None:
    """Summaries of committed batches (and alerts), at most one per `live_interval_s`,
    filtered by `source`, `topic` and `sentiment`; `{"type": "ping"}` when quiet."""
    if not await admit_reader(websocket):
        return
    client = Client(websocket, LiveFilter(source, topic, sentiment), hub.settings)
    hub.join(client)
    try:
        await client.serve(hub.stats)
    finally:
        hub.leave(client)
