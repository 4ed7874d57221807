"""The ranking contract: a `RankItem` per post of the feed, and the `Strategy` plug-in that
scores a chunk of them from their analyses and the background `Signals`. Higher scores rank
first; equal scores keep the feed's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis


@dataclass(slots=True)
class RankItem:
    """One post of the feed to rank, as the client sent it (text already normalised).
    Read-only by convention: not frozen, because a frozen init costs on 1,000-item feeds."""

    id: str
    text: str
    source: str | None = None
    author: str | None = None
    created_at: datetime | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Term:
    """A trending keyword or entity in one window: how much more it is said than usual."""

    term: str
    kind: str  # "keyword" or "entity"
    weight: float  # 0..1, the strongest trend of the window is 1
    count: int
    polarity: float  # mean polarity of the posts that mention it


@dataclass(frozen=True, slots=True)
class Signals:
    """Trending terms per window (seconds), and the named entities common across recent
    posts (most mentioned first, kind "entity"), as the background job last computed them."""

    version: int
    computed_at: datetime
    windows: Mapping[int, Sequence[Term]]
    entities: Sequence[Term] = ()

    def terms(self, window: int | None = None) -> Sequence[Term]:
        """The terms of `window`, or of the shortest window when none is named."""
        if not self.windows:
            return ()
        if window is None:
            window = min(self.windows)
        if window not in self.windows:
            known = ", ".join(str(w) for w in sorted(self.windows))
            raise ValidationFailed(
                f"no signals for a window of {window} s; use one of: {known}",
                field="options.window",
            )
        return self.windows[window]


class Strategy(Protocol):
    """A ranking plug-in. `score` is synchronous and pure: the engine runs it off the event
    loop, one call per chunk of the feed, and may abandon a call that misses the deadline.
    Before that it calls `score` once with no items, on the loop, so that bad options raise
    `ValidationFailed` (a 422) rather than fail the scorer.

    A strategy whose `score` is one quick pass over the items that never blocks may set the
    optional attribute `on_loop = True`: the engine then calls it on the event loop, saving a
    hand-off to a thread and back per chunk (the built-in ones do)."""

    name: str
    doc: str  # what the score means, shown in /api/rank/strategies and docs/ranking.md
    uses_analyses: bool  # False: the engine neither reads the store nor runs the analyzer
    uses_signals: bool

    def score(
        self,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
    ) -> list[float]: ...
