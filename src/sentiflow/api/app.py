"""The FastAPI app factory. The lifespan opens the process's services (`roles.serve_api`) and
puts them, and the live hub, on the app's state for the dependencies of `api/deps.py`."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from sentiflow import __version__, dashboard
from sentiflow import metrics as process_metrics
from sentiflow.api import (
    alerts,
    analyze,
    corrections,
    datasets,
    docs,
    erasure,
    errors,
    exports,
    health,
    keys,
    live,
    metrics,
    posts,
    rank,
    rank_sessions,
    review,
    searches,
    sessions,
    sources,
    stats,
    trends,
    urgent,
)
from sentiflow.api.contract import document_errors
from sentiflow.api.deps import guard_reads
from sentiflow.api.live_hub import LiveHub
from sentiflow.api.network import protect
from sentiflow.api.ratelimit import RateLimitHeaders
from sentiflow.api.security_headers import SecurityHeaders
from sentiflow.models import PostIn
from sentiflow.roles import freeze_startup_heap, serve_api
from sentiflow.settings import Settings


def create_app(
    settings: Settings | None = None, *, worker: bool | None = None, demo: bool = False
) -> FastAPI:
    """An app for `settings`. `worker` (default: embedded mode) runs the analysis in process."""
    settings = settings or Settings()
    run_worker = settings.embedded if worker is None else worker
    process_metrics.setup(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serve_api(settings, worker=run_worker, demo=demo) as services:
            app.state.services = services
            app.state.live = LiveHub(services.events, settings.live)
            freeze_startup_heap()
            try:
                yield
            finally:
                gc.unfreeze()

    app = FastAPI(
        title="sentiflow",
        version=__version__,
        summary="Live sentiment and emotion analytics for streams of posts and reviews.",
        lifespan=lifespan,
        dependencies=[Depends(guard_reads)],
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    protect(app, settings)
    # urgent and exports before posts: /api/posts/urgent must not be read as a post id.
    for module in (
        urgent,
        exports,
        posts,
        stats,
        trends,
        alerts,
        health,
        searches,
        sources,
        rank,
        live,
        metrics,
        keys,
        corrections,
        review,
        datasets,
        sessions,
        rank_sessions,
        analyze,
        erasure,
    ):
        app.include_router(module.router)
    dashboard.mount(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(SecurityHeaders, overrides=docs.mount(app))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["PostIn"] = (
                PostIn.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            document_errors(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
