"""Request size caps, checked before the app reads anything: the request target (414), the
headers (431) and the body (413). The body is counted as it arrives, so a chunked body with
no Content-Length is stopped at the cap instead of being read whole into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentiflow.api.errors import error_body


class BodyTooLarge(HTTPException):
    """Raised from `receive` past the cap. An HTTPException, because FastAPI turns any other
    exception raised while it reads a body into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body exceeds {_size(limit)}; send less per request (or split it)"
        )


def _size(n: int) -> str:
    if n % 2**20 == 0:
        return f"{n // 2**20} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n:,} bytes"


class RequestLimits:
    """ASGI middleware: refuse requests whose target, headers or body exceed the caps."""

    def __init__(self, app: ASGIApp, *, body: int, url: int, headers: int) -> None:
        self.app = app
        self.body = body
        self.url = url
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > self.url:
            message = f"the request target is longer than {_size(self.url)}; shorten the query"
            await self._refuse(scope, receive, send, 414, "uri_too_long", message)
            return
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope["headers"])
        if header_bytes > self.headers:
            message = f"the request headers exceed {_size(self.headers)}; send fewer or shorter"
            await self._refuse(scope, receive, send, 431, "headers_too_large", message)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.body:
            await self._refuse(
                scope, receive, send, 413, "too_large", BodyTooLarge(self.body).detail
            )
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0
        limit = self.body

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
    ) -> None:
        from starlette.responses import JSONResponse

        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009, "reason": message[:120]})
            return
        field = "body" if status == 413 else None
        response = JSONResponse(error_body(code, message, field), status_code=status)
        # The client may still be sending: tell it not to reuse the connection.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
