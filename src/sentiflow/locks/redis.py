"""`RedisLocks`: distributed mode's locks. SET NX PX to take one; a release or renewal is a
script that acts only while the caller's token still holds the key."""

from __future__ import annotations

from typing import Any, Final

from sentiflow.connections import RedisConnection

# KEYS[1] = lock, ARGV[1] = token[, ARGV[2] = ttl ms]: act only while the token still holds it.
RELEASE: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
RENEW: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class RedisLocks:
    def __init__(self, redis: RedisConnection) -> None:
        self.redis = redis
        client = redis.client
        self._client = client
        self._release: Any = client.register_script(RELEASE)
        self._renew: Any = client.register_script(RENEW)

    async def acquire(self, key: str, token: str, ttl_s: float) -> bool:
        with self.redis.errors("locks"):
            return bool(await self._client.set(key, token, nx=True, px=_ms(ttl_s)))

    async def get(self, key: str) -> str | None:
        with self.redis.errors("locks"):
            value = await self._client.get(key)
        return None if value is None else value.decode()

    async def renew(self, key: str, token: str, ttl_s: float) -> bool:
        with self.redis.errors("locks"):
            return bool(await self._renew(keys=[key], args=[token, _ms(ttl_s)]))

    async def release(self, key: str, token: str) -> bool:
        with self.redis.errors("locks"):
            return bool(await self._release(keys=[key], args=[token]))

    async def fence(self, name: str) -> int:
        with self.redis.errors("locks"):
            return int(await self._client.incr(name))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
