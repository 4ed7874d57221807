"""A worker process for the scheduler test: the real `Scheduler` over Redis and PostgreSQL
(settings from SENTIFLOW_* variables) with one 1-second job that records every run it
executes — slot, pid, fencing token — in a Redis list. Stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal

import redis.asyncio as redis

from sentiflow.connections import connect
from sentiflow.keys import Keys
from sentiflow.locks.redis import RedisLocks
from sentiflow.scheduler import Scheduler, current_run
from sentiflow.settings import Settings
from sentiflow.store.db import Store


async def main() -> None:
    settings = Settings()
    assert settings.redis is not None and settings.redis_url and settings.database_url
    store = Store.from_settings(settings)
    connection = connect(settings.redis)
    locks = RedisLocks(connection)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    runs_key = f"{settings.redis_prefix}:test:runs"
    scheduler = Scheduler(
        locks,
        Keys(settings.redis_prefix),
        store=store,
        lease_s=settings.scheduler_lease_s,
        misfire_grace_s=settings.scheduler_misfire_grace_s,
        runner=f"pid{os.getpid()}",
    )

    async def tick() -> None:
        run = current_run.get()
        await client.rpush(runs_key, f"{run.slot}:{os.getpid()}:{run.fence}")

    scheduler.register("tick", 1.0, tick)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await client.rpush(f"{settings.redis_prefix}:test:alive", str(os.getpid()))
    try:
        await scheduler.run(stop)
    finally:
        await client.aclose()
        await connection.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
