"""The `SignalStore` contract and the signals' JSON form. The request path only ever reads
a `SignalStore`; the scheduler's `signals` job writes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from sentiflow.ranking.base import Signals, Term


class SignalStore(Protocol):
    async def get(self) -> Signals | None: ...

    async def put(
        self,
        windows: Mapping[int, Sequence[Term]],
        computed_at: datetime,
        entities: Sequence[Term] = (),
    ) -> Signals:
        """Store new signals under the next version and return them."""
        ...


def encode(signals: Signals) -> bytes:
    return orjson.dumps(
        {
            "version": signals.version,
            "computed_at": signals.computed_at.isoformat(),
            "windows": {
                str(w): [[t.term, t.kind, t.weight, t.count, t.polarity] for t in ts]
                for w, ts in signals.windows.items()
            },
            "entities": [[t.term, t.kind, t.weight, t.count, t.polarity] for t in signals.entities],
        }
    )


def decode(raw: bytes) -> Signals:
    data: dict[str, Any] = orjson.loads(raw)
    return Signals(
        version=int(data["version"]),
        computed_at=datetime.fromisoformat(data["computed_at"]),
        windows={int(w): [Term(*t) for t in ts] for w, ts in data["windows"].items()},
        entities=[Term(*t) for t in data.get("entities", ())],
    )
