"""`MemoryCache`: embedded mode's analytics cache, in process; same contract as `RedisCache`."""

from __future__ import annotations

import secrets
import time

from sentiflow.analytics.cache.base import Change, Scope


class MemoryCache:
    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}
        self._scopes: dict[str, dict[str, tuple[Scope, str]]] = {}

    async def get(self, key: str) -> bytes | None:
        hit = self._values.get(key)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            del self._values[key]
            return None
        return hit[0]

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._values[key] = (value, time.monotonic() + ttl)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def track(self, key: str, scope: Scope, *, ttl: float) -> str:
        token = secrets.token_hex(8)
        self._scopes.setdefault(scope.source or "*", {})[key] = (scope, token)
        return token

    async def store(self, key: str, value: bytes, *, token: str, ttl: float) -> bool:
        for entries in self._scopes.values():
            held = entries.get(key)
            if held is not None and held[1] == token:
                await self.set(key, value, ttl=ttl)
                return True
        return False

    async def invalidate(self, change: Change) -> int:
        dropped = 0
        sources = list(self._scopes) if change.everything else [*change.sources, "*"]
        for source in sources:
            entries = self._scopes.get(source, {})
            for key in [k for k, (scope, _) in entries.items() if change.affects(scope)]:
                del entries[key]
                dropped += self._values.pop(key, None) is not None
        return dropped
