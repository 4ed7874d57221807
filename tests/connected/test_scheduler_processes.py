"""Two real worker processes share a 1-second schedule through Redis: every slot runs
exactly once, and after `kill -9` of the lease holder the other takes over within the lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as redis
from sqlalchemy import func, select

from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.job_runs import job_summaries
from sentiflow.store.schema import job_runs
from tests.conftest import REDIS_URL, wait_for

pytestmark = pytest.mark.connected
ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 3.0


def spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "SENTIFLOW_DATABASE_URL": str(settings.database_url),
        "SENTIFLOW_REDIS_URL": REDIS_URL,
        "SENTIFLOW_REDIS_PREFIX": settings.redis_prefix,
        "SENTIFLOW_SCHEDULER_LEASE_S": str(LEASE_S),
        "SENTIFLOW_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.connected.scheduler_worker"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def text(value: bytes | str) -> str:
    """A reply of the client below (it decodes replies, but redis-py types them either way)."""
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.timeout(240)
async def test_each_slot_runs_once_and_a_killed_leader_is_replaced(
    connected_settings: Settings, tmp_path: Path
) -> None:
    store = Store.from_settings(connected_settings)
    await store.migrate()
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = connected_settings.redis_prefix
    procs = [spawn(connected_settings, tmp_path / f"worker{n}.log") for n in (1, 2)]
    try:

        async def runs() -> list[tuple[int, int, int]]:
            raw = await client.lrange(f"{prefix}:test:runs", 0, -1)
            return [(int(a), int(b), int(c)) for a, b, c in (text(r).split(":") for r in raw)]

        async def both_alive() -> bool:
            return await client.llen(f"{prefix}:test:alive") == 2

        await wait_for(both_alive, timeout=60)

        async def some_runs() -> bool:
            return len(await runs()) >= 12

        await wait_for(some_runs, timeout=60)
        holder = await client.get(f"{prefix}:lock:scheduler")
        assert holder is not None
        leader_pid = int(text(holder).split(":")[0].removeprefix("pid"))
        leader = next(p for p in procs if p.pid == leader_pid)
        other_pid = next(p.pid for p in procs if p.pid != leader_pid)
        assert {pid for _, pid, _ in await runs()} == {leader_pid}
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            return any(pid == other_pid for _, pid, _ in await runs())

        await wait_for(taken_over, timeout=LEASE_S + 2)
        takeover_s = time.monotonic() - killed_at

        async def enough() -> bool:
            return len(await runs()) >= 32

        await wait_for(enough, timeout=60)
        recorded = await runs()
    finally:
        stop(procs)

    print(f"runs={len(recorded)} takeover_s={takeover_s:.2f}")
    await check_history(store, client, prefix, recorded, leader_pid, other_pid)
    await client.aclose()
    await store.close()


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def check_history(
    store: Store,
    client: redis.Redis,
    prefix: str,
    recorded: list[tuple[int, int, int]],
    leader_pid: int,
    other_pid: int,
) -> None:
    """Each slot ran once, at most the killed leader's last one is missing, fencing tokens
    grew, and the database's history agrees."""
    slots = [slot for slot, _, _ in recorded]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    missing = sorted(set(range(min(slots), max(slots) + 1)) - set(slots))
    # A slot may only be missing if the killed leader had claimed it (killed mid-run).
    for slot in missing:
        claim = await client.get(f"{prefix}:slot:tick:{slot}")
        assert claim is not None and text(claim).startswith(f"pid{leader_pid}:"), (
            f"slot {slot} skipped"
        )
    assert len(missing) <= 1
    # Fencing tokens grow: the new leader's runs carry a larger token than the old one's.
    old_fence = {f for _, pid, f in recorded if pid == leader_pid}
    new_fence = {f for _, pid, f in recorded if pid == other_pid}
    assert len(old_fence) == len(new_fence) == 1 and min(new_fence) > max(old_fence)
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(select(func.count()).where(job_runs.c.name == "tick"))
        ).scalar_one()
    assert rows >= len(slots)
    summary = {j.name: j for j in await job_summaries(store)}["tick"]
    assert summary.runs == rows and summary.last_slot == max(slots)
    assert summary.last_runner == f"pid{other_pid}"
