"""The analyzer capacity of one API process for ranking: the feed's unknown posts analysed in a
thread for small feeds, and in `rank_processes` processes for big ones once those have started
(and in the thread again should they all exit)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from sentiflow.analyze.channel import AnalyzerProcess
from sentiflow.analyze.pool import AnalyzerPool
from sentiflow.models import Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.ranking")


class AnalyzerCapacity:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process_min = settings.rank_process_min
        self._local: AnalyzerPool | None = None
        self._processes: list[AnalyzerProcess] = []
        self._processes_ready = False
        self._warm: asyncio.Task[None] | None = None

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
    def processes(self) -> list[AnalyzerProcess]:
        return self._processes

    @property
    def processes_ready(self) -> bool:
        """Whether big feeds are analysed in processes yet (until then, in a thread)."""
        return self._processes_ready

    async def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if self._local is None:
            raise RuntimeError("AnalyzerCapacity.start() was not awaited")
        if len(texts) >= self.process_min and self._processes_ready:
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
