"""Spike alerts: per source and topic, the latest complete window's volume or negative share
against the mean + k·σ of the windows before it. Each alert is stored once (a unique key),
published on the event bus as {"type": "alert", ...} and POSTed to an optional webhook.

`evaluate_alerts(settings, store, events)` is one evaluation; workers run it every
`alert_interval_s`.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from sentiflow.events import AlertEvent, EventBus
from sentiflow.models import Alert
from sentiflow.settings import AlertSettings
from sentiflow.store import alerts as alert_store
from sentiflow.store.db import Store
from sentiflow.store.rollups import minute_bucket
from sentiflow.store.stats import RollupFilter

log = structlog.get_logger("sentiflow.alerts")

# Floors under the baseline σ: a perfectly steady baseline (σ = 0) must not turn ordinary
# noise into an alert. Volume: Poisson noise √mean, at least 1 post. Share: binomial noise of
# the latest window, at least 5 points.
MIN_SHARE_STD = 0.05


@dataclass(frozen=True, slots=True)
class Spike:
    kind: Literal["negative_share", "volume"]
    source: str
    topic: str
    value: float
    mean: float
    std: float
    evidence: dict[str, Any]


def _std(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def detect(
    counts: list[tuple[str, str, int, int, int]], *, windows: int, k: float, min_posts: int
) -> list[Spike]:
    """Spikes in window `windows` (the latest) given (source, topic, index, posts, negative)
    for windows 0..windows. A group whose volume and negative share both spike raises one
    negative_share alert, with the volume figures in its evidence."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(
        lambda: [(0, 0)] * (windows + 1)
    )
    for source, topic, index, n, negative in counts:
        if 0 <= index <= windows:
            groups[(source, topic)][index] = (n, negative)
    spikes: list[Spike] = []
    for (source, topic), series in sorted(groups.items()):
        n, negative = series[windows]
        if n < min_posts:
            continue
        baseline = series[:windows]
        volumes = [float(v) for v, _ in baseline]
        v_mean, v_std = statistics.fmean(volumes), _std(volumes)
        v_limit = v_mean + k * max(v_std, math.sqrt(v_mean), 1.0)
        shares = [neg / v for v, neg in baseline if v > 0]
        share = negative / n
        evidence: dict[str, Any] = {
            "posts": n,
            "negative": negative,
            "share": round(share, 4),
            "volume_limit": round(v_limit, 3),
            "baseline": [{"posts": v, "negative": neg} for v, neg in baseline],
        }
        # A share needs a few windows with posts to have a baseline at all.
        if len(shares) >= max(2, windows // 2):
            s_mean, s_std = statistics.fmean(shares), _std(shares)
            noise = math.sqrt(max(s_mean * (1 - s_mean), 0.0) / n)
            s_limit = s_mean + k * max(s_std, noise, MIN_SHARE_STD)
            evidence["share_limit"] = round(s_limit, 4)
            if share > s_limit:
                spikes.append(
                    Spike("negative_share", source, topic, share, s_mean, s_std, evidence)
                )
                continue
        if n > v_limit:
            spikes.append(Spike("volume", source, topic, float(n), v_mean, v_std, evidence))
    return spikes


async def evaluate_alerts(
    settings: AlertSettings, store: Store, events: EventBus, *, now: datetime | None = None
) -> list[Alert]:
    """Look at the latest complete window; store, publish and deliver each new alert."""
    size = max(1, settings.window_s // 60)
    windows = settings.baseline_windows
    end = minute_bucket(now or datetime.now(UTC)) // size * size
    lo = end - (windows + 1) * size
    counts = await alert_store.window_counts(store, lo=lo, windows=windows + 1, size=size)
    spikes = detect(counts, windows=windows, k=settings.k, min_posts=settings.min_posts)
    start_at = datetime.fromtimestamp((end - size) * 60, UTC)
    end_at = datetime.fromtimestamp(end * 60, UTC)
    fresh: list[Alert] = []
    for spike in spikes:
        alert = await _store_alert(settings, store, spike, start_at, end_at, size)
        if alert is not None:
            log.info("alert.raised", kind=spike.kind, source=spike.source, topic=spike.topic)
            fresh.append(alert)
    for alert in fresh:
        event: AlertEvent = {"type": "alert", **alert}
        await events.publish(event)
    if fresh and settings.webhook_url:
        await asyncio.gather(*(deliver(settings.webhook_url, alert) for alert in fresh))
    return fresh


async def _store_alert(
    settings: AlertSettings,
    store: Store,
    spike: Spike,
    start_at: datetime,
    end_at: datetime,
    size: int,
) -> Alert | None:
    """Store one spike with its evidence; the stored alert, or None when it was stored before."""
    samples = await alert_store.negative_samples(
        store, source=spike.source, topic=spike.topic, since=start_at, until=end_at
    )
    row = {
        "kind": spike.kind,
        "source": spike.source,
        "topic": spike.topic,
        "window_start": start_at,
        "window_end": end_at,
        "value": round(spike.value, 6),
        "baseline_mean": round(spike.mean, 6),
        "baseline_std": round(spike.std, 6),
        "k": settings.k,
        "evidence": {**spike.evidence, "window_minutes": size, "sample_post_ids": samples},
        "created_at": datetime.now(UTC),
    }
    alert_id = await alert_store.insert_alert(store, row)
    if alert_id is None:
        return None
    stored = await alert_store.list_alerts(
        store,
        RollupFilter(source=spike.source, topic=spike.topic, since=start_at, until=end_at),
        limit=10,
    )
    return next(a for a in stored if a["id"] == alert_id)


async def deliver(url: str, alert: Alert, *, attempts: int = 5) -> bool:
    """POST one alert to the webhook, retrying with backoff; False when every try failed."""
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential(multiplier=0.2, max=5.0),
                retry=retry_if_exception_type(httpx.HTTPError),
                reraise=True,
            ):
                with attempt:
                    response = await client.post(url, json={"type": "alert", **alert})
                    response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("alert.webhook_failed", url=url, alert=alert["id"], error=repr(exc))
        return False
    return True


async def run_periodically(
    settings: AlertSettings, store: Store, events: EventBus, stop: asyncio.Event
) -> None:
    """Evaluate alerts every `interval_s` until `stop` is set (a worker's task)."""
    while not stop.is_set():
        try:
            await evaluate_alerts(settings, store, events)
        except Exception as exc:
            log.warning("alert.evaluation_failed", error=repr(exc))
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.interval_s)
        except TimeoutError:
            continue
