"""The `Locks` contract. Every release and renewal is compare-and-set on the holder's token,
so a process whose lease has expired can never free or extend somebody else's."""

from __future__ import annotations

from typing import Protocol


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
