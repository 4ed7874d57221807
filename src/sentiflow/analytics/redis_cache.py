"""`RedisCache`: the analytics cache of distributed mode, shared by every API process.

Values live at `keys.cache(key)` with a TTL; scopes sit in one hash per source
(`keys.cache_scopes`), so a batch event reads only the hashes of the sources it touched.
Locks are SET NX PX with a random token, released by a compare-and-delete script.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

import redis.asyncio as redis
from redis.exceptions import RedisError

from sentiflow.analytics.cache import Change, Scope
from sentiflow.errors import Unavailable
from sentiflow.keys import Keys
from sentiflow.settings import Settings

# Delete the lock only if it still holds our token: a holder that outlived its lease must not
# free the lock a later holder took.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Write the value only if the scope registered with this token survived every invalidation.
STORE = """
if redis.call('hget', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""


class RedisCache:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._release: Any = client.register_script(RELEASE)
        self._store: Any = client.register_script(STORE)

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisCache:
        assert settings.redis_url is not None
        return cls(redis.Redis.from_url(settings.redis_url), Keys(settings.redis_prefix))

    def _unavailable(self, exc: RedisError) -> Unavailable:
        return Unavailable(
            f"the analytics cache in Redis failed ({type(exc).__name__}: {exc}); "
            "check SENTIFLOW_REDIS_URL and that Redis is up",
            part="cache",
        )

    async def get(self, key: str) -> bytes | None:
        try:
            value = cast(bytes | None, await self.client.get(self.keys.cache(key)))
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return value

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        await self.client.set(self.keys.cache(key), value, px=max(1, int(ttl * 1000)))

    async def delete(self, key: str) -> None:
        await self.client.delete(self.keys.cache(key))

    async def track(self, key: str, scope: Scope, *, ttl: float) -> str:
        token = f"{secrets.token_hex(8)}|{scope.dumps()}"
        where = self.keys.cache_scopes(scope.source or "*")
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(where, key, token)
            # The hash outlives its newest entry a little, then goes away on its own.
            pipe.pexpire(where, int(ttl * 2000))
            await pipe.execute()
        return token

    async def store(self, key: str, value: bytes, *, token: str, ttl: float) -> bool:
        # The token carries the scope, so it names the hash that holds it.
        scope = Scope.loads(token.split("|", 1)[1])
        where = self.keys.cache_scopes(scope.source or "*")
        keys = [self.keys.cache(key), where]
        stored = await self._store(keys=keys, args=[key, token, value, max(1, int(ttl * 1000))])
        return bool(stored)

    async def invalidate(self, change: Change) -> int:
        # Translated, so the follower of batch events outlives a Redis restart.
        try:
            return await self._invalidate(change)
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def _invalidate(self, change: Change) -> int:
        dropped = 0
        for source in [*sorted(change.sources), "*"]:
            where = self.keys.cache_scopes(source)
            entries = cast(dict[bytes, bytes], await self.client.hgetall(where))
            hit = [
                key.decode()
                for key, token in entries.items()
                if change.affects(Scope.loads(token.split(b"|", 1)[1]))
            ]
            if hit:
                async with self.client.pipeline(transaction=True) as pipe:
                    pipe.hdel(where, *hit)
                    pipe.delete(*(self.keys.cache(k) for k in hit))
                    _, deleted = await pipe.execute()
                dropped += int(deleted)
        return dropped

    async def acquire(self, name: str, ttl: float) -> str | None:
        token = secrets.token_hex(16)
        try:
            ok = await self.client.set(self.keys.lock(name), token, nx=True, px=int(ttl * 1000))
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return token if ok else None

    async def release(self, name: str, token: str) -> bool:
        return bool(await self._release(keys=[self.keys.lock(name)], args=[token]))

    async def clear(self) -> None:
        try:
            for pattern in (self.keys.cache("*"), self.keys.cache_scopes("*")):
                batch = [k async for k in self.client.scan_iter(match=pattern, count=1000)]
                if batch:
                    await self.client.delete(*batch)
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        await self.client.aclose()
