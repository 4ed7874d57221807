"""The ranking engine: resolve analyses (stored ones in one query, the rest through the
analyzer capacity), score the feed in concurrent chunks, and answer by the deadline with what is
done. `Ranker.rank` is its stages in order: signals, option check, history, lookup, chunks,
collect.

Items whose chunk did not finish in time, or whose scorer failed, follow the scored ones in
the feed's order and the result says `partial`; nothing a scorer does turns into a 500.
"""

from __future__ import annotations

import asyncio
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

from sentiflow.errors import ValidationFailed
from sentiflow.models import Analysis, could_be_post_id, post_id
from sentiflow.ranking.base import RankItem, Signals, Strategy
from sentiflow.ranking.cache import RecentAnalyses
from sentiflow.ranking.capacity import AnalyzerCapacity
from sentiflow.ranking.history import OPTION as HISTORY_OPTION
from sentiflow.ranking.history import sessions_to_read
from sentiflow.ranking.registry import get_strategy
from sentiflow.ranking.signals import SignalStore
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.rank_sessions import seen_items
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
    # Each item's analysis as scoring used it (None where it had none), in feed order: what
    # a recorded session stores as the item's labels. Not part of the answer.
    analyses: Sequence[Analysis | None] = ()

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


@dataclass(slots=True)
class _Request:
    """One ranking request as it goes through the stages: what was asked, by when, and what
    each stage found."""

    plugin: Strategy
    items: Sequence[RankItem]
    options: Mapping[str, Any]
    loop: asyncio.AbstractEventLoop
    started: float
    deadline: float
    scorers: dict[str, Status] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    signals: Signals | None = None
    analyses: list[Analysis | None] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # ids the user was shown lately: demoted
    analyzing: bool = False  # whether some chunk had posts to analyse

    def left(self) -> float:
        return max(0.0, self.deadline - self.loop.time())


class Ranker:
    """One per API process: reads stored analyses and background signals, has the rest of a
    feed analysed by its `AnalyzerCapacity`, and scores chunks concurrently by the deadline."""

    def __init__(self, settings: Settings, *, store: Store, signals: SignalStore) -> None:
        self.settings = settings
        self.store = store
        self.signals = signals
        self.analyzer = AnalyzerCapacity(settings)
        # Scorers run here; one that overruns its deadline is abandoned, not waited for.
        self._threads = _scorer_threads()
        self._stuck: set[Future[list[float]]] = set()
        self.recent = RecentAnalyses(settings.rank_cache_s, settings.rank_cache_size)

    async def start(self) -> None:
        await self.analyzer.start()

    async def close(self) -> None:
        await self.analyzer.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def rank(
        self,
        items: Sequence[RankItem],
        *,
        strategy: str | Strategy,
        options: Mapping[str, Any] | None = None,
        deadline_ms: float | None = None,
        user_id: str | None = None,
    ) -> RankResult:
        """Order `items` by `strategy`, answering by the deadline (default
        `rank_deadline_ms`) with whatever is scored by then. With `user_id` and the option
        `seen_sessions`, what that user was shown in their last sessions goes after the rest."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        last_sessions = sessions_to_read(options or {}, user_id)
        if options and HISTORY_OPTION in options:  # the engine's option, not the strategy's
            options = {k: v for k, v in options.items() if k != HISTORY_OPTION}
        request = _Request(
            plugin=get_strategy(strategy) if isinstance(strategy, str) else strategy,
            items=items,
            options=options or {},
            loop=loop,
            started=started,
            deadline=started + (deadline_ms or self.settings.rank_deadline_ms) / 1000,
            analyses=[None] * len(items),
        )
        if request.plugin.uses_signals:
            await self._read_signals(request)
        _check_options(request)
        if last_sessions and user_id is not None:
            await self._read_history(request, user_id, last_sessions)
        if request.plugin.uses_analyses:
            await self._look_up(request)
        chunks = self._chunks(request)
        outcomes = await self._run_chunks(chunks, request)
        scored, scores, tail = self._collect(request, chunks, outcomes)
        return self._result(request, scored, scores, tail)

    async def _read_signals(self, request: _Request) -> None:
        t = time.perf_counter()
        try:
            request.signals = await asyncio.wait_for(self.signals.get(), timeout=request.left())
            request.scorers["signals"] = "done"
        except TimeoutError:
            request.scorers["signals"] = "timeout"
        except Exception as exc:
            log.warning("rank.signals_failed", error=repr(exc))
            request.scorers["signals"] = "failed"
        request.timings["signals"] = _ms(t)

    async def _read_history(self, request: _Request, user_id: str, sessions: int) -> None:
        """The items the user was shown lately; should that fail, nothing is demoted."""
        t = time.perf_counter()
        try:
            if not request.left():
                raise TimeoutError
            async with asyncio.timeout(request.left()):
                request.seen = await seen_items(self.store, user_id=user_id, sessions=sessions)
            request.scorers["history"] = "done"
        except TimeoutError:
            request.scorers["history"] = "timeout"
        except Exception as exc:
            log.warning("rank.history_failed", error=repr(exc))
            request.scorers["history"] = "failed"
        request.timings["history"] = _ms(t)

    async def _look_up(self, request: _Request) -> None:
        """The stored analyses of the feed's posts; a failure here leaves them to the analyzer."""
        t = time.perf_counter()
        try:
            # In this task rather than one of its own (wait_for): a new task waits its turn
            # behind every request the loop is busy with.
            if not request.left():
                raise TimeoutError
            async with asyncio.timeout(request.left()):
                request.analyses = await self._known(request.items)
            request.scorers["store"] = "done"
        except TimeoutError:
            request.scorers["store"] = "timeout"
        except Exception as exc:  # the analyzer can still do it; say that the store did not
            log.warning("rank.store_failed", error=repr(exc))
            request.scorers["store"] = "failed"
        request.timings["lookup"] = _ms(t)

    def _chunks(self, request: _Request) -> list[_Chunk]:
        # The engine's own passes over the items are map/zip/sorted with C-level callables,
        # not comprehensions: they run for every item of every feed.
        plugin, analyses, n = request.plugin, request.analyses, len(request.items)
        size = self.settings.rank_chunk
        chunks = []
        for start in range(0, n, size):
            indices = range(start, min(start + size, n))
            unanalysed = plugin.uses_analyses and _any_none(analyses[start : indices.stop])
            chunks.append(_Chunk(indices, stage="analyzer" if unanalysed else plugin.name))
            request.analyzing = request.analyzing or unanalysed
        return chunks

    def _collect(
        self, request: _Request, chunks: list[_Chunk], outcomes: list[BaseException | None]
    ) -> tuple[list[int], list[float], list[int]]:
        """The scored item indices (feed order) with their scores, and the unscored tail; each
        stage's status and time into the request."""
        plugin = request.plugin
        needs_analyzer = request.analyzing
        stages: dict[str, Status] = dict.fromkeys(
            (["analyzer"] if needs_analyzer else []) + [plugin.name], "done"
        )
        scored: list[int] = []
        scores: list[float] = []
        tail: list[int] = []
        for chunk, error in zip(chunks, outcomes, strict=True):
            if error is None:
                scored += chunk.indices
                scores += chunk.scores
                continue
            stage, status = _failure(error, chunk, plugin)
            _worse(stages, stage, status)
            tail += chunk.indices
        request.scorers.update(stages)
        if needs_analyzer:
            request.timings["analyze"] = max(c.analyze_ms for c in chunks)
        request.timings["score"] = max((c.score_ms for c in chunks), default=0.0)
        return scored, scores, tail

    def _result(
        self, request: _Request, scored: list[int], scores: list[float], tail: list[int]
    ) -> RankResult:
        # sorted() is stable: equal scores, and the unscored tail, keep the feed's order.
        order = sorted(range(len(scores)), key=list(map(operator.neg, scores)).__getitem__)
        ids = list(map(_ID, request.items))
        if request.seen:  # stable: the unseen by score, then the seen by score
            order.sort(key=lambda k: ids[scored[k]] in request.seen)
        ranked_ids = list(map(ids.__getitem__, map(scored.__getitem__, order)))
        best_first = dict(zip(ranked_ids, map(scores.__getitem__, order), strict=True))
        ranked_ids += map(ids.__getitem__, tail)
        request.timings["total"] = round((request.loop.time() - request.started) * 1000, 2)
        return RankResult(
            ranked_ids=ranked_ids,
            scores=best_first,
            partial=bool(tail) or any(s != "done" for s in request.scorers.values()),
            timings_ms=request.timings,
            scorers=request.scorers,
            signals=self._describe(request.signals) if request.plugin.uses_signals else None,
            analyses=request.analyses,
        )

    async def _run_chunks(
        self, chunks: list[_Chunk], request: _Request
    ) -> list[BaseException | None]:
        """Score the chunks concurrently, one task each, and say how each ended: None (done),
        TimeoutError (cancelled at the deadline, its scorer thread abandoned) or its error.
        A feed of one chunk is scored in this task: a task of its own would wait a turn of
        the loop, behind every request in hand, before it even sent its posts to analysis."""
        left = request.left()
        if left <= 0:
            return [TimeoutError() for _ in chunks]
        if len(chunks) == 1:
            try:
                async with asyncio.timeout(left):
                    await self._score_chunk(chunks[0], request)
            except TimeoutError as exc:
                self._abandon(chunks[0])
                return [exc]
            except Exception as exc:
                return [exc]
            return [None]
        tasks = [asyncio.create_task(self._score_chunk(chunk, request)) for chunk in chunks]
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

    async def _score_chunk(self, chunk: _Chunk, request: _Request) -> None:
        start, stop = chunk.indices.start, chunk.indices.stop
        mine = list(request.analyses[start:stop])
        if request.plugin.uses_analyses:
            await self._analyse_missing(chunk, request.items, mine)
            request.analyses[start:stop] = mine
        chunk.stage = request.plugin.name
        t = time.perf_counter()
        try:
            scores = await self._score(chunk, request, request.items[start:stop], mine)
        except _Late:
            raise
        except Exception as exc:
            raise _StageFailed(request.plugin.name, exc) from exc
        chunk.score_ms = _ms(t)
        chunk.scores = list(map(float, scores))

    async def _analyse_missing(
        self, chunk: _Chunk, items: Sequence[RankItem], mine: list[Analysis | None]
    ) -> None:
        """Fill in the analyses the store did not have, through the analyzer."""
        missing = list(compress(range(len(mine)), map(operator.is_, mine, repeat(None))))
        if not missing:
            return
        t = time.perf_counter()
        start = chunk.indices.start
        try:
            fresh = await self.analyzer.analyze([items[start + k].text for k in missing])
        except Exception as exc:
            raise _StageFailed("analyzer", exc) from exc
        for k, a in zip(missing, fresh, strict=True):
            mine[k] = a
        chunk.analyze_ms = _ms(t)

    async def _score(
        self,
        chunk: _Chunk,
        request: _Request,
        items: Sequence[RankItem],
        analyses: list[Analysis | None],
    ) -> list[float]:
        plugin, signals, options = request.plugin, request.signals, request.options
        if getattr(plugin, "on_loop", False) is True:
            if request.loop.time() >= request.deadline:
                raise _Late  # what a thread could not have finished either
            scores = plugin.score(items, analyses, signals, options)
        else:
            chunk.job = self._threads.submit(plugin.score, items, analyses, signals, options)
            scores = await asyncio.wrap_future(chunk.job)
        if len(scores) != len(items) or not all(map(math.isfinite, scores)):
            raise ValueError(f"{len(scores)} scores for {len(items)} items, or not finite")
        return scores

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


def _check_options(request: _Request) -> None:
    """Bad options are the client's mistake (422), so they are checked before any work. Any
    other error here is the plug-in's: its chunks will fail and say so."""
    plugin = request.plugin
    try:
        plugin.score([], [], request.signals, request.options)
    except ValidationFailed:
        raise
    except Exception as exc:
        log.warning("rank.option_check_failed", strategy=plugin.name, error=repr(exc))


def _failure(error: BaseException, chunk: _Chunk, plugin: Strategy) -> tuple[str, Status]:
    """The stage a chunk failed in, and how: timed out, or failed (logged)."""
    if isinstance(error, TimeoutError | _Late):
        return chunk.stage, "timeout"
    stage = error.stage if isinstance(error, _StageFailed) else plugin.name
    log.warning("rank.scorer_failed", scorer=stage, error=repr(error.__cause__ or error))
    return stage, "failed"


def _worse(stages: dict[str, Status], stage: str, status: Status) -> None:
    if _WORST[status] > _WORST[stages.get(stage, "done")]:
        stages[stage] = status


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
