"""A local stand-in for Reddit's API, speaking its real shape: application-only OAuth at
/api/v1/access_token, listings (`data.children` of t3/t1 things, `after`/`before` fullnames,
`limit`), `x-ratelimit-*` headers, and a 429 with Retry-After on demand."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from aiohttp import web

CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-secret"
TOKEN = "fake-token-123"


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


class FakeReddit:
    def __init__(self, posts: int = 0, subreddit: str = "test") -> None:
        self.subreddit = subreddit
        self.things: list[dict[str, Any]] = []  # newest first, like /new
        self.counter = 0
        self.add(posts)
        self.served: list[str] = []
        self.listing_requests = 0
        self.rate_limit_at: int | None = None  # answer this listing request with a 429
        self.rate_limited_at: float | None = None
        self.retried_at: float | None = None
        self.retry_after = 1
        self.hold_at: int | None = None  # this listing request never answers (a crash)
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self.token_requests = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def add(self, n: int) -> None:
        """n new submissions on top of the listing."""
        fresh = []
        for _ in range(n):
            self.counter += 1
            ident = _b36(1_000_000 + self.counter)
            fresh.append(
                {
                    "id": ident,
                    "name": f"t3_{ident}",
                    "title": f"Post {self.counter} about python",
                    "selftext": "I really like this, great work" if self.counter % 2 else "meh",
                    "author": f"user{self.counter % 17}",
                    "created_utc": 1_700_000_000 + self.counter,
                    "permalink": f"/r/{self.subreddit}/comments/{ident}/post/",
                    "subreddit": self.subreddit,
                    "score": self.counter % 50,
                    "num_comments": 0,
                }
            )
        self.things = list(reversed(fresh)) + self.things

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/access_token", self.token)
        app.router.add_get("/r/{sub}/new", self.listing)
        app.router.add_get("/r/{sub}/comments", self.comments)
        app.router.add_get("/search", self.listing)
        app.router.add_get("/r/{sub}/search", self.listing)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": 401, "message": "Unauthorized"}, status=401)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        self.token_requests += 1
        return web.json_response(
            {"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400, "scope": "*"}
        )

    def _headers(self, remaining: int = 996, used: int = 4, reset: int = 596) -> dict[str, str]:
        return {
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(reset),
        }

    async def comments(self, request: web.Request) -> web.Response:
        """New comments (t1), one per submission, newest first; no paging needed here."""
        children: list[dict[str, Any]] = [
            {
                "kind": "t1",
                "data": {
                    "id": f"c{t['id']}",
                    "name": f"t1_c{t['id']}",
                    "body": f"Reply to {t['title']}: totally agree",
                    "link_id": t["name"],
                    "author": "replier",
                    "created_utc": t["created_utc"] + 1,
                    "permalink": f"{t['permalink']}c{t['id']}/",
                    "subreddit": self.subreddit,
                    "score": 1,
                },
            }
            for t in self.things[: int(request.query.get("limit", "25"))]
            if "before" not in request.query
        ]
        self.served.extend(c["data"]["name"] for c in children)
        body = {"kind": "Listing", "data": {"after": None, "before": None, "children": children}}
        return web.json_response(body, headers=self._headers())

    async def listing(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"bearer {TOKEN}":
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        self.listing_requests += 1
        if self.rate_limited_at is not None and self.retried_at is None:
            self.retried_at = time.monotonic()
        if self.listing_requests == self.rate_limit_at:
            self.rate_limited_at = time.monotonic()
            headers = self._headers(remaining=0, used=600, reset=self.retry_after)
            headers["Retry-After"] = str(self.retry_after)
            return web.json_response(
                {"message": "Too Many Requests", "error": 429}, status=429, headers=headers
            )
        if self.listing_requests == self.hold_at:
            self.holding.set()
            await self._release.wait()
        limit = min(100, int(request.query.get("limit", "25")))
        things = self.things
        if "q" in request.query:
            words = request.query["q"].lower()
            things = [t for t in things if words in f"{t['title']} {t['selftext']}".lower()]
        names = [t["name"] for t in things]
        if "after" in request.query:
            start = names.index(request.query["after"]) + 1
            page = things[start : start + limit]
        elif "before" in request.query:
            end = names.index(request.query["before"])
            start = max(0, end - limit)
            page = things[start:end]
        else:
            start = 0
            page = things[:limit]
        self.served.extend(t["name"] for t in page)
        more_below = start + len(page) < len(things)
        body = {
            "kind": "Listing",
            "data": {
                "after": page[-1]["name"] if page and more_below else None,
                "before": page[0]["name"] if page and start > 0 else None,
                "dist": len(page),
                "modhash": None,
                "children": [{"kind": "t3", "data": t} for t in page],
            },
        }
        return web.json_response(body, headers=self._headers())
