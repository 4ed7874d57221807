"""`sentiflow worker`: worker processes for distributed mode. Each has its own consumer name,
connections and analyzer pool; on SIGTERM or SIGINT each finishes the batch in hand, acks, exits.
With several, a supervisor (shared with `sentiflow api`) replaces one that dies; with a metrics
port, this host's worker counters are served on /metrics.
"""

from __future__ import annotations

import asyncio
import multiprocessing.connection
import tempfile
import time
from pathlib import Path

import structlog
from prometheus_client import start_http_server

from sentiflow import metrics
from sentiflow.healthcheck import Heartbeat
from sentiflow.log import configure
from sentiflow.roles import run_worker
from sentiflow.settings import Settings
from sentiflow.supervisor import Child, Supervisor
from sentiflow.worker import WorkerStats

log = structlog.get_logger("sentiflow.processes")


async def run_worker_process(settings: Settings, *, consumer: str | None = None) -> WorkerStats:
    """One worker process: process batches until SIGTERM or SIGINT, then stop cleanly."""
    import signal

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


class _Workers(Supervisor[Child]):
    what = "worker.process"

    def __init__(self, settings: Settings, processes: int) -> None:
        super().__init__()
        self.settings = settings
        self.spawn(processes)

    def start(self) -> Child:
        process = self.context.Process(
            target=worker_process, args=(self.settings,), name="sentiflow-worker"
        )
        process.start()
        return Child(process=process, started=time.monotonic())

    def run(self) -> int:
        """Supervise until stopped; the exit code of a child that failed to start, else the
        highest of their exit codes."""
        failed_start: int | None = None
        while not self.stopping and failed_start is None:
            sentinels = [child.process.sentinel for child in self.children]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            failed_start = self.replace_the_dead()
        code = self.join()
        return code if failed_start is None else failed_start


def serve_metrics(settings: Settings) -> None:
    """Serve this host's worker counters on `settings.worker_metrics_port`, in a thread."""
    if settings.worker_metrics_port is None:
        return
    metrics.setup(settings)
    start_http_server(settings.worker_metrics_port, addr=settings.host, registry=metrics.counters())
    log.info("worker.metrics", port=settings.worker_metrics_port)


def serve(settings: Settings, processes: int) -> int:
    """Run `processes` workers (in this process when 1) until SIGTERM/SIGINT; the exit code."""
    if processes == 1:
        serve_metrics(settings)
        asyncio.run(run_worker_process(settings))
        return 0
    if settings.worker_metrics_port is not None and settings.metrics_dir is None:
        # One /metrics for several processes needs prometheus-client's multiprocess files.
        own = Path(tempfile.mkdtemp(prefix="sentiflow-metrics-"))
        settings = settings.model_copy(update={"metrics_dir": own})
    serve_metrics(settings)
    workers = _Workers(settings, processes)
    workers.handle_signals()
    return workers.run()
