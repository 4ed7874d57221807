"""FastAPI dependencies as `Annotated` aliases, so routes stay one line per need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from sentiflow.analytics.service import Analytics
from sentiflow.events import EventBus
from sentiflow.feedback.auth import LOCAL, Principal, auth_enabled, authenticate, check_scope
from sentiflow.queue.base import Broker
from sentiflow.ranking.engine import Ranker
from sentiflow.runtime import Runtime
from sentiflow.settings import Settings
from sentiflow.store.db import Store


def _runtime(request: HTTPConnection) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# The dependencies are `async def` although they only read app state: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop per dependency per request.
async def get_runtime(request: Request) -> Runtime:
    return _runtime(request)


async def get_settings(request: Request) -> Settings:
    return _runtime(request).settings


async def get_store(request: Request) -> Store:
    return _runtime(request).store


async def get_broker(request: Request) -> Broker:
    return _runtime(request).broker


async def get_events(request: Request) -> EventBus:
    return _runtime(request).events


async def get_ranker(request: Request) -> Ranker:
    ranker = _runtime(request).ranker
    assert ranker is not None, "the app's runtime was started without rank=True"
    return ranker


async def get_analytics(request: Request) -> Analytics:
    return _runtime(request).analytics


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
EventsDep = Annotated[EventBus, Depends(get_events)]
RankerDep = Annotated[Ranker, Depends(get_ranker)]
AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that lets the request through only with a key holding `scope`
    (401 without a valid key, 403 with the wrong scope); open when keys are not required,
    and for `read` unless SENTIFLOW_READS_NEED_KEY."""

    async def dependency(request: Request) -> Principal:
        runtime = _runtime(request)
        settings = runtime.settings
        if not auth_enabled(settings) or (scope == "read" and not settings.reads_need_key):
            return LOCAL
        principal = await authenticate(runtime.store, _presented_key(request))
        return check_scope(principal, scope)

    dependency.scope = scope  # type: ignore[attr-defined]  # found by the route-walking test
    return dependency


async def guard_reads(connection: HTTPConnection) -> None:
    """App-wide: GETs under /api need scope `read` when SENTIFLOW_READS_NEED_KEY, so read
    routes added later are covered without each declaring it. Typed as a connection so the
    app-level dependency also resolves for WebSocket routes, which it leaves alone."""
    if (
        isinstance(connection, Request)
        and connection.method in ("GET", "HEAD")
        and connection.url.path.startswith("/api/")
    ):
        await _read(connection)


_read = require_scope("read")
ReadKey = Annotated[Principal, Depends(_read)]
IngestKey = Annotated[Principal, Depends(require_scope("ingest"))]
ReviewKey = Annotated[Principal, Depends(require_scope("review"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
