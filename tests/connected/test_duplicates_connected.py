"""Near-duplicates in distributed mode: the Redis index keeps the memory index's contract and
bounds its lists; the group key goes in through every PostgreSQL write path (COPY, and the
ON CONFLICT statement a batch delivered again takes) and SQLite's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.connections import RedisConnection
from sentiflow.duplicates import fingerprints
from sentiflow.duplicates.redis import RedisDuplicateIndex
from sentiflow.models import PostIn
from sentiflow.settings import Settings
from sentiflow.store.schema import posts
from sentiflow.store.write import save_batch
from tests.connected.test_store_pg import migrated
from tests.unit.test_near_duplicates import index_contract

pytestmark = pytest.mark.connected


async def test_redis_index_contract(redis_connection: RedisConnection, redis_prefix: str) -> None:
    await index_contract(
        RedisDuplicateIndex(redis_connection, f"{redis_prefix}:duplicates", window_s=3600)
    )


async def test_redis_index_fields_are_capped_and_expire(
    redis_connection: RedisConnection, redis_prefix: str
) -> None:
    prefix = f"{redis_prefix}:duplicates"
    index = RedisDuplicateIndex(redis_connection, prefix, window_s=120, per_key=2)
    (a,) = fingerprints(["the same band values over and over"])
    assert a is not None
    # Fingerprints that share a's lowest band but are far from it: three leaders, one key.
    far = [(a & 0xFFFF) | ((a ^ (0xFFFFFFFF << (8 * k))) & ~0xFFFF) for k in range(3)]
    assert (
        await index.group([(f"far{k}".ljust(24, "0"), f) for k, f in enumerate(far)]) == [None] * 3
    )
    client = redis_connection.client
    field = (a & 0xFFFF).to_bytes(2, "little")
    assert len(await client.hget(f"{prefix}:0", field)) == 2 * 36  # the two newest leaders
    assert 0 < await client.ttl(f"{prefix}:0") <= 120


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_the_group_key_is_stored_on_every_write_path(
    dialect: str, pg_url: str, tmp_path: Path
) -> None:
    url = pg_url if dialect == "postgresql" else None
    store = await migrated(Settings(database_url=url, data_dir=tmp_path))
    analyzer = LexiconAnalyzer()
    first = [PostIn(source="s", external_id=f"e{i}", text=f"text {i}") for i in range(3)]
    try:
        # The bulk path.
        copies = {first[1].id: first[0].id, first[2].id: first[0].id}
        await save_batch(
            store, first, analyzer.analyze([p.text for p in first]), duplicate_of=copies
        )
        # A batch with a post already stored takes the always-right path on PostgreSQL.
        again = [first[0], PostIn(source="s", external_id="e9", text="text 9")]
        await save_batch(
            store,
            again,
            analyzer.analyze([p.text for p in again]),
            duplicate_of={again[1].id: first[0].id},
        )
        async with store.engine.connect() as conn:
            stored = dict(
                (await conn.execute(select(posts.c.external_id, posts.c.duplicate_of))).all()
            )
        assert stored == {"e0": None, "e1": first[0].id, "e2": first[0].id, "e9": first[0].id}
    finally:
        await store.close()
