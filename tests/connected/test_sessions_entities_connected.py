"""Against the real PostgreSQL and Redis: the common entities the signal job keeps in Redis,
read by another process's signal store and ranked by `fresh-entities`; ranking sessions stored
in PostgreSQL, listed, and read back on the deadline path by `seen_sessions`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from sentiflow.connections import connect
from sentiflow.keys import Keys
from sentiflow.models import PostIn
from sentiflow.ranking.base import RankItem
from sentiflow.ranking.engine import Ranker
from sentiflow.ranking.sessions import Session, record
from sentiflow.ranking.signals.redis import RedisSignalStore
from sentiflow.ranking.trending import refresh_signals
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.rank_sessions import get_session, list_sessions
from sentiflow.store.write import save_batch
from tests.unit.test_ranking import made

pytestmark = pytest.mark.connected
NOW = datetime.now(UTC)


@pytest.fixture
async def pg_redis(connected_settings: Settings) -> AsyncIterator[tuple[Settings, Store]]:
    settings = connected_settings.model_copy(update={"signals_interval_s": 0})
    store = Store.from_settings(settings)
    await store.migrate()
    yield settings, store
    await store.close()


async def test_common_entities_go_through_redis_to_the_ranker(
    pg_redis: tuple[Settings, Store],
) -> None:
    settings, store = pg_redis
    texts = [
        "Acme Cloud is down, #outage",
        "Acme Cloud again. #outage everywhere",
        "who runs Acme Cloud? #outage",
        "lovely walk today",
    ]
    posts = [
        PostIn(source="s", text=t, created_at=NOW - timedelta(minutes=i + 1))
        for i, t in enumerate(texts)
    ]
    await save_batch(store, posts, [made("negative", 0.7)] * len(posts))
    assert settings.redis is not None
    writer_connection = connect(settings.redis)
    reader_connection = connect(settings.redis)
    try:
        keys = Keys(settings.redis_prefix)
        written = await refresh_signals(
            settings.signals, store, RedisSignalStore(writer_connection, keys)
        )
        assert {t.term for t in written.entities} == {"acme cloud", "#outage"}

        reader = RedisSignalStore(reader_connection, keys)
        read = await reader.get()
        assert read is not None and read.entities == written.entities
        ranker = Ranker(settings, store=store, signals=reader)
        await ranker.start()
        try:
            feed = [
                RankItem("a", "Acme Cloud status page?"),
                RankItem("b", "my cat sleeps all day"),
                RankItem("c", "#outage and Acme Cloud, still"),
            ]
            result = await ranker.rank(feed, strategy="fresh-entities")
        finally:
            await ranker.close()
        assert result.ranked_ids == ["b", "a", "c"]
        assert result.partial is False
        assert result.scorers == {"signals": "done", "fresh-entities": "done"}
    finally:
        await writer_connection.close()
        await reader_connection.close()


async def test_sessions_are_stored_listed_and_demote_what_was_seen(
    pg_redis: tuple[Settings, Store],
) -> None:
    settings, store = pg_redis
    assert settings.redis is not None
    connection = connect(settings.redis)
    ranker = Ranker(settings, store=store, signals=RedisSignalStore(connection, Keys("x")))
    await ranker.start()
    try:
        shown = [RankItem("p1", "hello there"), RankItem("p2", "bad day, furious")]
        first = await ranker.rank(shown, strategy="urgency", user_id="u1")
        await record(
            store,
            Session("s1", "u1", "reddit", "c1"),
            strategy="urgency",
            items=shown,
            result=first,
        )
        stored = await get_session(store, "s1")
        assert stored is not None
        assert [i["id"] for i in stored["items"]] == ["p1", "p2"]
        assert stored["items"][1]["sentiment"] == "negative"
        listed = await list_sessions(store, user_id="u1", platform="reddit")
        assert [(s["id"], s["items"]) for s in listed] == [("s1", ["p1", "p2"])]

        fresh = [RankItem("p2", "bad day, furious"), RankItem("p3", "a new post")]
        again = await ranker.rank(
            fresh, strategy="chronological", options={"seen_sessions": 1}, user_id="u1"
        )
        assert again.ranked_ids == ["p3", "p2"]
        assert again.scorers["history"] == "done"
    finally:
        await ranker.close()
        await connection.close()
