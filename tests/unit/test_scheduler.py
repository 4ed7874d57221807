"""The scheduler over in-process locks (embedded mode): one leader, slots run once, runs
missed during downtime are not replayed one by one, and leases are released only by their
holder."""

from __future__ import annotations

import asyncio

from sentiflow.keys import Keys
from sentiflow.locks import MemoryLocks
from sentiflow.scheduler import Scheduler, current_run


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def settle(scheduler: Scheduler) -> None:
    """Tick until no run is in flight and no due slot is left."""
    for _ in range(50):
        await scheduler._tick()
        tasks = [j.task for j in scheduler.jobs.values() if j.task and not j.task.done()]
        if not tasks:
            return
        await asyncio.gather(*tasks)


async def test_downtime_is_not_replayed_slot_by_slot() -> None:
    clock = Clock(10_000.0)
    scheduler = Scheduler(MemoryLocks(), Keys("t"), misfire_grace_s=5, clock=clock)
    slots: dict[str, list[int]] = {"every10": [], "every1": []}

    def recorder(name: str):  # type: ignore[no-untyped-def]
        async def record() -> None:
            slots[name].append(current_run.get().slot)

        return record

    scheduler.register("every10", 10, recorder("every10"))
    scheduler.register("every1", 1, recorder("every1"))
    await settle(scheduler)
    assert slots == {"every10": [1000], "every1": [10_000]}
    await settle(scheduler)
    assert slots == {"every10": [1000], "every1": [10_000]}, "a slot ran twice"

    clock.now += 1
    await settle(scheduler)
    assert slots["every1"] == [10_000, 10_001]

    # 100 seconds down: the 10 s job runs its current slot once; the 1 s job catches up only
    # the slots inside the 5 s misfire grace.
    clock.now += 100
    await settle(scheduler)
    assert slots["every10"] == [1000, 1010]
    assert slots["every1"] == [10_000, 10_001, *range(10_096, 10_102)]


async def test_one_leader_and_fenced_takeover() -> None:
    locks = MemoryLocks()
    keys = Keys("t")
    ran: list[tuple[str, int, int]] = []
    a = Scheduler(locks, keys, runner="a", lease_s=10)
    b = Scheduler(locks, keys, runner="b", lease_s=10)
    for scheduler in (a, b):

        async def job(name: str = scheduler.runner) -> None:
            run = current_run.get()
            ran.append((name, run.slot, run.fence))

        scheduler.register("job", 1, job)
    await settle(a)
    await settle(b)
    assert a.leading and not b.leading
    assert [r[0] for r in ran] == ["a"]
    # A stale holder cannot release a lease it no longer holds.
    assert not await locks.release(keys.scheduler_lease, "someone-else")
    await a._resign()
    await settle(b)
    assert b.leading and b.fence > a.fence
    # The slot a already ran is not run again by b.
    assert len({slot for _, slot, _ in ran}) == len(ran)


async def test_run_stops_on_event_and_releases_the_lease() -> None:
    locks = MemoryLocks()
    keys = Keys("t")
    scheduler = Scheduler(locks, keys, runner="solo")
    done = asyncio.Event()

    async def job() -> None:
        done.set()

    scheduler.register("job", 0.2, job)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.wait_for(done.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert await locks.get(keys.scheduler_lease) is None
