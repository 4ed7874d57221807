"""From a laptop to a server and through a post's life, as a user does it: an embedded install
with 550 posts is copied into PostgreSQL with `sentiflow db copy`, the distributed API counts
them, one author is erased, then the posts older than a year are purged; the rollups keep
counting what was purged (not what was erased)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from sentiflow.api import create_app
from sentiflow.settings import Settings
from tests.conftest import wait_for

pytestmark = pytest.mark.connected
SRC = str(Path(__file__).resolve().parents[2] / "src")
SINCE = {"source": "ops", "since": "2000-01-01T00:00:00Z"}


async def sentiflow(env: dict[str, str], *args: str) -> str:
    """The CLI in its own process, as a user runs it; its output (stdout and stderr)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTIFLOW_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sentiflow", *args,
        env={**clean, **env, "PYTHONPATH": SRC},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def client(settings: Settings, *, worker: bool) -> AsyncGenerator[httpx.AsyncClient, None]:
    app = create_app(settings, worker=worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def total(api: httpx.AsyncClient) -> int:
    return int((await api.get("/api/stats/summary", params=SINCE)).json()["total"])


async def every_post(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"source": "ops", "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/posts", params=params)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def the_posts() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    recent = [
        {"source": "ops", "external_id": f"a{a}-{i}", "author": f"a{a}",
         "text": f"post {i} of author {a}: the service was fine",
         "created_at": (now - timedelta(hours=i % 48)).isoformat()}
        for a in range(5) for i in range(100)
    ]  # fmt: skip
    old = [
        {"source": "ops", "external_id": f"old-{i}", "author": "archivist",
         "text": f"an old post {i}, terrible delay", "created_at": (now - timedelta(days=400)).isoformat()}
        for i in range(50)
    ]  # fmt: skip
    return recent + old


@pytest.mark.timeout(300)
async def test_embedded_to_distributed_then_erase_an_author_then_purge(
    tmp_path: Path, pg_url: str, redis_prefix: str, connected_settings: Settings
) -> None:
    embedded = Settings(data_dir=tmp_path / "embedded", analyzer_processes=0, demo_rate=0)
    agen = client(embedded, worker=True)
    api = await anext(agen)
    try:
        for start in range(0, 550, 275):
            body = the_posts()[start : start + 275]
            assert (await api.post("/api/posts", json=body)).status_code == 202

        async def all_stored() -> bool:
            return await total(api) == 550

        await wait_for(all_stored, timeout=60)
    finally:
        await agen.aclose()

    # A plain URL, as a managed service hands it out.
    database = str(make_url(pg_url).database)
    plain = f"postgresql://postgres@127.0.0.1:5432/{database}"
    copied = await sentiflow(
        {"SENTIFLOW_DATA_DIR": str(embedded.data_dir)}, "db", "copy", "--to", plain
    )
    assert "counts match" in " ".join(copied.split())

    distributed = {
        "SENTIFLOW_DATA_DIR": str(tmp_path / "server"),
        "SENTIFLOW_DATABASE_URL": plain,
        "SENTIFLOW_REDIS_URL": str(connected_settings.redis_url),
        "SENTIFLOW_REDIS_PREFIX": redis_prefix,
    }
    settings = connected_settings.model_copy(update={"database_url": plain})
    agen = client(settings, worker=False)
    api = await anext(agen)
    try:
        assert await total(api) == 550
        authors = {p["author"] for p in await every_post(api)}
        assert authors == {"a0", "a1", "a2", "a3", "a4", "archivist"}

        erased = await api.delete("/api/authors/ops/a1")
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased"] == 100
        assert await total(api) == 450
        left = await every_post(api)
        assert len(left) == 450
        assert "a1" not in {p["author"] for p in left}

        await sentiflow(distributed, "purge", "--older-than", "365d")
        left = await every_post(api)
        assert len(left) == 400
        assert "archivist" not in {p["author"] for p in left}
        assert await total(api) == 450  # the rollups keep what retention removed
    finally:
        await agen.aclose()
