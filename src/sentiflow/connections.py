"""The one way sentiflow talks to Redis: a client factory with connect and command timeouts
from settings, and one translation of Redis errors into `Unavailable` naming the part.

A process opens one `RedisConnection` (one connection pool) and hands it to every Redis
backend it builds: broker, events, cache, locks, signals. A Redis that stops answering costs
a caller at most `redis_timeout_s`, then a 503 that says which part needed it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis import exceptions as rex
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from sentiflow.errors import Unavailable
from sentiflow.settings import RedisSettings

# Redis is away (down, unreachable, loading its data, or too slow), not the command wrong.
DOWN = (rex.ConnectionError, rex.TimeoutError, OSError)


def describe_url(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def unavailable(exc: BaseException, *, part: str, url: str) -> Unavailable | None:
    """`exc` as the `Unavailable` the API answers 503 with, or None when it is not an outage
    (a wrong command, say, which stays a bug)."""
    where = describe_url(url)
    if isinstance(exc, DOWN):
        return Unavailable(
            f"Redis at {where} cannot be reached for the {part} ({type(exc).__name__}: {exc}); "
            "start Redis or fix SENTIFLOW_REDIS_URL",
            part=part,
        )
    if isinstance(exc, rex.ResponseError) and ("READONLY" in str(exc) or "MASTERDOWN" in str(exc)):
        return Unavailable(
            f"Redis at {where} refuses writes for the {part} ({exc}); "
            "point SENTIFLOW_REDIS_URL at the primary",
            part=part,
        )
    return None


@dataclass(frozen=True, slots=True)
class RedisConnection:
    """One client (one pool) and the URL it came from, shared by a process's Redis backends.
    `client` is typed `Any`: the types-redis stubs predate redis-py's asyncio API."""

    client: Any
    url: str

    @contextlib.contextmanager
    def errors(self, part: str) -> Iterator[None]:
        """Translate what Redis raises inside the block into `Unavailable(part=part)`."""
        try:
            yield
        except (rex.RedisError, OSError) as exc:
            translated = unavailable(exc, part=part, url=self.url)
            if translated is None:
                raise
            raise translated from exc

    async def ping(self, part: str) -> None:
        with self.errors(part):
            await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def connect(redis: RedisSettings) -> RedisConnection:
    """A client with the configured timeouts. A command that times out is never retried (the
    caller answers 503 within the timeout); a connection that broke is retried once at once,
    which replaces a pooled connection that died with a restarted Redis."""
    client = Redis.from_url(
        redis.url,
        decode_responses=False,
        socket_connect_timeout=redis.connect_timeout_s,
        socket_timeout=redis.timeout_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(rex.ConnectionError,)),
        health_check_interval=30,
    )
    return RedisConnection(client, redis.url)
