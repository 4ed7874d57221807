"""FastAPI dependencies as `Annotated` aliases, so routes stay one line per need. Each hands a
route one of the services the app's lifespan opened (`roles.ApiServices`), never all of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from sentiflow.analytics.service import Analytics
from sentiflow.api.live_hub import LiveHub
from sentiflow.events import EventBus
from sentiflow.feedback.auth import LOCAL, Principal, auth_enabled, authenticate, check_scope
from sentiflow.feedback.corrections import Corrector
from sentiflow.feedback.datasets import Snapshots
from sentiflow.keys import Keys
from sentiflow.locks import Locks
from sentiflow.queue.base import Broker, BrokerAdmin
from sentiflow.ranking.engine import Ranker
from sentiflow.roles import ApiServices
from sentiflow.settings import Settings
from sentiflow.store.db import Store


def _services(request: HTTPConnection) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


# The dependencies are `async def` although they only read app state: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop per dependency per request.
async def get_settings(request: Request) -> Settings:
    return _services(request).settings


async def get_store(request: Request) -> Store:
    return _services(request).store


async def get_broker(request: Request) -> Broker:
    return _services(request).broker


async def get_admin(request: Request) -> BrokerAdmin:
    return _services(request).admin


async def get_events(request: Request) -> EventBus:
    return _services(request).events


async def get_locks(request: Request) -> Locks:
    return _services(request).locks


async def get_keys(request: Request) -> Keys:
    return _services(request).keys


async def get_ranker(request: Request) -> Ranker:
    return _services(request).ranker


async def get_analytics(request: Request) -> Analytics:
    return _services(request).analytics


async def get_snapshots(request: Request) -> Snapshots:
    return _services(request).snapshots


async def get_corrector(request: Request) -> Corrector:
    return _services(request).corrector


async def get_live(connection: HTTPConnection) -> LiveHub:
    hub: LiveHub = connection.app.state.live  # a connection: the WebSocket route uses it too
    return hub


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
AdminDep = Annotated[BrokerAdmin, Depends(get_admin)]
EventsDep = Annotated[EventBus, Depends(get_events)]
LocksDep = Annotated[Locks, Depends(get_locks)]
KeysDep = Annotated[Keys, Depends(get_keys)]
RankerDep = Annotated[Ranker, Depends(get_ranker)]
AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]
SnapshotsDep = Annotated[Snapshots, Depends(get_snapshots)]
CorrectorDep = Annotated[Corrector, Depends(get_corrector)]
LiveDep = Annotated[LiveHub, Depends(get_live)]


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
        services = _services(request)
        settings = services.settings
        if not auth_enabled(settings) or (scope == "read" and not settings.reads_need_key):
            return LOCAL
        principal = await authenticate(services.store, _presented_key(request))
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
