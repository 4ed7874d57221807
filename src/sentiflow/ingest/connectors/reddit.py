"""Reddit through asyncpraw: new posts (and optionally comments) of subreddits, or a keyword
search, resumed from a per-listing cursor. asyncprawcore paces requests by the
`x-ratelimit-*` headers; on a 429 this connector backs off and retries the same page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, Field

from sentiflow.errors import ConfigError, Unavailable, ValidationFailed
from sentiflow.ingest.connectors.base import Page, post_or_skip
from sentiflow.models import MAX_TEXT, PostIn
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.connectors.reddit")
PAGE = 100
MAX_BACKOFFS = 8


class RedditConfig(BaseModel):
    subreddits: list[str] = Field(default_factory=list, description="Subreddit names, no r/.")
    query: str | None = Field(None, description="Keyword search (within the subreddits if any).")
    comments: bool = Field(False, description="Also take the subreddits' new comments.")
    backfill: int = Field(100, ge=0, le=10_000, description="Posts to take on the first run.")


def _credentials(settings: Settings) -> tuple[str, str]:
    if not settings.reddit_client_id:
        raise ConfigError(
            "SENTIFLOW_REDDIT_CLIENT_ID is not set; a reddit source needs the client id of a "
            "Reddit app (create one at https://www.reddit.com/prefs/apps)"
        )
    if settings.reddit_client_secret is None:
        raise ConfigError(
            "SENTIFLOW_REDDIT_CLIENT_SECRET is not set; a reddit source needs the secret of the "
            "Reddit app named by SENTIFLOW_REDDIT_CLIENT_ID"
        )
    return settings.reddit_client_id, settings.reddit_client_secret.get_secret_value()


def to_post(thing: Any) -> PostIn | None:
    """A submission (t3) or comment (t1) as a post; None when it has no text left."""
    fullname = str(thing.name)
    if fullname.startswith("t1_"):
        text = str(getattr(thing, "body", "") or "")
        meta: dict[str, Any] = {"kind": "t1", "link": str(getattr(thing, "link_id", ""))}
    else:
        title = str(getattr(thing, "title", "") or "")
        body = str(getattr(thing, "selftext", "") or "")
        text = f"{title}\n\n{body}".strip()
        meta = {"kind": "t3", "comments": int(getattr(thing, "num_comments", 0) or 0)}
    if text in ("", "[deleted]", "[removed]"):
        return None
    subreddit = str(getattr(thing, "subreddit", "") or "") or None
    meta["score"] = int(getattr(thing, "score", 0) or 0)
    author = getattr(thing, "author", None)
    permalink = getattr(thing, "permalink", None)
    try:
        created = datetime.fromtimestamp(float(thing.created_utc), UTC)
    except (OverflowError, OSError, ValueError):
        created = datetime.max.replace(tzinfo=UTC)  # refused below, with the rest kept
    fields = {
        "source": "reddit",
        "external_id": fullname,
        "text": text[:MAX_TEXT],
        "author": str(author)[:200] if author else None,
        "created_at": created,
        "url": f"https://www.reddit.com{permalink}" if permalink else None,
        "topic": subreddit[:100] if subreddit else None,
        "meta": meta,
    }
    return post_or_skip("reddit", fields)


class RedditConnector:
    kind: ClassVar[str] = "reddit"
    Config: ClassVar[type[BaseModel]] = RedditConfig

    def __init__(self, name: str, config: Any, settings: Settings) -> None:
        self.name = name
        self.config: RedditConfig = config
        self.client_id, self.client_secret = _credentials(settings)
        self.settings = settings
        self.backoffs = 0
        self._reddit: Any = None

    def _client(self) -> Any:
        if self._reddit is None:
            import asyncpraw

            self._reddit = asyncpraw.Reddit(
                client_id=self.client_id,
                client_secret=self.client_secret,
                user_agent=self.settings.reddit_user_agent,
                reddit_url=self.settings.reddit_url,
                oauth_url=self.settings.reddit_oauth_url,
                check_for_updates=False,
                check_for_async=False,
            )
        return self._reddit

    def listings(self) -> list[tuple[str, dict[str, Any]]]:
        """(API path, fixed params) of every listing this source follows, newest first."""
        subs = "+".join(self.config.subreddits)
        if self.config.query:
            params = {"q": self.config.query, "sort": "new", "type": "link"}
            if subs:
                return [(f"/r/{subs}/search", {**params, "restrict_sr": "1"})]
            return [("/search", params)]
        out: list[tuple[str, dict[str, Any]]] = [(f"/r/{subs}/new", {})]
        if self.config.comments:
            out.append((f"/r/{subs}/comments", {}))
        return out

    async def _page(self, path: str, params: dict[str, Any]) -> Any:
        """One listing page; 429s are waited out, with a growing pause."""
        from asyncprawcore.exceptions import (
            Forbidden,
            InvalidToken,
            NotFound,
            OAuthException,
            Redirect,
            RequestException,
            ResponseException,
            TooManyRequests,
        )

        delay = 1.0
        for _ in range(MAX_BACKOFFS):
            try:
                return await self._client().get(path, params={**params, "limit": PAGE})
            except TooManyRequests as exc:
                wait = float(exc.retry_after) if exc.retry_after else delay
                self.backoffs += 1
                log.warning("reddit.rate_limited", source=self.name, wait_s=wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, 60.0)
            except (OAuthException, InvalidToken, Forbidden) as exc:
                raise ConfigError(
                    f"Reddit refused the app credentials ({exc}); check "
                    "SENTIFLOW_REDDIT_CLIENT_ID and SENTIFLOW_REDDIT_CLIENT_SECRET"
                ) from exc
            except (NotFound, Redirect) as exc:
                raise ValidationFailed(
                    f"Reddit has no listing at {path}; check the subreddit names",
                    field="subreddits",
                ) from exc
            except ResponseException as exc:
                if exc.response.status in (401, 403):
                    raise ConfigError(
                        f"Reddit answered {exc.response.status} to the app credentials; check "
                        "SENTIFLOW_REDDIT_CLIENT_ID and SENTIFLOW_REDDIT_CLIENT_SECRET"
                    ) from exc
                raise Unavailable(
                    f"Reddit answered {exc.response.status} to {path}; the source retries at "
                    "its next poll",
                    part="reddit",
                ) from exc
            except RequestException as exc:
                raise Unavailable(
                    f"Reddit did not answer {path} ({type(exc).__name__}); the source retries "
                    "at its next poll",
                    part="reddit",
                ) from exc
        raise Unavailable(
            f"Reddit kept answering 429 to {path} after {MAX_BACKOFFS} back-offs; the source "
            "retries at its next poll",
            part="reddit",
        )

    async def fetch(self, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        cursor = dict(cursor)
        for path, params in self.listings():
            async for posts, state in self._follow(path, params, dict(cursor.get(path, {}))):
                cursor[path] = state
                yield Page(posts, dict(cursor))

    async def _follow(
        self, path: str, params: dict[str, Any], state: dict[str, Any]
    ) -> AsyncIterator[tuple[list[PostIn], dict[str, Any]]]:
        """New things of one listing. First run: walk back (`after`) `backfill` posts, then
        remember the newest. Later runs: walk forward (`before` the newest seen), page by page.
        """
        if state.get("newest") is None:
            taken = int(state.get("taken", 0))
            top = state.get("top")
            after = state.get("after")
            while taken < self.config.backfill:
                listing = await self._page(path, {**params, "after": after} if after else params)
                children = list(listing.children)
                if top is None and children:
                    top = str(children[0].name)
                taken += len(children)
                after = listing.after
                posts = [p for p in map(to_post, children) if p is not None]
                if not after or not children:
                    break
                yield posts, {"top": top, "after": after, "taken": taken}
            else:
                posts = []
            yield posts, {"newest": top}
            return
        newest = str(state["newest"])
        while True:
            listing = await self._page(path, {**params, "before": newest})
            children = list(listing.children)
            if not children:
                return
            newest = str(children[0].name)
            yield [p for p in map(to_post, children) if p is not None], {"newest": newest}
            if len(children) < PAGE:
                return

    async def search(self, query: str, limit: int) -> AsyncIterator[list[PostIn]]:
        subs = "+".join(self.config.subreddits)
        path = f"/r/{subs}/search" if subs else "/search"
        params: dict[str, Any] = {"q": query, "sort": "new", "type": "link"}
        if subs:
            params["restrict_sr"] = "1"
        taken = 0
        after = None
        while taken < limit:
            listing = await self._page(path, {**params, "after": after} if after else params)
            children = list(listing.children)[: limit - taken]
            taken += len(children)
            yield [p for p in map(to_post, children) if p is not None]
            after = listing.after
            if not after or not children:
                return

    async def close(self) -> None:
        if self._reddit is not None:
            await self._reddit.close()
            self._reddit = None
