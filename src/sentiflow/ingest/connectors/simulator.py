"""A source for demos and load tests: replays a file (CSV, JSONL, Parquet) at a rate, or
generates a realistic mix — the carried demo comments, topics, bursts on one topic, and some
Spanish, French, German and Portuguese posts — deterministically from a seed.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from sentiflow.ingest.connectors.base import Page
from sentiflow.ingest.demo import demo_posts
from sentiflow.ingest.files import ColumnMap, detect_format, read_records
from sentiflow.models import PostIn
from sentiflow.settings import Settings

PAGE = 500
TOPICS = ("sports", "politics", "movies", "music", "food", "tech")
# Short posts in other languages, by sentiment, so multilingual handling shows up in demos.
FOREIGN = {
    "es": (
        "Me encanta este {t}, es genial",
        "Qué desastre de {t}, muy decepcionante",
        "Hoy hablan de {t}",
    ),
    "fr": (
        "J'adore ce {t}, c'est super",
        "Quelle honte, ce {t} est nul",
        "On parle de {t} aujourd'hui",
    ),
    "de": (
        "Ich liebe dieses {t}, großartig",
        "Was für ein schreckliches {t}",
        "Heute geht es um {t}",
    ),
    "pt": ("Adorei esse {t}, muito bom", "Que {t} horrível, péssimo", "Hoje o assunto é {t}"),
}


class SimulatorConfig(BaseModel):
    rate: float = Field(20.0, gt=0, le=1_000_000, description="Posts per second.")
    file: str | None = Field(None, description="Replay this CSV/JSONL/Parquet file instead.")
    loop: bool = Field(True, description="Start the file again at its end.")
    foreign_share: float = Field(0.08, ge=0, le=1, description="Share of non-English posts.")
    burst_chance: float = Field(0.05, ge=0, le=1, description="Chance a poll has a burst.")
    seed: int = Field(7, description="Seed of the generated mix.")
    max_per_poll: int = Field(50_000, ge=1, description="Cap on posts of one poll.")


class SimulatorConnector:
    kind: ClassVar[str] = "simulator"
    Config: ClassVar[type[BaseModel]] = SimulatorConfig

    def __init__(self, name: str, config: Any, settings: Settings) -> None:
        self.name = name
        self.config: SimulatorConfig = config
        self.clock = time.time

    def _owed(self, cursor: dict[str, Any]) -> int:
        """Posts due since the last poll at `rate` (one second's worth the first time)."""
        now = self.clock()
        elapsed = now - float(cursor.get("at", now - 1.0))
        return max(0, min(self.config.max_per_poll, round(self.config.rate * elapsed)))

    async def fetch(self, cursor: dict[str, Any]) -> AsyncIterator[Page]:
        n = self._owed(cursor)
        at = self.clock()
        if self.config.file:
            async for page in self._replay(cursor, n, at):
                yield page
            return
        seq = int(cursor.get("seq", 0))
        rng = random.Random(f"{self.config.seed}-{seq}")
        burst = rng.choice(TOPICS) if rng.random() < self.config.burst_chance else None
        if burst:
            n *= 5
        posts = [self._generated(seq + i, rng, burst) for i in range(n)]
        for start in range(0, len(posts), PAGE):
            chunk = posts[start : start + PAGE]
            yield Page(chunk, {"seq": seq + start + len(chunk), "at": at})
        if not posts:
            yield Page([], {"seq": seq, "at": at})

    def _generated(self, seq: int, rng: random.Random, burst: str | None) -> PostIn:
        topic = burst if burst and rng.random() < 0.7 else rng.choice((*TOPICS, None, None))
        meta: dict[str, Any] = {"lang": "en"}
        if rng.random() < self.config.foreign_share:
            lang = rng.choice(sorted(FOREIGN))
            text = rng.choice(FOREIGN[lang]).format(t=topic or "tema")
            meta["lang"] = lang
        else:
            base = _demo()[seq % len(_demo())]
            text, topic = base["text"], base.get("topic") or topic
        if burst:
            meta["burst"] = burst
        return PostIn(
            source=self.name,
            external_id=f"sim-{seq}",
            text=text,
            topic=topic,
            created_at=datetime.now(UTC),
            meta=meta,
        )

    async def _replay(self, cursor: dict[str, Any], n: int, at: float) -> AsyncIterator[Page]:
        offset = int(cursor.get("offset", 0))
        loop = int(cursor.get("loop", 0))
        taken: list[PostIn] = []
        while len(taken) < n:
            before, pass_start = len(taken), offset
            offset = self._read_from(offset, loop, n, taken)
            if len(taken) < n:
                # A whole pass from the top that yielded nothing would loop for ever.
                if not self.config.loop or (len(taken) == before and pass_start == 0):
                    break
                offset, loop = 0, loop + 1
        for start in range(0, len(taken), PAGE):
            yield Page(taken[start : start + PAGE], {"offset": offset, "loop": loop, "at": at})
        if not taken:
            yield Page([], {"offset": offset, "loop": loop, "at": at})

    def _read_from(self, offset: int, loop: int, n: int, taken: list[PostIn]) -> int:
        """Add the file's valid posts from row `offset` to `taken` until it holds `n`; the row
        to read next. A post of a later pass gets the pass number in its external id."""
        path = Path(self.config.file or "")
        records = read_records(
            path, detect_format(path, None), ColumnMap(source=self.name, drop_extra=True)
        )
        for record in itertools.islice(records, offset, None):
            offset += 1
            if record.post is None:
                continue
            row = {**record.post, "source": self.name, "created_at": datetime.now(UTC)}
            if loop:
                row["external_id"] = f"{row.get('external_id') or offset}-{loop}"
            try:
                taken.append(PostIn.model_validate(row))
            except ValueError:
                continue
            if len(taken) >= n:
                break
        return offset

    async def close(self) -> None:
        return None


_DEMO: list[dict[str, Any]] = []


def _demo() -> list[dict[str, Any]]:
    if not _DEMO:
        _DEMO.extend(demo_posts())
    return _DEMO
