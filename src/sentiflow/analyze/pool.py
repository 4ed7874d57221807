"""The one way to run an analyzer from async code: in worker processes (CPU-bound models) or
a thread, never on the event loop.

Each process builds its own analyzer from the settings once, at start, so a batch costs
only the texts and the results crossing the process boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial

from sentiflow.analyze.reload import ReloadingAnalyzer
from sentiflow.models import Analysis
from sentiflow.settings import Settings

_analyzer: ReloadingAnalyzer | None = None


def _init(name: str, settings: Settings) -> None:
    global _analyzer
    # Ctrl-C reaches the whole process group; the parent decides when the pool stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _analyzer = ReloadingAnalyzer(name, settings)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot shut its pool down; without this its analyzer
    processes would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _analyze(
    texts: Sequence[str], langs: Sequence[str | None] | None, fast: bool | None
) -> list[Analysis]:
    assert _analyzer is not None, "analyzer process was not initialised"
    return _analyzer.analyze(texts, langs, fast=fast)


class AnalyzerPool:
    """`await pool.analyze(texts)` runs the model in `processes` processes, or a thread if 0."""

    def __init__(self, settings: Settings, *, name: str | None = None, processes: int = 1) -> None:
        self.name = name or settings.analyzer
        self.processes = processes
        self._executor: Executor
        if processes > 0:
            self._executor = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(self.name, settings),
            )
            self.version = ""
        else:
            self._local = ReloadingAnalyzer(self.name, settings)
            self.version = self._local.version
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyzer")

    async def analyze(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        *,
        fast: bool | None = None,
    ) -> list[Analysis]:
        """One analysis per text, with its language (`langs`, or identified where None);
        `fast` picks the tier of the auto analyzer (`analyze/auto.py`)."""
        loop = asyncio.get_running_loop()
        if self.processes > 0:
            with self._children_ignore_sigint():
                future = loop.run_in_executor(self._executor, _analyze, list(texts), langs, fast)
            return await future
        return await loop.run_in_executor(
            self._executor, partial(self._local.analyze, texts, langs, fast=fast)
        )

    def _children_ignore_sigint(self) -> contextlib.AbstractContextManager[None]:
        """Processes are only spawned on submit, so the first submits spawn them: with SIGINT
        ignored (see `children_ignore_sigint`); `_init` keeps ignoring it."""
        started = len(getattr(self._executor, "_processes", None) or {})
        return contextlib.nullcontext() if started >= self.processes else children_ignore_sigint()

    async def warm_up(self) -> None:
        """Start the processes and load the model now rather than on the first batch."""
        result = await self.analyze(["warm up"])
        self.version = result[0].model_version

    def close(self) -> None:
        """Stop the processes (each ends with its analyzer) or the thread, and close the
        analyzer this process holds."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self.processes == 0:
            self._local.close()


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Spawn with SIGINT ignored (the child inherits it), so that a Ctrl-C reaching the whole
    process group while a child starts cannot kill it with a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
