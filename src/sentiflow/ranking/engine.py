"""The ranking engine: resolve analyses (stored ones in one query, the rest through the
analyzer), score the feed in concurrent chunks, and answer by the deadline with what is done.

Items whose chunk did not finish in time, or whose scorer failed, follow the scored ones in
the feed's order and the result says `partial`; nothing a scorer does turns into a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import operator
import time
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import compress, repeat
from typing import Any, Literal

import structlog

from sentiflow.analyze.channel import AnalyzerProcess
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis, could_be_post_id, post_id
from sentiflow.ranking.base import RankItem, Signals, Strategy, get_strategy
from sentiflow.ranking.cache import RecentAnalyses
from sentiflow.ranking.signals import SignalStore
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.ranking import analyses_by_post_id

log = structlog.get_logger("sentiflow.ranking")

Status = Literal["done", "timeout", "failed"]
SCORER_THREADS = 4
_WORST: dict[Status, int] = {"done": 0, "timeout": 1, "failed": 2}


@dataclass(slots=True)
class RankResult:
    ranked_ids: list[str]
    scores: dict[str, float]
    partial: bool
    timings_ms: dict[str, float]
    scorers: dict[str, Status]
    signals: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ranked_ids": self.ranked_ids,
            "scores": self.scores,
            "partial": self.partial,
            "timings_ms": self.timings_ms,
            "scorers": self.scorers,
            "signals": self.signals,
        }


@dataclass(slots=True)
class _Chunk:
    """One concurrent scoring task: which stage it is in when the deadline comes."""

    indices: range
    stage: str  # "analyzer" until its posts are analysed, then the strategy's name
    analyze_ms: float = 0.0
    score_ms: float = 0.0
    scores: list[float] = field(default_factory=list)
    job: Future[list[float]] | None = None


class _Late(Exception):
    """A chunk reached its on-loop scorer after the deadline: it counts as timed out."""


class _StageFailed(Exception):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {cause!r}")
        self.stage = stage


class Ranker:
    """One per API process. Analyses unknown posts in a thread for small feeds and in
    `rank_processes` processes for big ones, once those processes have started (and in the
    thread again should they all exit)."""

    def __init__(self, settings: Settings, *, store: Store, signals: SignalStore) -> None:
        self.settings = settings
        self.store = store
        self.signals = signals
        # Scorers run here; one that overruns its deadline is abandoned, not waited for.
        self._threads = _scorer_threads()
        self._stuck: set[Future[list[float]]] = set()
        self._local: AnalyzerPool | None = None
        self._processes: list[AnalyzerProcess] = []
        self._processes_ready = False
        self._warm: asyncio.Task[None] | None = None
        self.recent = RecentAnalyses(settings.rank_cache_s, settings.rank_cache_size)

    async def start(self) -> None:
        """Load the model in a thread now; start the processes in the background."""
        self._local = await asyncio.to_thread(AnalyzerPool, self.settings, processes=0)
        processes = self.settings.rank_processes
        if processes is None:
            processes = self.settings.analyzer_processes
        if processes > 0:
            self._processes = [AnalyzerProcess(self.settings) for _ in range(processes)]
            self._warm = asyncio.create_task(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await asyncio.gather(*(process.start() for process in self._processes))
            self._processes_ready = True
        except Exception as exc:  # the thread keeps analysing; say why the processes did not
            log.warning("rank.processes_failed", error=repr(exc))

    @property
    def processes_ready(self) -> bool:
        """Whether big feeds are analysed in processes yet (until then, in a thread)."""
        return self._processes_ready

    async def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if self._local is None:
            raise RuntimeError("Ranker.start() was not awaited")
        if len(texts) >= self.settings.rank_process_min and self._processes_ready:
            alive = [process for process in self._processes if process.alive]
            if alive:
                return await min(alive, key=lambda p: p.in_flight).analyze(texts)
        return await self._local.analyze(texts)

    async def close(self) -> None:
        if self._warm is not None:
            self._warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm
        if self._local is not None:
            await asyncio.to_thread(self._local.close)
        await asyncio.gather(*(process.close() for process in self._processes))
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def rank(
        self,
        items: Sequence[RankItem],
        *,
        strategy: str | Strategy,
        options: Mapping[str, Any] | None = None,
        deadline_ms: float | None = None,
    ) -> RankResult:
        """Order `items` by `strategy`, answering by the deadline (default
        `rank_deadline_ms`) with whatever is scored by then."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + (deadline_ms or self.settings.rank_deadline_ms) / 1000
        plugin = get_strategy(strategy) if isinstance(strategy, str) else strategy
        options = options or {}
        scorers: dict[str, Status] = {}
        timings: dict[str, float] = {}

        def left() -> float:
            return max(0.0, deadline - loop.time())

        signals: Signals | None = None
        if plugin.uses_signals:
            t = time.perf_counter()
            try:
                signals = await asyncio.wait_for(self.signals.get(), timeout=left())
                scorers["signals"] = "done"
            except TimeoutError:
                scorers["signals"] = "timeout"
            except Exception as exc:
                log.warning("rank.signals_failed", error=repr(exc))
                scorers["signals"] = "failed"
            timings["signals"] = _ms(t)
        # Bad options are the client's mistake (422), so they are checked before any work.
        # Any other error here is the plug-in's: its chunks will fail and say so.
        try:
            plugin.score([], [], signals, options)
        except ValidationFailed:
            raise
        except Exception as exc:
            log.warning("rank.option_check_failed", strategy=plugin.name, error=repr(exc))

        analyses: list[Analysis | None] = [None] * len(items)
        if plugin.uses_analyses:
            t = time.perf_counter()
            try:
                # In this task rather than one of its own (wait_for): a new task waits its
                # turn behind every request the loop is busy with.
                if not left():
                    raise TimeoutError
                async with asyncio.timeout(left()):
                    analyses = await self._known(items)
                scorers["store"] = "done"
            except TimeoutError:
                scorers["store"] = "timeout"
            except Exception as exc:  # the analyzer can still do it; say that the store did not
                log.warning("rank.store_failed", error=repr(exc))
                scorers["store"] = "failed"
            timings["lookup"] = _ms(t)

        # The engine's own passes over the items are map/zip/sorted with C-level callables,
        # not comprehensions: at 500 items a feed, they were a tenth of a request's CPU.
        size = self.settings.rank_chunk
        chunks = []
        for start in range(0, len(items), size):
            indices = range(start, min(start + size, len(items)))
            unanalysed = plugin.uses_analyses and _any_none(analyses[start : indices.stop])
            chunks.append(_Chunk(indices, stage="analyzer" if unanalysed else plugin.name))
        outcomes = await self._run_chunks(
            chunks, plugin, items, analyses, signals, options, deadline=deadline
        )
        needs_analyzer = plugin.uses_analyses and _any_none(analyses)
        stages: dict[str, Status] = dict.fromkeys(
            (["analyzer"] if needs_analyzer else []) + [plugin.name], "done"
        )
        scored: list[int] = []  # item indices, in feed order
        scores: list[float] = []
        tail: list[int] = []
        for chunk, error in zip(chunks, outcomes, strict=True):
            if isinstance(error, TimeoutError | _Late):
                _worse(stages, chunk.stage, "timeout")
            elif error is not None:
                stage = error.stage if isinstance(error, _StageFailed) else plugin.name
                log.warning(
                    "rank.scorer_failed", scorer=stage, error=repr(error.__cause__ or error)
                )
                _worse(stages, stage, "failed")
            else:
                scored += chunk.indices
                scores += chunk.scores
                continue
            tail += chunk.indices
        scorers.update(stages)
        if needs_analyzer:
            timings["analyze"] = max(c.analyze_ms for c in chunks)
        timings["score"] = max((c.score_ms for c in chunks), default=0.0)

        # sorted() is stable: equal scores, and the unscored tail, keep the feed's order.
        order = sorted(range(len(scores)), key=list(map(operator.neg, scores)).__getitem__)
        ids = list(map(_ID, items))
        ranked_ids = list(map(ids.__getitem__, map(scored.__getitem__, order)))
        best_first = dict(zip(ranked_ids, map(scores.__getitem__, order), strict=True))
        ranked_ids += map(ids.__getitem__, tail)
        timings["total"] = round((loop.time() - started) * 1000, 2)
        return RankResult(
            ranked_ids=ranked_ids,
            scores=best_first,
            partial=bool(tail) or any(s != "done" for s in scorers.values()),
            timings_ms=timings,
            scorers=scorers,
            signals=self._describe(signals) if plugin.uses_signals else None,
        )

    async def _run_chunks(
        self,
        chunks: list[_Chunk],
        plugin: Strategy,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
        *,
        deadline: float,
    ) -> list[BaseException | None]:
        """Score the chunks concurrently, one task each, and say how each ended: None (done),
        TimeoutError (cancelled at the deadline, its scorer thread abandoned) or its error.
        A feed of one chunk is scored in this task: a task of its own would wait a turn of
        the loop, behind every request in hand, before it even sent its posts to analysis."""
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        if left <= 0:
            return [TimeoutError() for _ in chunks]
        args = (plugin, items, analyses, signals, options, deadline)
        if len(chunks) == 1:
            try:
                async with asyncio.timeout(left):
                    await self._score_chunk(chunks[0], *args)
            except TimeoutError as exc:
                self._abandon(chunks[0])
                return [exc]
            except Exception as exc:
                return [exc]
            return [None]
        tasks = [asyncio.create_task(self._score_chunk(chunk, *args)) for chunk in chunks]
        _, pending = await asyncio.wait(tasks, timeout=left)
        outcomes: list[BaseException | None] = []
        for task, chunk in zip(tasks, chunks, strict=True):
            if task in pending:
                task.cancel()
                self._abandon(chunk)
                outcomes.append(TimeoutError())
            else:
                outcomes.append(task.exception())
        return outcomes

    async def _known(self, items: Sequence[RankItem]) -> list[Analysis | None]:
        """Stored analyses, recent ones from `self.recent`: an item with a source is the
        stored post (source, external id = item id); one without is named by its post id."""
        keys: list[Hashable] = [
            (source, id_) if source else id_
            for source, id_ in zip(map(_SOURCE, items), map(_ID, items), strict=True)
        ]
        known = self.recent.get(keys)
        # An id without a source names a stored post only if it has a post id's shape: a
        # client's own ids ("u3-17", "t3_abc") need no query.
        missing = {
            keys[i]: i
            for i in compress(range(len(keys)), map(operator.is_, known, repeat(None)))
            if isinstance(keys[i], tuple) or could_be_post_id(str(keys[i]))
        }
        if not missing:
            return known
        ids: dict[Hashable, str] = {
            key: post_id(*key) if isinstance(key, tuple) else str(key) for key in missing
        }
        found = await analyses_by_post_id(self.store, set(ids.values()))
        fresh = {key: found[pid] for key, pid in ids.items() if pid in found}
        self.recent.put(fresh)
        for key, analysis in fresh.items():
            known[missing[key]] = analysis
        return known

    async def _score_chunk(
        self,
        chunk: _Chunk,
        plugin: Strategy,
        items: Sequence[RankItem],
        analyses: Sequence[Analysis | None],
        signals: Signals | None,
        options: Mapping[str, Any],
        deadline: float,
    ) -> None:
        start, stop = chunk.indices.start, chunk.indices.stop
        mine = list(analyses[start:stop])
        if plugin.uses_analyses:
            missing = list(compress(range(len(mine)), map(operator.is_, mine, repeat(None))))
            if missing:
                t = time.perf_counter()
                try:
                    fresh = await self.analyze([items[start + k].text for k in missing])
                except Exception as exc:
                    raise _StageFailed("analyzer", exc) from exc
                for k, a in zip(missing, fresh, strict=True):
                    mine[k] = a
                chunk.analyze_ms = _ms(t)
        chunk.stage = plugin.name
        t = time.perf_counter()
        mine_items = items[start:stop]
        try:
            if getattr(plugin, "on_loop", False) is True:
                if asyncio.get_running_loop().time() >= deadline:
                    raise _Late  # what a thread could not have finished either
                scores = plugin.score(mine_items, mine, signals, options)
            else:
                chunk.job = self._threads.submit(plugin.score, mine_items, mine, signals, options)
                scores = await asyncio.wrap_future(chunk.job)
            if len(scores) != len(mine_items) or not all(map(math.isfinite, scores)):
                raise ValueError(f"{len(scores)} scores for {len(mine_items)} items, or not finite")
        except _Late:
            raise
        except Exception as exc:
            raise _StageFailed(plugin.name, exc) from exc
        chunk.score_ms = _ms(t)
        chunk.scores = list(map(float, scores))

    def _abandon(self, chunk: _Chunk) -> None:
        """Leave a scorer call that missed its deadline running. Once half the threads are
        held by such calls, later feeds get fresh threads rather than queue behind them."""
        job = chunk.job
        if job is None or job.done():
            return
        stuck = self._stuck
        stuck.add(job)
        job.add_done_callback(stuck.discard)
        if len(stuck) >= SCORER_THREADS // 2:
            log.warning("rank.scorers_stuck", calls=len(stuck))
            self._threads.shutdown(wait=False)
            self._threads, self._stuck = _scorer_threads(), set()

    def _describe(self, signals: Signals | None) -> dict[str, Any]:
        if signals is None:
            return {"version": None, "computed_at": None, "stale": True}
        age = (datetime.now(UTC) - signals.computed_at).total_seconds()
        return {
            "version": signals.version,
            "computed_at": signals.computed_at.isoformat(),
            "stale": age > self.settings.signals_stale_s,
        }


def _scorer_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=SCORER_THREADS, thread_name_prefix="rank-score")


_ID = operator.attrgetter("id")
_SOURCE = operator.attrgetter("source")


def _any_none(values: Sequence[Any]) -> bool:
    return any(map(operator.is_, values, repeat(None)))


def _worse(stages: dict[str, Status], stage: str, status: Status) -> None:
    if _WORST[status] > _WORST[stages.get(stage, "done")]:
        stages[stage] = status


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
