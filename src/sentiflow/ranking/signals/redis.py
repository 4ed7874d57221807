"""`RedisSignalStore`: distributed mode's signals (trending terms and common entities), one
JSON value in Redis that every API process reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from sentiflow.connections import RedisConnection
from sentiflow.keys import Keys
from sentiflow.ranking.base import Signals, Term
from sentiflow.ranking.signals.base import decode, encode

PART: Final = "signals"


class RedisSignalStore:
    def __init__(self, redis: RedisConnection, keys: Keys) -> None:
        self.redis = redis
        self._keys = keys
        # Decoding costs more than a GET, so the last value is reused until Redis has a new one.
        self._last: tuple[bytes, Signals] | None = None

    async def get(self) -> Signals | None:
        with self.redis.errors(PART):
            raw = await self.redis.client.get(self._keys.signals)
        if raw is None:
            return None
        if self._last is None or self._last[0] != raw:
            self._last = (raw, decode(raw))
        return self._last[1]

    async def put(
        self,
        windows: Mapping[int, Sequence[Term]],
        computed_at: datetime,
        entities: Sequence[Term] = (),
    ) -> Signals:
        with self.redis.errors(PART):
            version = int(await self.redis.client.incr(self._keys.signals_version))
            signals = Signals(
                version=version,
                computed_at=computed_at,
                windows=dict(windows),
                entities=list(entities),
            )
            await self.redis.client.set(self._keys.signals, encode(signals))
        return signals
