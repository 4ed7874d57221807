"""/health: is every part this process depends on reachable?"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sentiflow.api.deps import RuntimeDep
from sentiflow.api.errors import error_body
from sentiflow.api.schemas import Health
from sentiflow.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {}})
async def health(runtime: RuntimeDep) -> Health | JSONResponse:
    parts: dict[str, str] = {}
    down: list[Unavailable] = []
    for name, check in (("store", runtime.store.ping), ("broker", runtime.broker.ping)):
        try:
            await check()
            parts[name] = "ok"
        except Unavailable as exc:
            parts[name] = "down"
            down.append(exc)
    if down:
        return JSONResponse(
            error_body(
                "unavailable", "; ".join(e.message for e in down), down[0].part, parts=parts
            ),
            status_code=503,
        )
    return Health(status="ok", parts=parts)
