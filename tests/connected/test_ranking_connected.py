"""Ranking against the real PostgreSQL and Redis: signals published through Redis, stored
analyses read from PostgreSQL in one query, and none at all on the trending path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from sentiflow.connections import RedisConnection, connect
from sentiflow.keys import Keys
from sentiflow.models import PostIn
from sentiflow.ranking.base import RankItem, Term
from sentiflow.ranking.engine import Ranker
from sentiflow.ranking.signals import MemorySignalStore, SignalStore
from sentiflow.ranking.signals.redis import RedisSignalStore
from sentiflow.ranking.trending import refresh_signals
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.write import save_batch
from tests.unit.test_ranking import check_stored_analyses_lookup, made

pytestmark = pytest.mark.connected
NOW = datetime.now(UTC)


async def check_contract(signal_store: SignalStore) -> None:
    assert await signal_store.get() is None
    terms = [Term("outage", "keyword", 1.0, 7, -0.5), Term("#acme", "entity", 0.25, 3, 0.1)]
    first = await signal_store.put({900: terms, 3600: []}, NOW)
    again = await signal_store.get()
    assert again == first
    assert again is not None and again.version == 1
    assert list(again.terms()) == terms and list(again.terms(3600)) == []
    second = await signal_store.put({900: terms[:1]}, NOW + timedelta(minutes=1))
    assert second.version == 2
    latest = await signal_store.get()
    assert latest is not None
    assert (latest.version, latest.computed_at, list(latest.terms())) == (
        2,
        second.computed_at,
        terms[:1],
    )


async def test_memory_signal_store_contract() -> None:
    await check_contract(MemorySignalStore())


async def test_redis_signal_store_contract(
    redis_connection: RedisConnection, redis_prefix: str
) -> None:
    await check_contract(RedisSignalStore(redis_connection, Keys(redis_prefix)))


@pytest.fixture
async def pg_ranker(
    connected_settings: Settings,
) -> AsyncIterator[tuple[Ranker, Store, RedisSignalStore]]:
    settings = connected_settings.model_copy(update={"signals_interval_s": 0})
    store = Store.from_settings(settings)
    await store.migrate()
    assert settings.redis is not None
    connection = connect(settings.redis)
    signals = RedisSignalStore(connection, Keys(settings.redis_prefix))
    ranker = Ranker(settings, store=store, signals=signals)
    await ranker.start()
    yield ranker, store, signals
    await ranker.close()
    await connection.close()
    await store.close()


async def test_stored_analyses_are_looked_up_as_stored(
    pg_ranker: tuple[Ranker, Store, RedisSignalStore],
) -> None:
    await check_stored_analyses_lookup(pg_ranker[1])


async def test_trending_reads_redis_only_and_urgency_one_query(
    pg_ranker: tuple[Ranker, Store, RedisSignalStore], connected_settings: Settings
) -> None:
    ranker, store, signals = pg_ranker
    recent = ["Acme Cloud outage", "outage at Acme Cloud again", "another outage", "tea time"]
    posts = [
        PostIn(source="feed", external_id=f"p{i}", text=t, created_at=NOW - timedelta(minutes=3))
        for i, t in enumerate(recent)
    ]
    await save_batch(
        store,
        posts,
        [made("negative", 0.9, "anger", 0.9)] * 3 + [made("positive", 0.9, "joy", 0.9)],
    )
    published = await refresh_signals(connected_settings.signals, store, signals)
    assert "outage" in {t.term for t in published.terms()}

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    items = [
        RankItem(id="p3", source="feed", text="tea time"),
        RankItem(id="p2", source="feed", text="another outage"),
        RankItem(id="new", text="is the outage fixed?"),
    ]
    trending = await ranker.rank(items, strategy="trending")
    assert statements == []
    assert trending.ranked_ids[-1] == "p3"
    assert trending.signals is not None and trending.signals["version"] == published.version

    urgency = await ranker.rank(items, strategy="urgency")
    assert len(statements) == 1 and "analyses" in statements[0]
    assert urgency.scorers == {"store": "done", "analyzer": "done", "urgency": "done"}
    assert urgency.ranked_ids.index("p2") < urgency.ranked_ids.index("p3")
