"""Leases and claims shared by the processes of one deployment: Redis in distributed mode,
a dict in embedded mode. Every release and renewal is compare-and-set on the holder's token,
so a process whose lease has expired can never free or extend somebody else's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from sentiflow.errors import Unavailable
from sentiflow.settings import Settings

# KEYS[1] = lock, ARGV[1] = token[, ARGV[2] = ttl ms]: act only while the token still holds it.
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class Locks(Protocol):
    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        """Set `key` to `token` for `ttl_s` seconds unless somebody holds it."""

    async def get(self, key: str) -> str | None: ...

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        """Extend the lease while `token` still holds it; False when it was lost."""

    async def release(self, key: str, token: str) -> bool:
        """Delete `key` only while `token` holds it."""

    async def fence(self, name: str) -> int:
        """A number that grows with every call: newer lease holders carry larger tokens."""

    async def close(self) -> None: ...


class MemoryLocks:
    """Embedded mode: one process, so a dict with deadlines is the whole truth."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._fences: dict[str, int] = {}
        self._mutex = asyncio.Lock()

    def _live(self, key: str) -> str | None:
        entry = self._held.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._held[key]
            return None
        return entry[0]

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        async with self._mutex:
            if self._live(key) is not None:
                return False
            self._held[key] = (token, time.monotonic() + ttl_s)
            return True

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        async with self._mutex:
            if self._live(key) != token:
                return False
            self._held[key] = (token, time.monotonic() + ttl_s)
            return True

    async def release(self, key: str, token: str) -> bool:
        async with self._mutex:
            if self._live(key) != token:
                return False
            del self._held[key]
            return True

    async def fence(self, name: str) -> int:
        self._fences[name] = self._fences.get(name, 0) + 1
        return self._fences[name]

    async def close(self) -> None:
        return None


class RedisLocks:
    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> RedisLocks:
        import redis.asyncio as redis

        return cls(redis.Redis.from_url(url, decode_responses=True))

    async def _call(self, coro: Any) -> Any:
        from redis.exceptions import ConnectionError, TimeoutError

        try:
            return await coro
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise Unavailable(
                f"Redis cannot be reached for locks ({type(exc).__name__}); start Redis or "
                "fix SENTIFLOW_REDIS_URL",
                part="redis",
            ) from exc

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        ms = max(1, int(ttl_s * 1000))
        return bool(await self._call(self.client.set(key, token, nx=True, px=ms)))

    async def get(self, key: str) -> str | None:
        value = await self._call(self.client.get(key))
        return None if value is None else str(value)

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        ms = max(1, int(ttl_s * 1000))
        return bool(await self._call(self.client.eval(_RENEW, 1, key, token, ms)))

    async def release(self, key: str, token: str) -> bool:
        return bool(await self._call(self.client.eval(_RELEASE, 1, key, token)))

    async def fence(self, name: str) -> int:
        return int(await self._call(self.client.incr(name)))

    async def close(self) -> None:
        await self.client.aclose()


def build_locks(settings: Settings) -> Locks:
    if settings.redis_url is None:
        return MemoryLocks()
    return RedisLocks.from_url(settings.redis_url)
