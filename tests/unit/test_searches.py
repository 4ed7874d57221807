"""Keyword search jobs on an embedded app: identical concurrent searches share one job, a
different query gets its own, and a finished job answers with its sentiment breakdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from sentiflow.settings import Settings
from sentiflow.store import search_jobs as search_store
from sentiflow.store.db import Store
from sentiflow.store.schema import search_jobs
from tests.conftest import wait_for

POSTS = [
    {"source": "s", "external_id": "1", "text": "I love the new Python release, wonderful"},
    {"source": "s", "external_id": "2", "text": "python packaging is terrible and I hate it"},
    {"source": "s", "external_id": "3", "text": "Python 3.14 is out today"},
    {"source": "s", "external_id": "4", "text": "Rust compile times are awful"},
]


async def seeded(client: httpx.AsyncClient) -> None:
    await client.post("/api/posts", json=POSTS)

    async def stored() -> bool:
        return bool((await client.get("/api/stats/summary")).json()["total"] == len(POSTS))

    await wait_for(stored)


async def test_identical_searches_share_one_job(client: httpx.AsyncClient) -> None:
    await seeded(client)
    spellings = ["python", "Python", "  PYTHON ", "python"]
    responses = await asyncio.gather(
        *(
            client.post("/api/searches", json={"query": spellings[i % 4], "limit": 50})
            for i in range(20)
        )
    )
    assert {r.status_code for r in responses} == {202}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    job_id = ids.pop()
    assert sum(r.json()["created"] for r in responses) == 1
    assert {r.headers["location"] for r in responses} == {f"/api/searches/{job_id}"}

    other = await client.post("/api/searches", json={"query": "rust", "limit": 50})
    assert other.status_code == 202 and other.json()["id"] != job_id

    async def done() -> bool:
        return bool((await client.get(f"/api/searches/{job_id}")).json()["status"] == "done")

    await wait_for(done, timeout=30)
    job = (await client.get(f"/api/searches/{job_id}")).json()
    results = job["results"]
    assert job["progress"] == 1.0
    assert sorted(p["external_id"] for p in results["posts"]) == ["1", "2", "3"]
    assert results["total"] == 3
    assert sum(results["sentiment"].values()) == 3
    assert results["sentiment"]["positive"] >= 1 and results["sentiment"]["negative"] >= 1
    assert sum(results["emotion"].values()) == 3

    # A recent identical search is answered by the finished job.
    again = await client.post("/api/searches", json={"query": "PYTHON", "limit": 50})
    assert again.json() == {**again.json(), "id": job_id, "status": "done", "created": False}


async def test_search_errors(client: httpx.AsyncClient) -> None:
    empty = await client.post("/api/searches", json={"query": "   "})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "query"
    unknown = await client.post("/api/searches", json={"query": "x", "sources": ["myspace"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "sources"
    missing = await client.get("/api/searches/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_a_dead_workers_job_is_taken_over(settings: Settings) -> None:
    store = Store.from_settings(settings)
    await store.migrate()
    try:
        await search_store.create_search_job(
            store, job_id="j1", key="k", query="q", sources=["stored"], max_results=5
        )
        assert [
            j.id
            for j in await search_store.claim_search_jobs(store, runner="dead", stale_after_s=30)
        ] == ["j1"]
        # While its runner beats, nobody else takes it.
        assert await search_store.claim_search_jobs(store, runner="b", stale_after_s=30) == []
        async with store.engine.begin() as conn:
            await conn.execute(
                update(search_jobs).values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
            )
        taken = await search_store.claim_search_jobs(store, runner="b", stale_after_s=30)
        assert [j.id for j in taken] == ["j1"]
        # The dead runner, were it to wake up, can no longer write to the job.
        assert not await search_store.update_search_job(store, "j1", runner="dead", progress=0.5)
        assert await search_store.update_search_job(store, "j1", runner="b", status="done")
    finally:
        await store.close()
