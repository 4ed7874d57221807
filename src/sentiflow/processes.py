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
from sentiflow.keys import consumer_name
from sentiflow.log import configure
from sentiflow.runtime import Runtime, build_broker, freeze_startup_heap
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.worker import WorkerStats

log = structlog.get_logger("sentiflow.processes")


async def preflight(settings: Settings) -> None:
    """Fail at once, naming the URL and what to do, when PostgreSQL or Redis cannot be
    reached or the schema is not migrated; a server must not start half-connected."""
    store = Store.from_settings(settings)
    broker = build_broker(settings)
    try:
        await store.ping()
        if settings.database_url is not None:
            await store.require_schema()
        await broker.start()
    finally:
        await broker.close()
        await store.close()


async def run_worker(settings: Settings, *, consumer: str | None = None) -> WorkerStats:
    """One worker process's life: start, process batches until a signal, stop cleanly."""
    metrics.setup(settings)
    runtime = Runtime.from_settings(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.stop_event.set)
    name = consumer or consumer_name()
    heartbeat = Heartbeat()
    try:
        # The periodic jobs run in workers too; their lease makes each run happen once.
        await runtime.start(worker=True, consumer=name, schedule=True)
        assert runtime.worker is not None
        runtime.worker.heartbeat = heartbeat.beat
        freeze_startup_heap()
        log.info("worker.ready", consumer=name, batch_size=settings.batch_size)
        await runtime.stop_event.wait()
        log.info("worker.stopping", consumer=name)
    finally:
        heartbeat.close()
        await runtime.stop()
    assert runtime.worker is not None
    return runtime.worker.stats


def worker_process(settings: Settings) -> None:
    """The entry point of a spawned worker process."""
    configure(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))


def serve(settings: Settings, processes: int) -> int:
    """Run `processes` workers (in this process when 1) until SIGTERM/SIGINT; the exit code."""
    if processes == 1:
        asyncio.run(run_worker(settings))
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
