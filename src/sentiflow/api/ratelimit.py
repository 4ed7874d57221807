"""Rate limits at the API's edge: one token bucket per key (or, without one, per client
address) and route scope, checked by the scope dependencies; the RateLimit headers of the
check go on the response, and past the limit it is a 429 with Retry-After."""

from __future__ import annotations

import functools
import math

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiflow.errors import RateLimited
from sentiflow.feedback.auth import Principal
from sentiflow.ratelimit.base import Decision, Rate, RateLimiter
from sentiflow.settings import Settings

STATE = "ratelimit"


@functools.lru_cache(maxsize=256)
def _rate(text: str) -> Rate:
    return Rate.parse(text)


async def limit_request(
    connection: HTTPConnection,
    settings: Settings,
    limiter: RateLimiter,
    scope: str,
    principal: Principal | None,
) -> None:
    """Take a token for this request from its bucket, or raise `RateLimited`."""
    if not settings.rate_limits:
        return
    default = getattr(settings, f"rate_limit_{scope}")
    if principal is not None and principal.key_id is not None:
        who, bucket = f"the API key {principal.name!r}", f"key:{principal.key_id}:{scope}"
        text = principal.rate_limit or default
    else:
        address = connection.client.host if connection.client else "unknown"
        who, bucket, text = f"client {address}", f"addr:{address}:{scope}", default
    decision = await limiter.hit(bucket, _rate(text))
    connection.scope.setdefault("state", {})[STATE] = decision
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after_s))
        raise RateLimited(
            f"{who} is over its rate limit of {text} for {scope} requests; retry in {wait} s "
            "(the RateLimit-* headers say how much is left)",
            retry_after=decision.retry_after_s,
        )


def headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(math.ceil(decision.reset_s)),
    }


class RateLimitHeaders:
    """ASGI middleware: the RateLimit-* headers of the request's check on its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(STATE)
                if decision is not None:
                    response_headers = MutableHeaders(scope=message)
                    for name, value in headers(decision).items():
                        response_headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
