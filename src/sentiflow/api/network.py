"""What stands between the network and the routes: request size caps and CORS."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from sentiflow.api.limits import RequestLimits
from sentiflow.settings import Settings

# Headers a browser page on a listed origin may read from our answers.
EXPOSED = ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]


def protect(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        RequestLimits,
        body=settings.max_body_bytes,
        url=settings.max_url_bytes,
        headers=settings.max_header_bytes,
    )
    if settings.cors_origins:
        # Only listed origins are echoed, and only they get Allow-Credentials; with no list
        # there is no CORS at all: the browser keeps other origins out (same origin only).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=EXPOSED,
            max_age=600,
        )
