"""`sentiflow bench purge`: what retention costs at scale on PostgreSQL. A scratch database is
filled in SQL (generate_series) with N posts spread over 400 days, their analyses and some
urgent rows; then the posts older than an age are purged in batches while a probe writes small
batches through the worker's write path, whose latency is compared with the same probe just
before the purge. The scratch database is dropped afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sentiflow.bench.pipeline import _drop_database, _scratch_database
from sentiflow.errors import ConfigError
from sentiflow.lifecycle import purge
from sentiflow.models import Analysis, PostIn
from sentiflow.settings import Settings
from sentiflow.store.db import Store, make_engine
from sentiflow.store.write import save_batch

SPAN_DAYS = 400
PROBE_POSTS = 100
PROBE_EVERY_S = 0.2

# Posts spread evenly over SPAN_DAYS, newest first; analyses with the worker's JSON shapes; an
# urgent row for every tenth post. Foreign-key triggers are off while seeding (replica role).
_SEED = [
    "SET session_replication_role = replica",
    "SET synchronous_commit = off",
    """INSERT INTO posts (id, source, external_id, text, author, created_at, topic, meta,
                          ingested_at)
       SELECT lpad(to_hex(g), 24, '0'), 'bench', g::text,
              'post number ' || g || ' about the delivery, which was late again',
              'author' || (g % 100000),
              now() - make_interval(secs => g * ($1::float8 * 86400 / $2)),
              'topic' || (g % 20), '{}', now()
       FROM generate_series(1, $2) AS g""",
    """INSERT INTO analyses (post_id, sentiment, sentiment_confidence, sentiment_probs,
                             polarity, emotion, emotion_confidence, emotion_probs,
                             model_version, analyzed_at)
       SELECT lpad(to_hex(g), 24, '0'), (ARRAY['negative','neutral','positive'])[g % 3 + 1],
              0.7, '{"negative": 0.7, "neutral": 0.2, "positive": 0.1}', -0.6, 'anger', 0.5,
              '{"anger": 0.5, "neutral": 0.5}', 'bench', now()
       FROM generate_series(1, $1) AS g""",
    """INSERT INTO urgent_posts (post_id, source, topic, created_at, base, rank_key)
       SELECT id, source, topic, created_at, 0.7, 0.0 FROM posts
       WHERE external_id::bigint % 10 = 0""",
    "ANALYZE",
]


@dataclass
class Probe:
    """Small batches written through the worker's path, one every PROBE_EVERY_S seconds."""

    store: Store
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    sent: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            posts = [
                PostIn(
                    source="probe", external_id=f"{self.name}-{self.sent}-{i}", text=f"probe {i}"
                )
                for i in range(PROBE_POSTS)
            ]
            self.sent += 1
            started = time.perf_counter()
            await save_batch(self.store, posts, [_ANALYSIS] * len(posts))
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY_S)

    def figures(self, prefix: str) -> dict[str, float]:
        ordered = sorted(self.latencies_ms) or [0.0]
        return {
            f"{prefix}_batches": float(len(self.latencies_ms)),
            f"{prefix}_p50_ms": statistics.median(ordered),
            f"{prefix}_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            f"{prefix}_max_ms": ordered[-1],
        }


_ANALYSIS = Analysis(
    sentiment="positive",
    sentiment_confidence=0.8,
    sentiment_probs={"negative": 0.1, "neutral": 0.1, "positive": 0.8},
    polarity=0.7,
    emotion="joy",
    emotion_confidence=0.6,
    emotion_probs={"joy": 0.6, "neutral": 0.4},
    model_version="probe",
)


async def _probe_alone(store: Store, seconds: float) -> Probe:
    probe = Probe(store, "alone")
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return probe


async def run_purge_bench(
    settings: Settings, *, posts: int, older_than_days: int, batch: int
) -> dict[str, Any]:
    if settings.database_url is None:
        raise ConfigError(
            "`sentiflow bench purge` needs SENTIFLOW_DATABASE_URL (PostgreSQL); "
            "it works in a scratch database beside that one"
        )
    base = make_engine(settings.database_url).url.render_as_string(hide_password=False)
    url, name = await _scratch_database(base)
    store = Store(make_engine(url))
    try:
        await store.migrate()
        started = time.perf_counter()
        driver = await store.connect_driver()
        try:
            for statement in _SEED:
                if "$2" in statement:
                    await driver.execute(statement, SPAN_DAYS, posts)
                elif "$1" in statement:
                    await driver.execute(statement, posts)
                else:
                    await driver.execute(statement)
        finally:
            await driver.close()
        seed_s = time.perf_counter() - started
        baseline = await _probe_alone(store, 10.0)

        probe = Probe(store, "during")
        stop = asyncio.Event()
        task = asyncio.create_task(probe.run(stop))
        done = await purge(store, timedelta(days=older_than_days), batch=batch)
        stop.set()
        await task
        return {
            "bench": "purge",
            "posts": posts,
            "seed_s": round(seed_s, 1),
            "purged": done.posts,
            "purge_s": round(done.seconds, 2),
            "purged_per_s": round(done.posts / done.seconds) if done.seconds else 0,
            "batch": batch,
            **baseline.figures("ingest_alone"),
            **probe.figures("ingest_during_purge"),
        }
    finally:
        await store.close()
        await _drop_database(base, name)
