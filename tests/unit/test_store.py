"""The embedded store's own behaviour (the write path is tested through the worker and API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from sentiflow.store.db import Store, make_engine


@pytest.mark.timeout(60)
async def test_processes_that_start_together_migrate_one_sqlite_file_once(tmp_path: Path) -> None:
    # `sentiflow api --workers N` starts N processes on one fresh file; each migrates it.
    url = f"sqlite+aiosqlite:///{tmp_path / 'sentiflow.db'}"
    stores = [Store(make_engine(url)) for _ in range(3)]
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        async with stores[0].engine.connect() as conn:
            heads = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar()
        assert heads and heads > 0
        await stores[0].require_schema()
    finally:
        for store in stores:
            await store.engine.dispose()
