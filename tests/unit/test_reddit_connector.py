"""The Reddit connector through asyncpraw against a local fake Reddit: it pages through
1,000 posts, backs off on a 429, resumes from its cursor after a crash, and stores each post
once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from sentiflow.errors import ConfigError
from sentiflow.ingest.connectors.registry import build
from sentiflow.ingest.connectors.runner import poll_source
from sentiflow.roles import feed
from sentiflow.settings import Settings
from sentiflow.store import sources as source_store
from sentiflow.store.db import Store
from sentiflow.store.schema import posts
from tests.conftest import wait_for
from tests.fakes.reddit import CLIENT_ID, CLIENT_SECRET, FakeReddit


@pytest.fixture
async def fake() -> AsyncIterator[FakeReddit]:
    server = FakeReddit(posts=1000)
    await server.start()
    yield server
    await server.close()


def reddit_settings(tmp_path: Path, fake: FakeReddit) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        demo_rate=0,
        analyzer_processes=0,
        scheduler=False,
        reddit_client_id=CLIENT_ID,
        reddit_client_secret=CLIENT_SECRET,
        reddit_url=fake.url,
        reddit_oauth_url=fake.url,
    )


async def stored_reddit_posts(store: Store) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(func.count(), func.count(posts.c.external_id.distinct())).where(
                    posts.c.source == "reddit"
                )
            )
        ).one()
    return int(rows[0]), int(rows[1])


async def test_pages_backs_off_resumes_and_stores_each_post_once(
    tmp_path: Path, fake: FakeReddit
) -> None:
    settings = reddit_settings(tmp_path, fake)
    async with feed(settings) as fed:
        await source_store.upsert_source(
            fed.store,
            name="r-test",
            kind="reddit",
            config={"subreddits": ["test"], "backfill": 1000},
            interval_s=60,
        )
        # Page 3 is answered 429 once; the 7th request never answers, and the process "dies".
        fake.rate_limit_at = 3
        fake.hold_at = 7
        first = asyncio.create_task(poll_source(fed.store, fed.broker, settings, "r-test"))

        async def stuck() -> bool:
            return fake.holding.is_set()

        await wait_for(stuck, timeout=30)
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
    assert fake.rate_limited_at is not None and fake.retried_at is not None
    assert fake.retried_at - fake.rate_limited_at >= fake.retry_after * 0.9
    # Pages 1, 2, 3 (after its 429) and 4, 5 were queued and their cursor saved.
    async with feed(settings) as fed:
        crashed = await source_store.get_source(fed.store, "r-test")
        assert crashed is not None
        saved = crashed.cursor["/r/test/new"]
        assert saved["taken"] == 500 and "newest" not in saved
        assert crashed.total_fetched == 500

        fake.hold_at = None
        resumed = await poll_source(fed.store, fed.broker, settings, "r-test")
        assert resumed.fetched == 500
        fake.add(50)
        newer = await poll_source(fed.store, fed.broker, settings, "r-test")
        assert newer.fetched == 50
        quiet = await poll_source(fed.store, fed.broker, settings, "r-test")
        assert quiet.fetched == 0
        await fed.drain()
        total, distinct = await stored_reddit_posts(fed.store)
        source = await source_store.get_source(fed.store, "r-test")

    assert total == distinct == 1050
    assert source is not None and source.total_fetched == 1050
    # Nothing was asked for twice: the resumed run started after the last saved page.
    assert len(fake.served) == len(set(fake.served)) == 1050


async def test_missing_credentials_name_the_variable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, reddit_client_id=None)
    with pytest.raises(ConfigError, match="SENTIFLOW_REDDIT_CLIENT_ID"):
        build("reddit", "r", {"subreddits": ["python"]}, settings)
    settings = Settings(data_dir=tmp_path, reddit_client_id="x", reddit_client_secret=None)
    with pytest.raises(ConfigError, match="SENTIFLOW_REDDIT_CLIENT_SECRET"):
        build("reddit", "r", {"subreddits": ["python"]}, settings)


async def test_search_job_runs_reddit_search(tmp_path: Path, fake: FakeReddit) -> None:
    from httpx import ASGITransport, AsyncClient

    from sentiflow.api import create_app

    fake.add(1)  # post 1001, the only one with "1001" in its title
    settings = reddit_settings(tmp_path, fake).model_copy(update={"scheduler": True})
    application = create_app(settings, worker=True)
    async with application.router.lifespan_context(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"query": "Post 1001 about", "sources": ["reddit", "stored"], "limit": 10}
            started = (await client.post("/api/searches", json=body)).json()

            async def finished() -> bool:
                job = (await client.get(started["location"])).json()
                return job["status"] in ("done", "failed")

            await wait_for(finished, timeout=30)
            job = (await client.get(started["location"])).json()
    assert job["status"] == "done", job["error"]
    results = job["results"]
    assert results["total"] == 1
    assert [p["external_id"] for p in results["posts"]] == [fake.things[0]["name"]]
    assert results["by_source"]["reddit"] == 1
    assert results["posts"][0]["text"].startswith("Post 1001 about python")
    assert results["posts"][0]["analysis"] is not None
    assert sum(results["sentiment"].values()) == 1


async def test_comments_are_taken_with_their_own_cursor(tmp_path: Path) -> None:
    fake = FakeReddit(posts=3)
    await fake.start()
    settings = reddit_settings(tmp_path, fake)
    connector = build("reddit", "r", {"subreddits": ["test"], "comments": True}, settings)
    found = []
    cursor: dict[str, object] = {}
    try:
        async for page in connector.fetch({}):
            found.extend(page.posts)
            cursor = page.cursor
    finally:
        await connector.close()
        await fake.close()
    kinds = sorted(p.meta["kind"] for p in found)
    assert kinds == ["t1", "t1", "t1", "t3", "t3", "t3"]
    reply = next(p for p in found if p.meta["kind"] == "t1")
    assert reply.text.startswith("Reply to Post") and reply.meta["link"].startswith("t3_")
    assert set(cursor) == {"/r/test/new", "/r/test/comments"}


async def test_refused_credentials_name_the_variables(tmp_path: Path, fake: FakeReddit) -> None:
    settings = reddit_settings(tmp_path, fake).model_copy(
        update={"reddit_client_secret": SecretStr("wrong")}
    )
    connector = build("reddit", "r", {"subreddits": ["test"]}, settings)
    try:
        with pytest.raises(ConfigError, match="SENTIFLOW_REDDIT_CLIENT_SECRET"):
            async for _ in connector.fetch({}):
                pass
    finally:
        await connector.close()
