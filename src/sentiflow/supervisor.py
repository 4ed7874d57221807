"""Keep N child processes running, as `sentiflow api --workers N` and `sentiflow worker
--processes N` both do: a child that dies is replaced, unless it died of its own accord right
after its start (bad settings, say: another would fail the same way), which stops them all;
SIGTERM or SIGINT stops them all, each finishing what it has in hand."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger("sentiflow.supervisor")

# A process that exits with an error sooner than this after its start failed to start: stop
# them all rather than restart it in a loop.
START_GRACE_S = 10.0


@dataclass(eq=False)
class Child:
    process: BaseProcess
    started: float


C = TypeVar("C", bound=Child)


class Supervisor(Generic[C]):
    """The policy; a subclass says how to `start` a child and what to `forget` of a dead one."""

    what = "process"  # for the log line of a death

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False
        self.children: list[C] = []

    def start(self) -> C:
        raise NotImplementedError

    def forget(self, child: C) -> None:
        """Release what the supervisor held for a child that died."""

    def spawn(self, count: int) -> None:
        self.children = [self.start() for _ in range(count)]

    def handle_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        # From a terminal, SIGINT reaches the children too; forwarding it as SIGTERM is harmless.
        signal.signal(signal.SIGINT, self.stop)

    def stop(self, _signum: int, _frame: Any) -> None:
        self.stopping = True
        for child in self.children:
            if child.process.is_alive():
                child.process.terminate()  # SIGTERM: each finishes the work in hand

    def replace_the_dead(self) -> int | None:
        """Start a child in place of each dead one; the exit code of one that failed to
        start (after stopping the rest), if one did."""
        for i, child in enumerate(self.children):
            if child.process.is_alive() or self.stopping:
                continue
            log.warning(f"{self.what}.died", pid=child.process.pid, exitcode=child.process.exitcode)
            self.forget(child)
            code = child.process.exitcode or 0  # > 0: exited by itself; < 0: killed
            if code > 0 and time.monotonic() - child.started < START_GRACE_S:
                self.stop(signal.SIGTERM, None)
                return code
            self.children[i] = self.start()
        return None

    def join(self) -> int:
        """Wait for every child; the highest exit code."""
        for child in self.children:
            with contextlib.suppress(AssertionError):  # never started
                child.process.join()
        return max((child.process.exitcode or 0) for child in self.children)
