"""`sentiflow worker`: worker processes for distributed mode. Each has its own consumer name,
connections and analyzer pool; on SIGTERM or SIGINT each finishes the batch in hand, acks, exits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from typing import Any

import structlog

from sentiflow import metrics
from sentiflow.healthcheck import Heartbeat
from sentiflow.log import configure
from sentiflow.roles import run_worker
from sentiflow.settings import Settings
from sentiflow.worker import WorkerStats

log = structlog.get_logger("sentiflow.processes")


async def run_worker_process(settings: Settings, *, consumer: str | None = None) -> WorkerStats:
    """One worker process: process batches until SIGTERM or SIGINT, then stop cleanly."""
    metrics.setup(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The container's healthcheck reads the file this touches as the worker's loops turn.
    heartbeat = Heartbeat()
    try:
        return await run_worker(settings, stop=stop, consumer=consumer, heartbeat=heartbeat.beat)
    finally:
        heartbeat.close()


def worker_process(settings: Settings) -> None:
    """The entry point of a spawned worker process."""
    configure(settings.log_level, settings.log_format)
    asyncio.run(run_worker_process(settings))


def serve(settings: Settings, processes: int) -> int:
    """Run `processes` workers (in this process when 1) until SIGTERM/SIGINT; the exit code."""
    if processes == 1:
        asyncio.run(run_worker_process(settings))
        return 0
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=worker_process, args=(settings,), name=f"sentiflow-worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()

    def forward(_signum: int, _frame: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child finishes its batch in hand and exits

    signal.signal(signal.SIGTERM, forward)
    # SIGINT from a terminal reaches the whole process group; each child handles its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)
