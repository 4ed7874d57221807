"""RSS/Atom feeds (feedparser) and JSON APIs (a field mapping of dotted paths), fetched with
conditional GET: the ETag and Last-Modified of the last answer ride in the cursor, so an
unchanged feed costs one 304 and queues nothing.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
import structlog
from pydantic import BaseModel, Field

from sentiflow.errors import Unavailable, ValidationFailed
from sentiflow.ingest.connectors.base import Page, post_or_skip
from sentiflow.models import MAX_TEXT, PostIn
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.connectors.feeds")
# Entry ids remembered from the last answer, for servers that ignore conditional requests.
REMEMBER = 1_000


class FeedConfig(BaseModel):
    url: str = Field(description="Feed URL (RSS 2.0, RSS 1.0 or Atom).")
    topic: str | None = Field(None, description="Topic given to every post of this feed.")
    timeout_s: float = Field(20.0, gt=0, description="HTTP timeout.")


class JsonConfig(BaseModel):
    url: str = Field(description="URL answering a JSON document.")
    items: str = Field("", description="Dotted path to the list of items ('' = the root).")
    fields: dict[str, str] = Field(
        default_factory=lambda: {"text": "text", "external_id": "id"},
        description="Post field -> dotted path in an item; `text` is required.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    topic: str | None = Field(None, description="Topic given to every post of this source.")
    timeout_s: float = Field(20.0, gt=0, description="HTTP timeout.")


def dig(value: Any, path: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; None where the path does not lead."""
    for part in filter(None, path.split(".")):
        if isinstance(value, dict):
            value = value.get(part)
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return None
    return value


async def conditional_get(
    client: httpx.AsyncClient, url: str, cursor: dict[str, Any], headers: dict[str, str]
) -> httpx.Response | None:
    """GET with If-None-Match / If-Modified-Since from the cursor; None on 304."""
    sent = dict(headers)
    if cursor.get("etag"):
        sent["If-None-Match"] = cursor["etag"]
    if cursor.get("last_modified"):
        sent["If-Modified-Since"] = cursor["last_modified"]
    try:
        response = await client.get(url, headers=sent, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"{url} did not answer ({type(exc).__name__}); the source retries at its next poll",
            part="feed",
        ) from exc
    if response.status_code == 304:
        return None
    if response.status_code >= 400:
        raise Unavailable(
            f"{url} answered {response.status_code}; check the URL (the source retries at its "
            "next poll)",
            part="feed",
        )
    return response


def validators(response: httpx.Response) -> dict[str, Any]:
    return {
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
    }


def _new_only(posts: list[PostIn], cursor: dict[str, Any]) -> tuple[list[PostIn], list[str]]:
    seen = set(cursor.get("seen", []))
    ids = [p.dedup_key[1] for p in posts]
    return [p for p, i in zip(posts, ids, strict=True) if i not in seen], ids[-REMEMBER:]


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if parsed:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return None


class FeedConnector:
    kind: ClassVar[str] = "feed"
    Config: ClassVar[type[BaseModel]] = FeedConfig

    def __init__(self, name: str, config: Any, settings: Settings) -> None:
        self.name = name
        self.config: FeedConfig = config
        self.client = httpx.AsyncClient(timeout=config.timeout_s)

    def entry_post(self, entry: Any) -> PostIn | None:
        title = str(entry.get("title", "") or "")
        summary = html.unescape(re.sub(r"<[^>]+>", " ", str(entry.get("summary", "") or "")))
        summary = " ".join(summary.split())
        text = f"{title}\n\n{summary}".strip()
        if not text:
            return None
        link = entry.get("link")
        key = entry.get("id") or link or "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]
        fields = {
            "source": self.name,
            "external_id": str(key)[:200],
            "text": text[:MAX_TEXT],
            "author": (str(entry["author"])[:200] if entry.get("author") else None),
            "created_at": _when(entry) or datetime.now(UTC),
            "url": str(link)[:2000] if link else None,
            "topic": self.config.topic,
            "meta": {"feed": self.config.url[:500]},
        }
        return post_or_skip(self.name, fields)

    async def fetch(self, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        import feedparser

        response = await conditional_get(self.client, self.config.url, cursor, {})
        if response is None:
            log.debug("feed.not_modified", source=self.name)
            return
        parsed = feedparser.parse(response.content)
        if parsed.bozo and not parsed.entries:
            raise ValidationFailed(
                f"{self.config.url} is not an RSS or Atom feed ({parsed.bozo_exception}); "
                "check the URL",
                field="url",
            )
        posts = [p for p in map(self.entry_post, parsed.entries) if p is not None]
        fresh, seen = _new_only(posts, cursor)
        yield Page(fresh, {**validators(response), "seen": seen})

    async def close(self) -> None:
        await self.client.aclose()


class JsonConnector:
    kind: ClassVar[str] = "json"
    Config: ClassVar[type[BaseModel]] = JsonConfig

    def __init__(self, name: str, config: Any, settings: Settings) -> None:
        self.name = name
        self.config: JsonConfig = config
        if "text" not in config.fields:
            raise ValidationFailed("a json source's fields must map `text`", field="fields")
        self.client = httpx.AsyncClient(timeout=config.timeout_s)

    def item_post(self, item: Any) -> PostIn | None:
        raw = {field: dig(item, path) for field, path in self.config.fields.items()}
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        created = raw.get("created_at")
        if isinstance(created, int | float):
            try:
                created = datetime.fromtimestamp(created, UTC)
            except (OverflowError, OSError, ValueError):
                created = datetime.max.replace(tzinfo=UTC)  # refused with the reason
        elif isinstance(created, str) and not created[:4].isdigit():
            try:
                created = parsedate_to_datetime(created)
            except (TypeError, ValueError):
                created = None
        values: dict[str, Any] = {
            "source": self.name,
            "text": text[:MAX_TEXT],
            "topic": raw.get("topic") or self.config.topic,
        }
        for field in ("external_id", "author", "url"):
            if raw.get(field) not in (None, ""):
                values[field] = str(raw[field])
        if created:
            values["created_at"] = created
        return post_or_skip(self.name, values)

    async def fetch(self, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        response = await conditional_get(self.client, self.config.url, cursor, self.config.headers)
        if response is None:
            return
        try:
            document = response.json()
        except ValueError:
            raise ValidationFailed(
                f"{self.config.url} did not answer JSON; check the URL", field="url"
            ) from None
        items = dig(document, self.config.items)
        if not isinstance(items, list):
            raise ValidationFailed(
                f"{self.config.items or 'the root'} of {self.config.url} is not a list; set "
                "`items` to the dotted path of the list",
                field="items",
            )
        posts = [p for p in map(self.item_post, items) if p is not None]
        fresh, seen = _new_only(posts, cursor)
        yield Page(fresh, {**validators(response), "seen": seen})

    async def close(self) -> None:
        await self.client.aclose()
