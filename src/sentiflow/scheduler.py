"""Periodic jobs that run once per period across every worker process and machine.

Time is cut into slots (slot = floor(now / interval)). One process holds a lease (Redis
SET NX PX, renewed at a third of its life, released by compare-and-delete) and, while it
does, claims each due slot with SET NX and records it in `job_runs`, whose (job, slot) key
admits one row: a slot runs once even if two processes briefly both believe they lead. A
slot missed by more than the misfire grace (downtime) is skipped, not run late N times.
Embedded mode runs the same code over in-process locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from sentiflow.errors import SentiflowError, Unavailable
from sentiflow.keys import Keys
from sentiflow.locks import Locks
from sentiflow.store import job_runs as run_store
from sentiflow.store.db import Store

log = structlog.get_logger("sentiflow.scheduler")

JobFunc = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run in progress, for a job function that wants its slot or fencing token."""

    job: str
    slot: int
    fence: int
    runner: str


current_run: contextvars.ContextVar[RunInfo] = contextvars.ContextVar("sentiflow_current_run")


@dataclass
class Job:
    name: str
    interval_s: float
    func: JobFunc
    since_slot: int
    history: bool = True
    tried_slot: int = -1
    runs: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    def __init__(
        self,
        locks: Locks,
        keys: Keys,
        *,
        store: Store | None = None,
        lease_s: float = 10.0,
        misfire_grace_s: float = 5.0,
        runner: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.locks = locks
        self.keys = keys
        self.store = store
        self.lease_s = lease_s
        self.misfire_grace_s = misfire_grace_s
        self.runner = runner or runner_id()
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self.fence = 0
        self._token: str | None = None
        self._renewed_at = 0.0
        self._wake = asyncio.Event()

    @property
    def leading(self) -> bool:
        return self._token is not None

    def register(
        self, name: str, interval_s: float, func: JobFunc, *, history: bool = True
    ) -> None:
        """Run `func` every `interval_s` seconds (once across all processes); re-registering
        a name replaces its interval and function. `history=False` skips the `job_runs` row
        (for frequent, idempotent jobs), leaving the Redis slot claim as the only guard."""
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: interval_s must be positive, got {interval_s}")
        old = self.jobs.get(name)
        since = math.floor(self.clock() / interval_s)
        job = Job(name, interval_s, func, since_slot=since, history=history)
        if old is not None and old.interval_s == interval_s:
            job.since_slot, job.tried_slot, job.runs, job.task = (
                old.since_slot,
                old.tried_slot,
                old.runs,
                old.task,
            )
        self.jobs[name] = job
        self._wake.set()

    def unregister(self, name: str) -> None:
        self.jobs.pop(name, None)

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or stand by until `stop` is set; runs in flight are awaited on the way out."""
        log.info("scheduler.started", runner=self.runner, jobs=sorted(self.jobs))
        try:
            while not stop.is_set():
                try:
                    await self._tick()
                except Unavailable as exc:
                    log.warning("scheduler.unavailable", error=exc.message)
                    self._token = None
                except Exception as exc:
                    # The loop must outlive any one bad tick, or every job stops for good.
                    log.exception("scheduler.error", error=repr(exc))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, self._wake), self._sleep_for())
        finally:
            running = [j.task for j in self.jobs.values() if j.task and not j.task.done()]
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await self._resign()
            log.info("scheduler.stopped", runner=self.runner)

    def _sleep_for(self) -> float:
        """Until the next slot boundary or lease renewal, whichever is first."""
        now = self.clock()
        waits = [self.lease_s / 3 if self.leading else min(0.5, self.lease_s / 10)]
        for job in self.jobs.values():
            waits.append((math.floor(now / job.interval_s) + 1) * job.interval_s - now)
        return max(0.01, min(waits))

    async def _tick(self) -> None:
        await self._hold_lease()
        if not self.leading:
            return
        now = self.clock()
        for job in list(self.jobs.values()):
            if job.task is not None and not job.task.done():
                continue
            current = math.floor(now / job.interval_s)
            oldest = math.ceil((now - self.misfire_grace_s) / job.interval_s)
            first = max(job.since_slot, job.tried_slot + 1, min(oldest, current))
            skipped = first - (job.tried_slot + 1) if job.tried_slot >= 0 else 0
            if skipped > 0:
                log.info("schedule.skipped", job=job.name, slots=skipped)
            for slot in range(first, current + 1):
                job.tried_slot = slot
                if await self._claim(job, slot):
                    job.task = asyncio.create_task(self._run(job, slot))
                    # One run at a time per job: a later due slot waits for this one.
                    break

    async def _hold_lease(self) -> None:
        now = time.monotonic()
        if self._token is not None:
            if now - self._renewed_at < self.lease_s / 3:
                return
            if await self.locks.renew(self.keys.scheduler_lease, self._token, self.lease_s):
                self._renewed_at = now
                return
            log.warning("scheduler.lease_lost", runner=self.runner, fence=self.fence)
            self._token = None
        token = f"{self.runner}:{uuid.uuid4().hex[:8]}"
        if await self.locks.acquire(self.keys.scheduler_lease, token, self.lease_s):
            self._token = token
            self._renewed_at = now
            self.fence = await self.locks.fence(self.keys.scheduler_fence)
            log.info("scheduler.leading", runner=self.runner, fence=self.fence)

    async def _resign(self) -> None:
        if self._token is not None:
            with contextlib.suppress(SentiflowError):
                await self.locks.release(self.keys.scheduler_lease, self._token)
            self._token = None

    async def _claim(self, job: Job, slot: int) -> bool:
        ttl = job.interval_s + self.misfire_grace_s + 60
        key = self.keys.schedule_slot(job.name, slot)
        if not await self.locks.acquire(key, f"{self.runner}:{self.fence}", ttl):
            return False
        if self.store is None or not job.history:
            return True
        try:
            return await run_store.record_run_start(
                self.store,
                name=job.name,
                slot=slot,
                interval_s=job.interval_s,
                fence=self.fence,
                runner=self.runner,
            )
        except Exception as exc:
            # The Redis claim already makes the run unique; history is lost for this slot only.
            log.warning("schedule.unrecorded", job=job.name, slot=slot, error=repr(exc))
            return True

    async def _run(self, job: Job, slot: int) -> None:
        current_run.set(RunInfo(job.name, slot, self.fence, self.runner))
        started = time.perf_counter()
        status, error = "done", None
        try:
            await job.func()
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("job.failed", job=job.name, slot=slot, error=error)
        job.runs += 1
        log.debug(
            "job.ran", job=job.name, slot=slot, ms=round((time.perf_counter() - started) * 1000)
        )
        if self.store is not None and job.history:
            try:
                await run_store.record_run_end(
                    self.store, name=job.name, slot=slot, status=status, error=error
                )
            except Exception as exc:
                log.warning("schedule.unrecorded", job=job.name, slot=slot, error=repr(exc))
        self._wake.set()


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
