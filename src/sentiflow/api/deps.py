"""FastAPI dependencies as `Annotated` aliases, so routes stay one line per need. Each hands a
route one of the services the app's lifespan opened (`roles.ApiServices`), never all of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request, WebSocket
from starlette.requests import HTTPConnection

from sentiflow.analytics.service import Analytics
from sentiflow.analyze.ondemand import OnDemand
from sentiflow.api.live_hub import LiveHub
from sentiflow.api.ratelimit import limit_request
from sentiflow.errors import Forbidden, RateLimited, Unauthorized
from sentiflow.events import EventBus
from sentiflow.feedback import sessions
from sentiflow.feedback.auth import LOCAL, Principal, auth_enabled, authenticate, check_scope
from sentiflow.feedback.corrections import Corrector
from sentiflow.feedback.datasets import Snapshots
from sentiflow.feedback.sessions import COOKIE
from sentiflow.keys import Keys
from sentiflow.lifecycle import Eraser
from sentiflow.locks import Locks
from sentiflow.models import Emotion, Sentiment
from sentiflow.queue.base import Broker, BrokerAdmin
from sentiflow.ranking.engine import Ranker
from sentiflow.ratelimit import RateLimiter
from sentiflow.roles import ApiServices
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter


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


async def get_eraser(request: Request) -> Eraser:
    return _services(request).eraser


async def get_ratelimiter(request: Request) -> RateLimiter:
    return _services(request).ratelimiter


async def get_on_demand(request: Request) -> OnDemand:
    return _services(request).on_demand


async def get_user_key(request: Request) -> Callable[[str], str]:
    return _services(request).user_key


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
EraserDep = Annotated[Eraser, Depends(get_eraser)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_ratelimiter)]
OnDemandDep = Annotated[OnDemand, Depends(get_on_demand)]
LiveDep = Annotated[LiveHub, Depends(get_live)]
UserKeyDep = Annotated[Callable[[str], str], Depends(get_user_key)]


LangQuery = Annotated[
    str | None,
    Query(
        pattern="^([a-z]{2})?$",
        description="Only posts in this language (ISO 639-1, e.g. `es`); an empty value "
        "selects posts whose language is unknown.",
    ),
]


async def post_filter(
    sentiment: Sentiment | None = None,
    emotion: Emotion | None = None,
    source: str | None = None,
    topic: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    group: Annotated[
        str | None,
        Query(max_length=24, description="Only this near-duplicate group (a post id)."),
    ] = None,
    lang: LangQuery = None,
) -> PostFilter:
    """The filters of a post listing, from its query parameters (GET /api/posts, exports)."""
    return PostFilter(
        sentiment=sentiment,
        emotion=emotion,
        source=source,
        topic=topic,
        q=q,
        since=since,
        until=until,
        min_confidence=min_confidence,
        group=group,
        lang=lang,
    )


PostFilterDep = Annotated[PostFilter, Depends(post_filter)]


def presented_key(connection: HTTPConnection) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key") or None


def same_origin(connection: HTTPConnection) -> bool:
    """Whether the browser says the page that sent this came from this server: what stops
    another site's page (a sibling subdomain, which SameSite lets through) from using the
    session cookie to write."""
    origin = connection.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == connection.headers.get("host")


async def authenticate_request(connection: HTTPConnection, store: Store) -> Principal:
    """The caller: by its API key, else by its dashboard session cookie."""
    key = presented_key(connection)
    cookie = connection.cookies.get(COOKIE)
    if key is not None or not cookie:
        return await authenticate(store, key)
    principal = await sessions.resolve(store, cookie)
    unsafe = isinstance(connection, Request) and connection.method not in ("GET", "HEAD")
    if (unsafe or connection.scope["type"] == "websocket") and not same_origin(connection):
        raise Forbidden(
            "a request signed in by the dashboard's cookie must come from the dashboard's own "
            "origin; other clients send the key in an Authorization header"
        )
    return principal


def require_scope(
    scope: str, *, limit: str | None = None
) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency that lets the request through only with a key (or a dashboard session)
    holding `scope` (401 without a valid one, 403 with the wrong scope); open when keys are
    not required, and for `read` unless SENTIFLOW_READS_NEED_KEY. Either way the request
    takes a token of rate limit `limit` (default: `scope`) from its key's or address's
    bucket (429 past it)."""
    category = limit or scope

    async def dependency(connection: HTTPConnection) -> Principal:
        services = _services(connection)
        settings, limiter = services.settings, services.ratelimiter
        if not auth_enabled(settings) or (scope == "read" and not settings.reads_need_key):
            await limit_request(connection, settings, limiter, category, None)
            return LOCAL
        try:
            principal = await authenticate_request(connection, services.store)
        except Unauthorized:
            # Refused callers are limited by address, so guessing keys soon meets a 429.
            await limit_request(connection, settings, limiter, category, None)
            raise
        await limit_request(connection, settings, limiter, category, principal)
        return check_scope(principal, scope)

    dependency.scope = scope  # type: ignore[attr-defined]  # found by the route-walking test
    return dependency


async def public(connection: HTTPConnection) -> None:
    """Marks a route under /api that anyone may call (it guards itself, like sign-in)."""


def _guards_itself(route: Any) -> bool:
    """Whether a route declares its own scope dependency (or `public`), which then takes the
    place of the app-wide read guard: one check, one rate-limit token, per request."""
    known: bool | None = getattr(route, "_guards_itself", None)
    if known is None:
        dependant = getattr(route, "dependant", None)
        calls = [d.call for d in dependant.dependencies] if dependant is not None else []
        known = any(c is public or hasattr(c, "scope") for c in calls)
        if route is not None:
            route._guards_itself = known  # computed once per route
    return known


async def guard_reads(connection: HTTPConnection) -> None:
    """App-wide: GETs under /api need scope `read` when SENTIFLOW_READS_NEED_KEY, so read
    routes added later are covered without each declaring it. Typed as a connection so the
    app-level dependency also resolves for WebSocket routes, which it leaves alone."""
    if (
        isinstance(connection, Request)
        and connection.method in ("GET", "HEAD")
        and connection.url.path.startswith("/api/")
        and not _guards_itself(connection.scope.get("route"))
    ):
        await _read(connection)


_read = require_scope("read")

# Close codes of a refused /ws/live client (a WebSocket has no status; 4000 + the HTTP one).
WS_REFUSED = {Unauthorized: 4401, Forbidden: 4403, RateLimited: 4429}


async def admit_reader(websocket: WebSocket) -> bool:
    """Accept a WebSocket client that may read (by key or session, when reads need one);
    refuse any other with close code 4401, 4403 or 4429 and the reason. Accepting first is
    what lets a browser see the code."""
    try:
        await _read(websocket)
    except (Unauthorized, Forbidden, RateLimited) as exc:
        await websocket.accept()
        await websocket.close(WS_REFUSED[type(exc)], exc.message[:120])
        return False
    await websocket.accept()
    return True


ReadKey = Annotated[Principal, Depends(_read)]
IngestKey = Annotated[Principal, Depends(require_scope("ingest"))]
ReviewKey = Annotated[Principal, Depends(require_scope("review"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
RankKey = Annotated[Principal, Depends(require_scope("read", limit="rank"))]
Public = Depends(public)
