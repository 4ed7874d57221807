"""`MemoryLocks`: embedded mode's locks. One process, so a dict with deadlines is the whole
truth."""

from __future__ import annotations

import asyncio
import time


class MemoryLocks:
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
