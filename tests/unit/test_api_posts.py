"""POST/GET /api/posts against an embedded app: acceptance, validation errors, dedup."""

from __future__ import annotations

from typing import Any

import httpx

from sentiflow.settings import Settings
from tests.conftest import wait_for


async def stored(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/api/posts", params=params)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_post_is_analysed_and_listed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/posts", json={"source": "test", "text": "I love this, best day ever!"}
    )
    assert response.status_code == 202
    post_id = response.json()["accepted"][0]["id"]

    async def analysed() -> bool:
        return (await client.get(f"/api/posts/{post_id}")).status_code == 200

    await wait_for(analysed)
    post = (await client.get(f"/api/posts/{post_id}")).json()
    assert post["analysis"]["sentiment"] == "positive"
    assert post["analysis"]["model_version"]
    assert [p["id"] for p in await stored(client)] == [post_id]


async def test_same_post_twice_is_stored_once(client: httpx.AsyncClient) -> None:
    body = [{"source": "s", "text": "same words"}, {"source": "s", "text": "same words"}]
    first = await client.post("/api/posts", json=body)
    await client.post("/api/posts", json={"source": "s", "external_id": "e1", "text": "one"})
    await client.post("/api/posts", json={"source": "s", "external_id": "e1", "text": "one"})
    assert first.json()["accepted"][0]["id"] == first.json()["accepted"][1]["id"]

    async def both() -> bool:
        return len(await stored(client)) >= 2

    await wait_for(both)
    summary = (await client.get("/api/stats/summary")).json()
    assert len(await stored(client)) == 2
    assert summary["total"] == 2


async def test_mixed_batch_keeps_valid_posts(client: httpx.AsyncClient) -> None:
    body = [
        {"source": "s", "text": ""},
        {"source": "s", "text": "x" * 10_001},
        {"source": "s", "text": "bad date", "created_at": "yesterday-ish"},
        {"source": "s", "text": "extra", "colour": "red"},
        {"text": "no source"},
        {"source": "s", "text": "this one is fine", "external_id": "ok-1"},
    ]
    response = await client.post("/api/posts", json=body)
    assert response.status_code == 202
    result = response.json()
    assert [a["index"] for a in result["accepted"]] == [5]
    fields = {r["index"]: r["field"] for r in result["rejected"]}
    assert fields == {0: "text", 1: "text", 2: "created_at", 3: "colour", 4: "source"}
    messages = {r["index"]: r["message"] for r in result["rejected"]}
    assert "10,000" in messages[1]
    assert "ISO 8601" in messages[2]

    async def kept() -> bool:
        return [p["external_id"] for p in await stored(client)] == ["ok-1"]

    await wait_for(kept)


async def test_request_level_errors(client: httpx.AsyncClient) -> None:
    not_json = await client.post(
        "/api/posts", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == "invalid_json"

    too_many = await client.post("/api/posts", json=[{"source": "s", "text": "t"}] * 1001)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["field"] == "body"
    assert "1,000" in too_many.json()["error"]["message"]

    all_bad = await client.post("/api/posts", json={"source": "s", "text": "   "})
    assert all_bad.status_code == 422
    assert all_bad.json()["error"]["field"] == "text"

    missing = await client.get("/api/posts/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    bad_filter = await client.get("/api/posts", params={"sentiment": "happy"})
    assert bad_filter.status_code == 422
    assert bad_filter.json()["error"]["field"] == "sentiment"


async def test_filters_and_cursor_pagination(client: httpx.AsyncClient) -> None:
    posts = [
        {
            "source": "a" if i % 2 else "b",
            "external_id": str(i),
            "text": f"post number {i}",
            "created_at": f"2026-01-01T00:00:{i:02d}Z",
        }
        for i in range(25)
    ]
    await client.post("/api/posts", json=posts)

    async def all_stored() -> bool:
        return bool((await client.get("/api/stats/summary")).json()["total"] == 25)

    await wait_for(all_stored)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "10", "source": "a"} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/posts", params=params)).json()
        seen += [p["external_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(i) for i in range(23, 0, -2)]
    found = await stored(client, q="number 1")
    assert {p["external_id"] for p in found} == {"1", *(str(i) for i in range(10, 20))}
    early = await stored(client, until="2026-01-01T00:00:03Z")
    assert {p["external_id"] for p in early} == {"0", "1", "2"}


async def test_health_and_openapi(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.json() == {"status": "ok", "parts": {"store": "ok", "broker": "ok"}}
    spec = (await client.get("/openapi.json")).json()
    assert "/api/posts" in spec["paths"]
    assert "PostIn" in spec["components"]["schemas"]


async def test_full_queue_answers_429_and_keeps_what_it_accepted(settings: Settings) -> None:
    from sentiflow.api import create_app

    app = create_app(settings.model_copy(update={"queue_max": 3}), worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            ok = await c.post(
                "/api/posts", json=[{"source": "s", "text": f"t{i}"} for i in range(3)]
            )
            assert ok.status_code == 202
            full = await c.post("/api/posts", json={"source": "s", "text": "one more"})
            assert full.status_code == 429
            assert int(full.headers["retry-after"]) >= 1
            assert full.json()["error"]["code"] == "backpressure"
            assert await app.state.services.broker.backlog() == 3
