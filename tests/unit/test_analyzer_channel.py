"""The analyzer process that ranking talks to over one socket read by the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import socket
from pathlib import Path
from typing import Any

import pytest

from sentiflow.analyze.channel import _HEADER, AnalyzerGone, AnalyzerProcess, _serve
from sentiflow.analyze.registry import build_analyzer
from sentiflow.ranking.base import RankItem
from sentiflow.ranking.engine import Ranker
from sentiflow.ranking.signals import MemorySignalStore
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from tests.conftest import wait_for

TEXTS = ["I am furious, the app lost my order", "What a lovely morning", "ok then"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", analyzer_processes=0, signals_interval_s=0)


async def test_answers_each_request_with_its_own_analyses(settings: Settings) -> None:
    process = AnalyzerProcess(settings)
    await process.start()
    try:
        assert process.version
        feeds = [TEXTS[i:] * 40 for i in range(len(TEXTS))]  # different lengths, in flight at once
        answers = await asyncio.gather(*(process.analyze(feed) for feed in feeds))
    finally:
        await process.close()
    here = build_analyzer(settings.analyzer, settings)
    for feed, answer in zip(feeds, answers, strict=True):
        expected = here.analyze(feed)
        assert [(a.sentiment, a.emotion, a.sentiment_probs) for a in answer] == [
            (a.sentiment, a.emotion, a.sentiment_probs) for a in expected
        ]
    assert not process.alive


async def test_a_dead_process_fails_its_requests_and_ranking_goes_on_in_a_thread(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"rank_processes": 1, "rank_process_min": 2})
    store = Store.from_settings(settings)
    await store.migrate()
    ranker = Ranker(settings, store=store, signals=MemorySignalStore())
    await ranker.start()
    try:

        async def ready() -> bool:
            return ranker.analyzer.processes_ready

        await wait_for(ready, timeout=60)
        (process,) = ranker.analyzer.processes
        assert process._process is not None
        process._process.kill()

        async def gone() -> bool:
            return not process.alive

        await wait_for(gone)
        with pytest.raises(AnalyzerGone):
            await process.analyze(TEXTS)
        items = [RankItem(id=str(i), text=t) for i, t in enumerate(TEXTS)]
        result = await ranker.rank(items, strategy="urgency", deadline_ms=10_000)
    finally:
        await ranker.close()
        await store.close()
    assert result.partial is False
    assert result.scorers == {"store": "done", "analyzer": "done", "urgency": "done"}
    assert result.ranked_ids[0] == "0"


def test_a_batch_that_fails_is_retried_one_request_at_a_time(settings: Settings) -> None:
    from sentiflow.analyze import channel

    here = build_analyzer(settings.analyzer, settings)

    class FailsOnBoom:
        def analyze(self, texts: list[str]) -> list[Any]:
            if "boom" in texts:
                raise ValueError("boom")
            return here.analyze(texts)

    requests = [(1, ["good", "fine"]), (2, ["boom"]), (3, ["ok"])]
    answers = channel._answer(FailsOnBoom(), requests)  # type: ignore[arg-type]
    assert [(request, ok) for request, _, ok in answers] == [(1, 1), (2, 0), (3, 1)]
    assert [a.sentiment for a in pickle.loads(answers[0][1])] == [
        a.sentiment for a in here.analyze(["good", "fine"])
    ]
    assert b"boom" in answers[1][1]


def test_the_process_ends_quietly_when_its_parent_hangs_up_mid_answer(settings: Settings) -> None:
    """An API process that exits while its analyzer is answering: the analyzer's send finds
    the socket closed, and it exits with 0 instead of a BrokenPipeError traceback."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(theirs, settings.analyzer, settings)
    )
    process.start()
    theirs.close()
    payload = pickle.dumps(TEXTS * 2_000)
    ours.sendall(_HEADER.pack(1, len(payload), 1) + payload)
    ours.close()  # before the answer: the analysis alone takes longer than this
    process.join(60)
    assert process.exitcode == 0
