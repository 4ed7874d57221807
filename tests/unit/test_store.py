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


def test_migrations_form_one_line_with_one_head() -> None:
    # A second head would make `alembic upgrade head` refuse to run; a new migration must
    # revise the newest one. 0007 and 0009 joined the early branches; no merge comes after.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from sentiflow.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, script.get_heads()
    merges = [rev.revision for rev in script.walk_revisions() if rev.is_merge_point]
    assert sorted(merges) == ["0007_post_id_collation", "0009_one_head"]
