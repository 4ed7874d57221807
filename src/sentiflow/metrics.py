"""Prometheus metrics: what workers count (posts, failures, dead letters, batch latency,
analyzer speed) and what /metrics reads from the broker at scrape time (stream length, lag,
pending). With `SENTIFLOW_METRICS_DIR` set, every process writes to files there (prometheus-client's
multiprocess mode), so one /metrics shows all API and worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sentiflow.keys import consumer_name
from sentiflow.settings import Settings

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_multiprocess_dir: str | None = None


def setup(settings: Settings) -> None:
    """Choose single- or multi-process metrics for this process, before any metric exists."""
    global _multiprocess_dir
    if settings.metrics_dir is None or _multiprocess_dir is not None:
        return
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    _multiprocess_dir = str(settings.metrics_dir.resolve())
    # prometheus-client reads this variable when a value file is opened; settings own it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiprocess_dir
    # Files are named by host and pid, so containers sharing one directory never collide.
    values.ValueClass = values.MultiProcessValue(consumer_name)  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.processed = Counter(
            "sentiflow_posts_processed",
            "Posts a worker took off the queue and committed.",
            ["worker"],
            registry=registry,
        )
        self.failed = Counter(
            "sentiflow_posts_failed",
            "Posts whose delivery failed (retried or dead-lettered).",
            ["worker"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "sentiflow_posts_dead_lettered",
            "Posts moved to the dead-letter stream.",
            ["worker"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "sentiflow_batch_seconds",
            "Seconds from taking a batch to its acknowledgement.",
            ["worker"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.analyzer_texts = Counter(
            "sentiflow_analyzer_texts",
            "Texts the analyzer has labelled.",
            ["worker"],
            registry=registry,
        )
        self.analyzer_seconds = Counter(
            "sentiflow_analyzer_seconds",
            "Seconds spent in the analyzer.",
            ["worker"],
            registry=registry,
        )
        self.analyses = Counter(
            "sentiflow_analyses",
            "Posts labelled, by the version of the model that labelled them (the auto "
            "analyzer's share of each tier; a `+unsupported-lang` suffix marks hedged answers).",
            ["model"],
            registry=registry,
        )
        self.analyzer_rate = Gauge(
            "sentiflow_analyzer_texts_per_second",
            "Analyzer speed on the last batch.",
            ["worker"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )


_local = CollectorRegistry()


@cache
def metrics() -> Metrics:
    """This process's metrics (call `setup` first where settings ask for multiprocess)."""
    return Metrics(None if _multiprocess_dir else _local)


class _Queue(Collector):
    def __init__(self, figures: Mapping[str, int]) -> None:
        self.figures = figures

    def collect(self) -> list[GaugeMetricFamily]:
        described = {
            "length": "Entries in the posts stream (acknowledged history not yet trimmed); "
            "an entry holds the posts of one ingest request.",
            "lag": "Entries queued and not yet delivered to any worker.",
            "pending": "Entries delivered to a worker and not yet acknowledged.",
            "backlog": "Posts accepted and not yet acknowledged (the backpressure figure).",
            "dead": "Posts in the dead-letter stream.",
        }
        return [
            GaugeMetricFamily(f"sentiflow_queue_{name}", text, value=self.figures[name])
            for name, text in described.items()
            if name in self.figures
        ]


def counters() -> CollectorRegistry:
    """A registry of every process's counters (this one's alone without a metrics dir), for
    a /metrics that cannot ask the broker (`sentiflow worker --metrics-port`)."""
    if _multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=_multiprocess_dir)  # type: ignore[no-untyped-call]
        return registry
    metrics()
    return _local


def render(queue: Mapping[str, int]) -> bytes:
    """The exposition text: every process's counters, and the queue's figures of right now
    (`QueueStats` as a mapping; empty when the broker cannot be asked)."""
    registry = CollectorRegistry()
    registry.register(_Queue(queue))
    if _multiprocess_dir:
        multiprocess.MultiProcessCollector(registry, path=_multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    metrics()
    return generate_latest(_local) + generate_latest(registry)
