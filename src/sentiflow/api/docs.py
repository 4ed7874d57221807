"""/docs: the interactive API docs (Swagger UI) without an inline script, so they work under
the same Content-Security-Policy as everything else, widened only for Swagger UI's CDN."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from sentiflow.api.security_headers import POLICY

SWAGGER: Final = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
PATH: Final = "/docs"
# Swagger UI's script and style come from its CDN; the page's own script is a file of ours.
DOCS_POLICY: Final = (
    POLICY.replace("script-src 'self'", f"script-src 'self' {SWAGGER}/")
    .replace("style-src 'self'", f"style-src 'self' {SWAGGER}/")
    .replace("img-src 'self' data:", "img-src 'self' data: https:")
)
PAGE: Final = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sentiflow · API docs</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{SWAGGER}/swagger-ui-bundle.js"></script>
  <script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


def mount(app: FastAPI) -> dict[str, dict[str, str]]:
    """Add /docs; returns the header overrides its page needs."""

    @app.get(PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE)

    return {PATH: {"Content-Security-Policy": DOCS_POLICY}}
