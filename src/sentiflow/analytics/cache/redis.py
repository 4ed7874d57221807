"""`RedisCache`: distributed mode's analytics cache, shared by every API process.

Values live at `keys.cache(key)` with a TTL; scopes sit in one hash per source
(`keys.cache_scopes`), so a batch event reads only the hashes of the sources it touched.
"""

from __future__ import annotations

import secrets
from typing import Any, Final, cast

from sentiflow.analytics.cache.base import Change, Scope
from sentiflow.connections import RedisConnection
from sentiflow.keys import Keys

PART: Final = "cache"
# Write the value only if the scope registered with this token survived every invalidation.
STORE: Final = """
if redis.call('hget', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""


class RedisCache:
    def __init__(self, redis: RedisConnection, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._client = redis.client
        self._store: Any = self._client.register_script(STORE)

    async def get(self, key: str) -> bytes | None:
        with self.redis.errors(PART):
            return cast(bytes | None, await self._client.get(self.keys.cache(key)))

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        with self.redis.errors(PART):
            await self._client.set(self.keys.cache(key), value, px=max(1, int(ttl * 1000)))

    async def delete(self, key: str) -> None:
        with self.redis.errors(PART):
            await self._client.delete(self.keys.cache(key))

    async def track(self, key: str, scope: Scope, *, ttl: float) -> str:
        token = f"{secrets.token_hex(8)}|{scope.dumps()}"
        where = self.keys.cache_scopes(scope.source or "*")
        with self.redis.errors(PART):
            async with self._client.pipeline(transaction=True) as pipe:
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
        with self.redis.errors(PART):
            stored = await self._store(keys=keys, args=[key, token, value, max(1, int(ttl * 1000))])
        return bool(stored)

    async def invalidate(self, change: Change) -> int:
        with self.redis.errors(PART):
            return sum(
                [await self._invalidate(where, change) for where in await self._hashes(change)]
            )

    async def _hashes(self, change: Change) -> list[str]:
        """The scope hashes `change` may touch: those of its sources and of every source."""
        if change.everything:
            pattern = self.keys.cache_scopes("*")
            return sorted({k.decode() async for k in self._client.scan_iter(match=pattern)})
        return [self.keys.cache_scopes(source) for source in [*sorted(change.sources), "*"]]

    async def _invalidate(self, where: str, change: Change) -> int:
        entries = cast(dict[bytes, bytes], await self._client.hgetall(where))
        hit = [
            key.decode()
            for key, token in entries.items()
            if change.affects(Scope.loads(token.split(b"|", 1)[1]))
        ]
        if not hit:
            return 0
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hdel(where, *hit)
            pipe.delete(*(self.keys.cache(k) for k in hit))
            _, deleted = await pipe.execute()
        return int(deleted)
