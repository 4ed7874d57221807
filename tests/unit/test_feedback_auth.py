"""API keys: every write and review route needs a scope (401 without a key, 403 with the
wrong one), keys are stored only as hashes, revocation works, reads follow the setting."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from sqlalchemy import select
from starlette.testclient import TestClient

from sentiflow.api import create_app
from sentiflow.feedback.auth import SCOPES, auth_enabled, create_key
from sentiflow.settings import Settings
from sentiflow.store.schema import api_keys

# POSTs that only read: they rank or score what the caller sends and store nothing, so a
# `read` key (or none, when reads are open) is enough. Add a route here only with a reason.
READ_LIKE_POSTS = {
    ("POST", "/api/rank"),  # ranks the feed in the request body; writes nothing
    ("POST", "/rank"),  # the ranking-challenge protocol's endpoint, same as /api/rank
    ("POST", "/api/analyze"),  # labels the texts in the request body; stores nothing
    ("POST", "/api/session"),  # signs in: checks the key sent in the body itself
    ("DELETE", "/api/session"),  # signs out: ends only the session of the cookie sent
}


def routes(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    """(method, path, dependant) of every API route, including those of included routers."""
    for route in app.routes:
        # A mounted router's routes, or the route itself: FastAPI's route classes share no
        # base that has `methods`, `path` and `dependant`.
        contexts: list[Any] = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
        )
        for context in contexts:
            dependant = getattr(context, "dependant", None)
            if dependant is None:
                continue
            for method in sorted(context.methods or ()):
                yield method, context.path, dependant


def scopes(dependant: Any) -> set[str]:
    """The scopes `require_scope` guards anywhere in a route's dependency tree."""
    found = set()
    for sub in dependant.dependencies:
        if getattr(sub.call, "scope", None):
            found.add(sub.call.scope)
        found |= scopes(sub)
    return found


def guarded(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, scope) of every route that needs more than `read`."""
    out = []
    for method, path, dependant in routes(app):
        needed = scopes(dependant) - {"read"}
        if needed:
            out.append((method, path, needed.pop()))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nope", path)


@pytest.fixture
def secured_settings(settings: Settings) -> Settings:
    # These tests send each key dozens of refused calls at once; rate limits have their own.
    return settings.model_copy(update={"auth": "required", "rate_limits": False})


@pytest.fixture
async def secured(
    secured_settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client on an app that requires keys, and one key per scope."""
    app = create_app(secured_settings, worker=True)
    async with app.router.lifespan_context(app):
        store = app.state.services.store
        keys: dict[str, str] = {
            s: (await create_key(store, name=f"{s}-team", scopes=[s]))[0] for s in SCOPES
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client, keys


def test_every_write_route_needs_a_scope(settings: Settings) -> None:
    app = create_app(settings)
    unguarded = [
        (method, path)
        for method, path, dependant in routes(app)
        if path.startswith("/api")
        and method not in ("GET", "HEAD")
        and not (scopes(dependant) - {"read"})
        and (method, path) not in READ_LIKE_POSTS
    ]
    assert unguarded == [], f"write routes without require_scope(...): {unguarded}"
    assert ("POST", "/api/posts", "ingest") in guarded(app)
    assert ("POST", "/api/posts/{post_id}/corrections", "review") in guarded(app)
    assert ("GET", "/api/review", "review") in guarded(app)
    assert ("POST", "/api/datasets", "admin") in guarded(app)


async def test_guarded_routes_answer_401_then_403(
    secured: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, keys = secured
    checked = 0
    for method, path, scope in guarded(client.app):  # type: ignore[attr-defined]
        url = concrete(path)
        anonymous = await client.request(method, url)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.json()["error"]["code"] == "unauthorized"
        wrong = next(s for s in ("read", "ingest", "review") if s != scope)
        for header in ({"Authorization": f"Bearer {keys[wrong]}"}, {"X-API-Key": keys[wrong]}):
            response = await client.request(method, url, headers=header)
            assert response.status_code == 403, (method, path, wrong, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 8


async def test_right_scope_gets_through(secured: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = secured
    post = {"source": "s", "text": "fine words"}
    ingest = await client.post("/api/posts", json=post, headers={"X-API-Key": keys["ingest"]})
    assert ingest.status_code == 202
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert (await client.post("/api/posts", json=post, headers=admin)).status_code == 202
    assert (await client.get("/api/review", headers=admin)).status_code == 200
    forged = keys["admin"][:-4] + "AAAA"
    bad = await client.get("/api/keys", headers={"Authorization": f"Bearer {forged}"})
    assert bad.status_code == 401


async def test_keys_are_stored_only_as_hashes(
    secured: tuple[httpx.AsyncClient, dict[str, str]], secured_settings: Settings
) -> None:
    client, keys = secured
    admin = {"X-API-Key": keys["admin"]}
    made = await client.post("/api/keys", json={"name": "ci", "scopes": ["ingest"]}, headers=admin)
    assert made.status_code == 201
    token = made.json()["key"]
    store = client.app.state.services.store  # type: ignore[attr-defined]
    async with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(select(api_keys))).all()]
    stored_text = repr(rows)
    for secret in [token, *keys.values()]:
        assert secret not in stored_text
        assert secret.split("_", 2)[2] not in stored_text  # the random part alone
    assert hashlib.sha256(token.encode()).hexdigest() in {r["key_hash"] for r in rows}
    raw = b"".join(p.read_bytes() for p in secured_settings.data_dir.glob("sentiflow.db*"))
    assert token.encode() not in raw
    listed = (await client.get("/api/keys", headers=admin)).json()
    assert "key" not in listed[0] and {k["name"] for k in listed} >= {"ci", "admin-team"}


async def test_revoked_key_is_refused(secured: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, keys = secured
    admin = {"X-API-Key": keys["admin"]}
    made = (
        await client.post("/api/keys", json={"name": "tmp", "scopes": ["ingest"]}, headers=admin)
    ).json()
    post = {"source": "s", "text": "hello"}
    assert (
        await client.post("/api/posts", json=post, headers={"X-API-Key": made["key"]})
    ).status_code == 202
    assert (await client.delete(f"/api/keys/{made['id']}", headers=admin)).status_code == 204
    refused = await client.post("/api/posts", json=post, headers={"X-API-Key": made["key"]})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


async def test_reads_follow_the_setting(secured_settings: Settings) -> None:
    app = create_app(secured_settings.model_copy(update={"reads_need_key": True}), worker=False)
    async with app.router.lifespan_context(app):
        token, _ = await create_key(app.state.services.store, name="reader", scopes=["read"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/api/posts")).status_code == 401
            assert (await client.get("/api/stats/summary")).status_code == 401
            headers = {"X-API-Key": token}
            assert (await client.get("/api/posts", headers=headers)).status_code == 200
            assert (await client.get("/health")).status_code == 200


async def test_reads_are_open_by_default(secured: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, _ = secured
    assert (await client.get("/api/posts")).status_code == 200


def test_when_keys_are_required(settings: Settings) -> None:
    assert not auth_enabled(settings)  # embedded, 127.0.0.1
    assert auth_enabled(settings.model_copy(update={"host": "0.0.0.0"}))
    distributed = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://x/y", "redis_url": "redis://x"}
    )
    assert auth_enabled(distributed)
    assert not auth_enabled(distributed.model_copy(update={"auth": "disabled"}))
    assert auth_enabled(settings.model_copy(update={"auth": "required"}))


def test_read_guard_leaves_websockets_alone(secured_settings: Settings) -> None:
    app = create_app(secured_settings.model_copy(update={"reads_need_key": True}), worker=False)

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws/echo") as ws:
        assert ws.receive_text() == "hello"
