"""One JSON error shape for every failure: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sentiflow.errors import SentiflowError, TooMany, Unauthorized, Unavailable

log = structlog.get_logger("sentiflow.api")


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}, **extra}


def install(app: FastAPI) -> None:
    @app.exception_handler(SentiflowError)
    async def _ours(_: Request, exc: SentiflowError) -> JSONResponse:
        headers = {}
        if isinstance(exc, TooMany):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="sentiflow"'
        # A 503 names the part that is down (store, broker, cache, locks, signals), as /health.
        field = exc.part if isinstance(exc, Unavailable) else exc.field
        return JSONResponse(
            error_body(exc.code, exc.message, field), status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p not in ("query", "path", "body", "header")]
        field = ".".join(loc) or None
        if err["type"] == "json_invalid":
            return JSONResponse(
                error_body("invalid_json", "the body is not valid JSON; send a JSON object"),
                status_code=400,
            )
        message = f"{field or 'request'}: {err['msg']}"
        return JSONResponse(error_body("invalid", message, field), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail), "body" if exc.status_code == 413 else None),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled", error=repr(exc))
        return JSONResponse(
            error_body("internal", "an unexpected error happened; it was logged"), status_code=500
        )
