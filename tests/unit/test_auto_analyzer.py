"""SENTIFLOW_ANALYZER=auto: the accurate tier while the backlog is small, builtin-fast when it
grows, with hysteresis; each analysis keeps its model's version and /metrics counts them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from sentiflow.analyze import registry
from sentiflow.analyze.auto import AutoAnalyzer, TierSwitch
from sentiflow.analyze.base import Analyzer
from sentiflow.analyze.builtin import BuiltinFastAnalyzer
from sentiflow.analyze.lexicon import VERSION as LEXICON
from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.analyze.versions import shipped
from sentiflow.errors import ConfigError
from sentiflow.metrics import _local
from sentiflow.models import PostIn
from sentiflow.queue.memory import MemoryBroker
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.worker import Worker
from tests.conftest import wait_for

FAST = shipped("builtin-fast").version


def test_the_tier_changes_only_past_each_mark() -> None:
    switch = TierSwitch(fast_above=1_000, accurate_below=100)
    tiers = [switch.update(backlog) for backlog in (0, 900, 1_001, 500, 101, 100, 900, 2_000)]
    assert tiers == [False, False, True, True, True, False, False, True]


def _fast() -> BuiltinFastAnalyzer:
    return BuiltinFastAnalyzer(shipped("builtin-fast").path)


def test_auto_answers_with_builtin_fast_until_the_accurate_tier_is_ready() -> None:
    def never() -> Analyzer:
        raise ConfigError("builtin-accurate is not installed")

    broken = AutoAnalyzer(_fast(), never, accurate_max=64)
    assert not broken.ready(timeout=10)
    assert broken.analyze(["fine"])[0].model_version == FAST

    auto = AutoAnalyzer(_fast(), LexiconAnalyzer, accurate_max=2)
    assert auto.ready(timeout=10)
    assert auto.version == f"auto:{LEXICON}|{FAST}"
    assert {a.model_version for a in auto.analyze(["one", "two"])} == {LEXICON}
    # Asked for the fast tier, or more texts than the accurate tier takes at once.
    assert {a.model_version for a in auto.analyze(["one"], fast=True)} == {FAST}
    assert {a.model_version for a in auto.analyze(["a", "b", "c"])} == {FAST}
    # Each tier's languages hold under its own version.
    assert set(auto.languages) == {FAST, LEXICON}


def test_texts_in_a_language_the_accurate_tier_lacks_go_to_builtin_fast() -> None:
    auto = AutoAnalyzer(_fast(), LexiconAnalyzer, accurate_max=64)  # VADER: English only
    assert auto.ready(timeout=10)
    texts = ["great day", "qué día tan bonito", "awful", "sin idioma"]
    found = auto.analyze(texts, langs=["en", "es", None, "nl"])
    assert [a.model_version for a in found] == [LEXICON, FAST, LEXICON, FAST]
    assert [a.model_version for a in auto.analyze(texts)] == [LEXICON] * 4


def test_in_a_pool_builtin_fast_answers_while_the_accurate_tier_loads() -> None:
    gate = threading.Event()

    def slow() -> Analyzer:
        gate.wait(10)
        return LexiconAnalyzer()

    auto = AutoAnalyzer(_fast(), slow, accurate_max=64)
    auto.background = True
    assert auto.analyze(["one"])[0].model_version == FAST
    gate.set()
    assert auto.ready(timeout=10)
    assert auto.analyze(["one"])[0].model_version == LEXICON


def _count(model: str) -> float:
    return _local.get_sample_value("sentiflow_analyses_total", {"model": model}) or 0.0


async def test_worker_switches_tiers_with_the_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lexicon stands in for the accurate tier: what matters is which tier answers.
    monkeypatch.setitem(registry.BACKENDS, "builtin-accurate", lambda s: LexiconAnalyzer())
    settings = Settings(data_dir=tmp_path, analyzer="auto", analyzer_processes=0)
    store = Store.from_settings(settings)
    await store.migrate()
    broker = MemoryBroker()
    pool = AnalyzerPool(settings, processes=0)

    async def accurate_ready() -> bool:
        return (await pool.analyze(["warm up"]))[0].model_version == LEXICON

    await wait_for(accurate_ready)
    worker = Worker(
        broker=broker,
        store=store,
        pool=pool,
        batch_size=500,
        tiers=TierSwitch(fast_above=100, accurate_below=10),
        accurate_batch=8,
    )
    before = _count(LEXICON), _count(FAST)
    try:
        posts = [PostIn(source="s", external_id=str(i), text=f"post {i}") for i in range(300)]
        # A trickle: the accurate tier, a small batch at a time.
        await broker.publish(posts[:20])
        assert await worker.process_batch() == 8
        # A flood: builtin-fast takes whole batches until the backlog is back under 10.
        await broker.publish(posts[20:])
        assert await worker.process_batch() == 292
        assert await worker.process_batch() == 0
        assert worker.tiers is not None and not worker.tiers.fast
        assert (_count(LEXICON) - before[0], _count(FAST) - before[1]) == (8, 292)

        # A flood that arrives while the worker waits for posts: the batch it was waiting for
        # (sized for the accurate tier) already goes to builtin-fast.
        waiting = asyncio.create_task(worker.process_batch())
        await asyncio.sleep(0.1)
        await broker.publish(
            [PostIn(source="s", external_id=f"f{i}", text=f"flood {i}") for i in range(300)]
        )
        assert await waiting == 8
        assert worker.tiers.fast
        assert _count(FAST) - before[1] == 300
    finally:
        pool.close()
        await store.close()
