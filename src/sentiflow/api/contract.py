"""The OpenAPI document, made honest: every operation lists the error statuses it can answer
with the one error shape, derived from what the operation takes (a body, path or query
parameters) and how it is guarded (a key scope, a rate limit), so a client generated from
the document expects what the server does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute

from sentiflow.api.deps import public

ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "Stable, e.g. unauthorized."},
                "message": {"type": "string", "description": "What happened, what to do."},
                "field": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "The field at fault, when one is.",
                },
            },
        }
    },
}
MEANING: Final = {
    400: "The body is not valid JSON.",
    401: "No valid API key (Authorization: Bearer, X-API-Key) or dashboard sign-in.",
    403: "The key lacks the scope this operation needs.",
    404: "No such resource.",
    409: "The resource is not in a state that allows this.",
    413: "The body is larger than SENTIFLOW_MAX_BODY_BYTES, or holds too many items.",
    414: "The request target is longer than SENTIFLOW_MAX_URL_BYTES.",
    422: "A field is invalid; `field` names it.",
    429: "Over the rate limit (rate_limited), or the queue is full (backpressure).",
    431: "The request headers are larger than SENTIFLOW_MAX_HEADER_BYTES.",
    503: "A backing service (database, Redis) is down; the message names it.",
}
RETRY: Final = {
    name: {"schema": {"type": "integer"}, "description": text}
    for name, text in (
        ("Retry-After", "Seconds to wait before trying again."),
        ("RateLimit-Limit", "Requests the bucket holds."),
        ("RateLimit-Remaining", "Requests left in it now."),
        ("RateLimit-Reset", "Seconds until it is full again."),
    )
}


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every API route in the schema, those of included routers too."""
    for route in app.routes:
        contexts = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
            if isinstance(route, APIRoute)
            else []
        )
        for context in contexts:
            if context.include_in_schema and context.methods:
                yield context


def _guarded(route: Any) -> bool:
    """Whether a key check and a rate limit apply: a scope dependency, or the app-wide read
    guard of GETs under /api."""
    calls = {d.call for d in route.dependant.dependencies}
    if public in calls:
        return False
    if any(hasattr(call, "scope") for call in calls):
        return True
    return route.path.startswith("/api/") and bool(route.methods & {"GET", "HEAD"})


def _statuses(route: Any, operation: dict[str, Any]) -> set[int]:
    statuses = {414, 431, 503}
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    parameters = operation.get("parameters", [])
    if parameters:
        statuses.add(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if _guarded(route):
        statuses |= {401, 403, 429}
    if route.path in ("/api/session",) and "requestBody" in operation:
        statuses |= {401, 403, 429}  # sign-in checks the key it is sent
    return statuses


def document_errors(app: FastAPI, schema: dict[str, Any]) -> None:
    """Add the error responses of every operation to `schema`, in place."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for route in _routes(app):
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            wanted = _statuses(route, operation) | {int(s) for s in responses if s.isdigit()}
            for status in sorted(s for s in wanted if s >= 400):
                entry = responses.setdefault(str(status), {})
                entry["description"] = entry.get("description") or MEANING.get(status, "")
                if entry["description"] in ("Additional Response", "Validation Error"):
                    entry["description"] = MEANING.get(status, entry["description"])
                entry["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }
                if status == 429:
                    entry["headers"] = RETRY
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
