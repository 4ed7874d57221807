"""The demo stream: real Reddit comments (GoEmotions test split, Apache-2.0) replayed at a
steady rate, stamped with the current time, so a fresh `sentiflow run` shows life at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import orjson
import structlog

from sentiflow.errors import Backpressure
from sentiflow.ingest.service import submit
from sentiflow.queue.base import Broker

log = structlog.get_logger("sentiflow.demo")


def demo_posts() -> list[dict[str, Any]]:
    """The carried demo posts: `text`, `external_id`, `topic` (see data/README.md)."""
    raw = resources.files("sentiflow.data").joinpath("demo_posts.jsonl").read_bytes()
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def _stream(posts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for loop in itertools.count():
        for post in posts:
            yield {**post, "source": "demo", "external_id": f"{post['external_id']}-{loop}"}


async def replay(broker: Broker, *, rate: float, stop: asyncio.Event) -> None:
    """Feed demo posts at `rate` per second (in small ticks) until `stop` is set."""
    if rate <= 0:
        return
    stream = _stream(demo_posts())
    tick = 0.25
    per_tick = rate * tick
    owed = 0.0
    log.info("demo.started", rate=rate)
    while not stop.is_set():
        owed += per_tick
        n, owed = int(owed), owed - int(owed)
        if n:
            try:
                await submit(broker, itertools.islice(stream, n))
            except Backpressure:
                log.warning("demo.backpressure")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
