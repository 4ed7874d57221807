"""Request caps and browser-facing headers: bodies over the cap get 413 while being read
(chunked too), long targets 414, large headers 431; CORS only for listed origins; security
headers on the dashboard and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sentiflow.api import create_app
from sentiflow.settings import Settings


@pytest.fixture
async def capped(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(
            update={"max_body_bytes": 64 * 1024, "cors_origins": ["http://ok.example"]}
        ),
        worker=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


async def test_a_30_mb_body_gets_413(client: httpx.AsyncClient) -> None:
    body = b"[" + b'{"source": "s", "text": "' + b"x" * (30 * 2**20) + b'"}]'
    response = await client.post(
        "/api/posts", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "16 MiB" in error["message"]


async def test_a_chunked_body_is_stopped_at_the_cap(capped: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"source": "s", "text": "'
        for _ in range(1000):
            sent += 16 * 1024
            yield b"x" * (16 * 1024)
        yield b'"}'

    response = await capped.post(
        "/api/posts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "64 KiB" in response.json()["error"]["message"]
    assert sent < 200 * 16 * 1024, "the server read far past the cap"


async def test_long_targets_and_large_headers(client: httpx.AsyncClient) -> None:
    long = await client.get("/api/posts", params={"q": "x" * 9000})
    assert long.status_code == 414
    huge = await client.get("/api/posts", headers={"x-junk": "y" * 40_000})
    assert huge.status_code == 431


async def test_cors_only_for_listed_origins(capped: httpx.AsyncClient) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }

    evil = await capped.options("/api/posts", headers=preflight("http://evil.example"))
    assert "access-control-allow-origin" not in evil.headers
    ok = await capped.options("/api/posts", headers=preflight("http://ok.example"))
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://ok.example"
    assert ok.headers["access-control-allow-credentials"] == "true"
    simple = await capped.get("/api/posts", headers={"Origin": "http://ok.example"})
    assert simple.headers["access-control-allow-origin"] == "http://ok.example"
    other = await capped.get("/api/posts", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/posts", headers={"Origin": "http://ok.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/", "/api/posts", "/health", "/static/js/main.js", "/nope"])
async def test_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_dashboard_has_no_inline_script_or_style(client: httpx.AsyncClient) -> None:
    import re

    for path in ("/", "/docs"):
        page = (await client.get(path)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert "<style" not in page and " style=" not in page and "onclick" not in page, path
