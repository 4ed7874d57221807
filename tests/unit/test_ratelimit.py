"""Rate limits: token buckets per key (or client address) and scope; 429 with Retry-After and
RateLimit-* headers past the limit, a per-key override from the CLI and the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sentiflow.api import create_app
from sentiflow.errors import ValidationFailed
from sentiflow.feedback.auth import create_key
from sentiflow.ratelimit.base import Rate
from sentiflow.ratelimit.memory import MemoryRateLimiter
from sentiflow.settings import Settings
from tests.unit.ratelimit_contract import check_contract


async def test_memory_limiter_contract() -> None:
    await check_contract(MemoryRateLimiter())


def test_rates_parse_or_say_what_to_send() -> None:
    assert Rate.parse("20/s") == Rate(20, 20)
    assert Rate.parse("600/m") == Rate(600, 10)
    for bad in ("20", "0/s", "20/d", "fast", "-1/s"):
        with pytest.raises(ValidationFailed, match="N/s, N/m or N/h"):
            Rate.parse(bad)


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"auth": "required"}), worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def hammer(
    clients: list[httpx.AsyncClient], calls: int, path: str, key: str
) -> list[httpx.Response]:
    """`calls` GETs of `path` with `key`, spread over the clients, all at once."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(calls):
        queue.put_nowait(i)
    answers: list[httpx.Response] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            answers.append(await client.get(path, headers={"X-API-Key": key}))

    await asyncio.gather(*(worker(c) for c in clients))
    return answers


async def check_limited_key(clients: list[httpx.AsyncClient], admin: str) -> None:
    """The done-when check: a 20/s key called 200 times by 8 concurrent clients gets its
    burst and then 20 answers a second, the rest 429 with Retry-After (at least 100 when the
    calls are quick), while another key calling at once gets none."""
    made = await clients[0].post(
        "/api/keys",
        json={"name": "chatty", "scopes": ["admin"], "rate_limit": "20/s"},
        headers={"X-API-Key": admin},
    )
    assert made.status_code == 201, made.text
    assert made.json()["rate_limit"] == "20/s"
    chatty = made.json()["key"]
    other = (
        await clients[0].post(
            "/api/keys", json={"name": "calm", "scopes": ["admin"]}, headers={"X-API-Key": admin}
        )
    ).json()["key"]
    eight = [clients[i % len(clients)] for i in range(8)]
    started = time.monotonic()
    limited, calm = await asyncio.gather(
        hammer(eight, 200, "/api/keys", chatty), hammer(clients[:1], 15, "/api/keys", other)
    )
    elapsed = time.monotonic() - started
    statuses = Counter(r.status_code for r in limited)
    assert statuses[200] >= 20, statuses
    # One bucket for the key however many clients (and API processes) it calls through: a
    # burst of 20, then 20 a second. (When the 200 calls take under 3.9 s, as on an idle
    # machine, this bound means at least 100 refusals; a loaded machine takes longer and the
    # bucket refills meanwhile, so the bound, not a fixed count, is what holds there.)
    assert statuses[200] <= 20 + 20 * elapsed + 2, (statuses, elapsed)
    assert set(statuses) == {200, 429}
    refused = next(r for r in limited if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == "20"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "20/s" in error["message"]
    assert [r.status_code for r in calm] == [200] * 15


async def test_a_key_over_its_limit_gets_429_and_another_does_not(
    limited: httpx.AsyncClient,
) -> None:
    store = limited.app.state.services.store  # type: ignore[attr-defined]
    admin, _ = await create_key(store, name="root", scopes=["admin"])
    await check_limited_key([limited], admin)


async def test_answers_carry_ratelimit_headers(limited: httpx.AsyncClient) -> None:
    ok = await limited.get("/api/posts")
    assert ok.status_code == 200
    assert ok.headers["ratelimit-limit"] == "100"
    assert int(ok.headers["ratelimit-remaining"]) == 99


async def test_callers_without_a_valid_key_are_limited_by_address(
    settings: Settings,
) -> None:
    app = create_app(
        settings.model_copy(update={"auth": "required", "rate_limit_ingest": "5/m"}),
        worker=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            post = {"source": "s", "text": "hi"}
            tries = [
                await client.post("/api/posts", json=post, headers={"X-API-Key": f"sf_x_{i}"})
                for i in range(7)
            ]
            assert [r.status_code for r in tries] == [401] * 5 + [429] * 2
            assert "client 203.0.113.9" in tries[-1].json()["error"]["message"]
        other = httpx.ASGITransport(app=app, client=("203.0.113.10", 5000))
        async with httpx.AsyncClient(transport=other, base_url="http://test") as client:
            assert (await client.post("/api/posts", json=post)).status_code == 401


async def test_queue_backpressure_keeps_its_own_code(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"queue_max": 1}), worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            batch = [{"source": "s", "text": f"post {i}"} for i in range(3)]
            full = await client.post("/api/posts", json=batch)
            assert full.status_code == 429
            assert full.json()["error"]["code"] == "backpressure"


async def test_limits_can_be_switched_off(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limits": False, "rate_limit_read": "1/m"}), worker=False
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = [await client.get("/api/posts") for _ in range(5)]
            assert [r.status_code for r in answers] == [200] * 5
            assert "ratelimit-limit" not in answers[0].headers


async def test_post_keys_checks_the_rate_limit(limited: httpx.AsyncClient) -> None:
    store = limited.app.state.services.store  # type: ignore[attr-defined]
    admin, _ = await create_key(store, name="root", scopes=["admin"])
    bad = await limited.post(
        "/api/keys",
        json={"name": "x", "scopes": ["read"], "rate_limit": "lots"},
        headers={"X-API-Key": admin},
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rate_limit"


def test_keys_create_takes_a_rate_limit(tmp_path: Path) -> None:
    env = {**os.environ, "SENTIFLOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    command = [sys.executable, "-m", "sentiflow", "keys"]
    made = subprocess.run(
        [*command, "create", "--scope", "ingest", "--name", "feeder", "--rate-limit", "20/s"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("sf_") and "rate limit 20/s" in made.stderr
    listed = subprocess.run(
        [*command, "list"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert "20/s" in listed.stdout
    bad = subprocess.run(
        [*command, "create", "--scope", "read", "--name", "x", "--rate-limit", "often"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "N/s, N/m or N/h" in bad.stderr
