"""Search-job dedup in distributed mode: 20 concurrent identical searches arriving at four
API processes' worth of connections (each its own Redis and PostgreSQL pool) share one job;
a worker runs it and a later identical search gets the cached result."""

from __future__ import annotations

import asyncio

import pytest

from sentiflow.connections import connect
from sentiflow.keys import Keys
from sentiflow.locks.redis import RedisLocks
from sentiflow.searches import SearchRunner, start_search
from sentiflow.settings import Settings
from sentiflow.store import search_jobs as search_store
from sentiflow.store.db import Store

pytestmark = pytest.mark.connected


async def test_concurrent_identical_searches_share_one_job(connected_settings: Settings) -> None:
    assert connected_settings.redis is not None
    stores = [Store.from_settings(connected_settings) for _ in range(4)]
    connections = [connect(connected_settings.redis) for _ in range(4)]
    locks = [RedisLocks(connection) for connection in connections]
    await stores[0].migrate()
    keys = Keys(connected_settings.redis_prefix)
    try:
        started = await asyncio.gather(
            *(
                start_search(
                    stores[i % 4],
                    locks[i % 4],
                    keys,
                    connected_settings,
                    query=" Climate  Change" if i % 2 else "climate change",
                    sources=["stored"],
                    limit=20,
                )
                for i in range(20)
            )
        )
        other = await start_search(
            stores[0], locks[0], keys, connected_settings, query="weather", sources=[], limit=20
        )
        assert len({s.job_id for s in started}) == 1
        assert sum(s.created for s in started) == 1
        assert other.job_id != started[0].job_id and other.created
        jobs = await search_store.list_search_jobs(stores[0])
        assert len(jobs) == 2

        runner = SearchRunner(
            store=stores[1],
            broker=None,  # type: ignore[arg-type]  # stored-only searches queue nothing
            locks=locks[1],
            keys=keys,
            settings=connected_settings,
            runner="test-worker",
        )
        assert await runner.run_pending() == 2
        job = await search_store.get_search_job(stores[2], started[0].job_id)
        assert job is not None and job.status == "done" and job.result is not None
        again = await start_search(
            stores[3],
            locks[3],
            keys,
            connected_settings,
            query="CLIMATE change",
            sources=["stored"],
            limit=20,
        )
        assert again.job_id == started[0].job_id and not again.created
    finally:
        for connection in connections:
            await connection.close()
        for store in stores:
            await store.close()
