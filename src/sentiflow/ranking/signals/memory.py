"""`MemorySignalStore`: embedded mode's signals, in this process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sentiflow.ranking.base import Signals, Term


class MemorySignalStore:
    def __init__(self) -> None:
        self._signals: Signals | None = None

    async def get(self) -> Signals | None:
        return self._signals

    async def put(
        self,
        windows: Mapping[int, Sequence[Term]],
        computed_at: datetime,
        entities: Sequence[Term] = (),
    ) -> Signals:
        version = self._signals.version + 1 if self._signals else 1
        self._signals = Signals(
            version=version,
            computed_at=computed_at,
            windows=dict(windows),
            entities=list(entities),
        )
        return self._signals
