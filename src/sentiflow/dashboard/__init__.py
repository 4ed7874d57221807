"""The live dashboard (`/`) and the review screen (`/review`): static files (HTML, ES modules,
vendored uPlot) served by the API.

Everything it loads ships in this package, so it works with no network beyond the API itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """`/` answers the dashboard page, `/review` the review screen; their assets live under
    `/static/`."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/review", include_in_schema=False)
    async def review() -> FileResponse:
        return FileResponse(STATIC / "review.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard")
