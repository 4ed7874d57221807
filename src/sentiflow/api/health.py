"""/health: is every part this process depends on reachable? Each is asked under
`health_timeout_s`, so the answer comes within that even when a part hangs (a probe's own
timeout is short), and a part that is down is named."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sentiflow.api.deps import BrokerDep, SettingsDep, StoreDep
from sentiflow.api.errors import error_body
from sentiflow.api.schemas import Health
from sentiflow.errors import Unavailable

router = APIRouter(tags=["health"])


async def _check(
    part: str, ping: Callable[[], Awaitable[None]], timeout: float
) -> Unavailable | None:
    try:
        async with asyncio.timeout(timeout):
            await ping()
    except Unavailable as exc:
        return exc
    except TimeoutError:
        return Unavailable(f"the {part} did not answer within {timeout:g} s", part=part)
    return None


@router.get("/health", response_model=Health, responses={503: {}})
async def health(
    settings: SettingsDep, store: StoreDep, broker: BrokerDep
) -> Health | JSONResponse:
    timeout = settings.health_timeout_s
    checks = {"store": store.ping, "broker": broker.ping}
    outcomes = await asyncio.gather(*(_check(part, ping, timeout) for part, ping in checks.items()))
    parts = {
        part: "ok" if down is None else "down" for part, down in zip(checks, outcomes, strict=True)
    }
    down = [exc for exc in outcomes if exc is not None]
    if down:
        return JSONResponse(
            error_body(
                "unavailable", "; ".join(e.message for e in down), down[0].part, parts=parts
            ),
            status_code=503,
        )
    return Health(status="ok", parts=parts)
