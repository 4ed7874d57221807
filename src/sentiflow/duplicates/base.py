"""The near-duplicate index protocol: each post of a batch, with its fingerprint, is matched
against the recent group leaders (posts that matched none before them); one that matches
none becomes a leader itself. Asking again about a post already seen gives the same answer,
so a batch delivered twice is grouped the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

# Fingerprints this many bits apart or fewer are near-duplicates.
MAX_DISTANCE: Final = 3

Item = tuple[str, int | None]  # (post id, fingerprint or None)


class DuplicateIndex(Protocol):
    async def group(self, items: Sequence[Item]) -> list[str | None]:
        """For each item, in order: the id of the leader it nearly copies, or None when it
        copies none (it is a leader now, or has no fingerprint)."""

    async def close(self) -> None: ...
