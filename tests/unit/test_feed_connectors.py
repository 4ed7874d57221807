"""RSS and JSON sources against a local HTTP server: the first poll stores the items, the
second is a conditional GET answered 304 and stores nothing new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.utils import formatdate

import orjson
import pytest
from aiohttp import web
from sqlalchemy import func, select

from sentiflow.ingest.connectors.runner import poll_source
from sentiflow.roles import feed
from sentiflow.settings import Settings
from sentiflow.store import sources as source_store
from sentiflow.store.db import Store
from sentiflow.store.posts import PostFilter, list_posts
from sentiflow.store.schema import posts

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test feed</title><link>http://example.test/</link>
<description>test</description>
<item><title>Great launch</title><link>http://example.test/1</link><guid>item-1</guid>
<description>&lt;p&gt;We love the new release&lt;/p&gt;</description>
<pubDate>Tue, 24 Nov 2026 01:00:00 GMT</pubDate></item>
<item><title>Outage report</title><link>http://example.test/2</link><guid>item-2</guid>
<description>The service was down for hours, terrible</description>
<pubDate>Tue, 24 Nov 2026 01:05:00 GMT</pubDate></item>
<item><title>Weekly notes</title><link>http://example.test/3</link><guid>item-3</guid>
<description>Nothing much happened</description></item>
</channel></rss>"""
JSON_DOC = {
    "data": {
        "results": [
            {
                "id": 10,
                "body": {"text": "Fantastic support team"},
                "user": {"name": "ann"},
                "ts": 1795000000,
            },
            {
                "id": 11,
                "body": {"text": "Shipping was slow and annoying"},
                "user": {"name": "bo"},
                "ts": 1795000100,
            },
        ]
    }
}
LAST_MODIFIED = formatdate(1795000000, usegmt=True)


class FeedServer:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, int]] = []
        self.url = ""

    async def rss(self, request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            self.statuses.append(("rss", 304))
            return web.Response(status=304, headers={"ETag": '"v1"'})
        self.statuses.append(("rss", 200))
        return web.Response(
            body=RSS.encode(), content_type="application/rss+xml", headers={"ETag": '"v1"'}
        )

    async def json(self, request: web.Request) -> web.Response:
        if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            self.statuses.append(("json", 304))
            return web.Response(status=304)
        self.statuses.append(("json", 200))
        return web.Response(
            body=orjson.dumps(JSON_DOC),
            content_type="application/json",
            headers={"Last-Modified": LAST_MODIFIED},
        )


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    feeds = FeedServer()
    app = web.Application()
    app.router.add_get("/feed.xml", feeds.rss)
    app.router.add_get("/api/items", feeds.json)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    feeds.url = f"http://127.0.0.1:{port}"
    yield feeds
    await runner.cleanup()


async def count(store: Store, source: str) -> int:
    async with store.engine.connect() as conn:
        stmt = select(func.count()).where(posts.c.source == source)
        return int((await conn.execute(stmt)).scalar_one())


async def test_second_poll_is_conditional_and_stores_nothing(
    settings: Settings, server: FeedServer
) -> None:
    async with feed(settings) as fed:
        await source_store.upsert_source(
            fed.store,
            name="news",
            kind="feed",
            config={"url": f"{server.url}/feed.xml", "topic": "news"},
            interval_s=60,
        )
        await source_store.upsert_source(
            fed.store,
            name="shop",
            kind="json",
            config={
                "url": f"{server.url}/api/items",
                "items": "data.results",
                "fields": {
                    "text": "body.text",
                    "external_id": "id",
                    "author": "user.name",
                    "created_at": "ts",
                },
            },
            interval_s=60,
        )
        first = [await poll_source(fed.store, fed.broker, settings, n) for n in ("news", "shop")]
        await fed.drain()
        stored = (await count(fed.store, "news"), await count(fed.store, "shop"))
        second = [await poll_source(fed.store, fed.broker, settings, n) for n in ("news", "shop")]
        await fed.drain()
        assert [r.fetched for r in first] == [3, 2]
        assert stored == (3, 2)
        assert [r.fetched for r in second] == [0, 0]
        assert (await count(fed.store, "news"), await count(fed.store, "shop")) == stored
        assert server.statuses == [("rss", 200), ("json", 200), ("rss", 304), ("json", 304)]
        shop = await list_posts(fed.store, PostFilter(source="shop"))
        assert sorted(p.author or "" for p in shop.items) == ["ann", "bo"]
        assert {p.external_id for p in shop.items} == {"10", "11"}
        launch = await list_posts(fed.store, PostFilter(source="news", q="launch"))
        assert launch.items[0].text == "Great launch\n\nWe love the new release"
        assert launch.items[0].topic == "news" and launch.items[0].url == "http://example.test/1"
        news = await source_store.get_source(fed.store, "news")
        assert news is not None and news.cursor["etag"] == '"v1"' and news.last_error is None
