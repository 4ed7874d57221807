"""SENTIFLOW_BOOTSTRAP_ADMIN_KEY: checked by the settings without echoing it, stored hashed by
the API's start, idempotent across restarts, rotated by a new secret under the same id, left
revoked once revoked, and never logged."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from structlog.testing import capture_logs

from sentiflow.api import create_app
from sentiflow.errors import ConfigError, Unauthorized
from sentiflow.feedback.auth import authenticate, create_key, revoke_key
from sentiflow.feedback.bootstrap import NAME, ensure_bootstrap_key
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import api_keys

KEY = "sf_admin_" + "k3y" * 12
NEW = "sf_admin_" + "n3w" * 12


@pytest.fixture
async def store(settings: Settings) -> Store:
    store = Store.from_settings(settings)
    await store.migrate()
    return store


async def rows(store: Store) -> list[dict[str, object]]:
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(api_keys))]


def test_settings_check_the_shape_without_echoing_the_key() -> None:
    assert Settings(bootstrap_admin_key="").bootstrap_admin_key is None  # compose's unset
    assert Settings(bootstrap_admin_key=KEY).bootstrap_admin_key == SecretStr(KEY)
    for bad in ("sf_admin_tooshort", "admin_" + "x" * 40, "sf_a_b_" + "x" * 10, "sf__" + "x" * 40):
        with pytest.raises(ValidationError) as caught:
            Settings(bootstrap_admin_key=bad)
        assert "SENTIFLOW_BOOTSTRAP_ADMIN_KEY must look like sf_<id>_<secret>" in str(caught.value)
        assert bad not in str(caught.value)


async def test_stored_hashed_and_idempotent(store: Store) -> None:
    for _ in range(3):
        await ensure_bootstrap_key(store, SecretStr(KEY))
    (row,) = await rows(store)
    assert row["id"] == "admin" and row["name"] == NAME and row["scopes"] == ["admin"]
    assert KEY not in str(row)
    principal = await authenticate(store, KEY)
    assert principal.allows("admin") and principal.name == NAME
    await store.close()


async def test_processes_starting_together_store_it_once(settings: Settings) -> None:
    first = Store.from_settings(settings)
    await first.migrate()
    stores = [first, *(Store.from_settings(settings) for _ in range(5))]
    await asyncio.gather(*(ensure_bootstrap_key(s, SecretStr(KEY)) for s in stores))
    assert len(await rows(first)) == 1
    for s in stores:
        await s.close()


async def test_a_new_secret_under_the_same_id_replaces_the_old(store: Store) -> None:
    await ensure_bootstrap_key(store, SecretStr(KEY))
    await ensure_bootstrap_key(store, SecretStr(NEW))
    assert len(await rows(store)) == 1
    assert (await authenticate(store, NEW)).allows("admin")
    with pytest.raises(Unauthorized):
        await authenticate(store, KEY)
    await store.close()


async def test_a_revoked_bootstrap_key_stays_revoked(store: Store) -> None:
    await ensure_bootstrap_key(store, SecretStr(KEY))
    assert await revoke_key(store, NAME) == 1
    with capture_logs() as logs:
        await ensure_bootstrap_key(store, SecretStr(KEY))
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(store, KEY)
    assert [e["event"] for e in logs] == ["auth.bootstrap_key_revoked"]
    # A new secret is the way back in.
    await ensure_bootstrap_key(store, SecretStr(NEW))
    assert (await authenticate(store, NEW)).allows("admin")
    await store.close()


async def test_an_id_taken_by_another_key_is_refused(store: Store) -> None:
    token, record = await create_key(store, name="ops", scopes=["review"])
    taken = f"sf_{record.id}_" + "x" * 40
    with pytest.raises(ConfigError, match="'ops'"):
        await ensure_bootstrap_key(store, SecretStr(taken))
    principal = await authenticate(store, token)  # the existing key is untouched
    assert principal.scopes == frozenset({"review"})
    await store.close()


async def test_the_api_accepts_it_from_its_start_and_never_logs_it(settings: Settings) -> None:
    secured = settings.model_copy(
        update={"auth": "required", "bootstrap_admin_key": SecretStr(KEY)}
    )
    app = create_app(secured, worker=True)
    with capture_logs() as logs:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                post = {"source": "web", "text": "first post"}
                assert (await client.post("/api/posts", json=post)).status_code == 401
                bearer = {"Authorization": f"Bearer {KEY}"}
                response = await client.post("/api/posts", json=post, headers=bearer)
                assert response.status_code == 202
                keys = await client.get("/api/keys", headers=bearer)
                assert [k["name"] for k in keys.json()] == [NAME]
    assert any(e["event"] == "auth.bootstrap_key" for e in logs)
    assert KEY.split("_", 2)[2] not in repr(logs)
