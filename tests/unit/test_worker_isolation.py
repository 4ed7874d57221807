"""The worker, after a batch fails: the bad post is found by halving the batch, the others are
committed and acknowledged, and the bad one goes back to the broker."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from sentiflow.analyze.lexicon import LexiconAnalyzer
from sentiflow.models import Analysis, PostIn
from sentiflow.queue.memory import MemoryBroker
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import posts
from sentiflow.worker import Worker


class PoisonedPool:
    """An analyzer pool whose model fails on any batch holding the word 'poison'."""

    def __init__(self) -> None:
        self.model = LexiconAnalyzer()
        self.calls = 0

    async def analyze(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
        *,
        fast: bool | None = None,
    ) -> list[Analysis]:
        self.calls += 1
        if any("poison" in text for text in texts):
            raise ValueError("the model cannot read this post")
        return self.model.analyze(texts)


async def test_one_bad_post_costs_a_few_commits_and_spares_the_rest(settings: Settings) -> None:
    store = Store.from_settings(settings)
    await store.migrate()
    broker = MemoryBroker(max_deliveries=3)
    good = [PostIn(source="s", external_id=str(i), text=f"fine post {i}") for i in range(255)]
    await broker.publish([*good[:100], PostIn(source="s", text="poison"), *good[100:]])
    pool = PoisonedPool()
    worker = Worker(broker=broker, store=store, pool=pool, batch_size=256)  # type: ignore[arg-type]
    try:
        assert await worker.process_batch() == 256
        async with store.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(posts))).scalar_one()
        assert stored == 255
        assert (worker.stats.stored, worker.stats.failed) == (255, 1)
        # The whole batch, then two halves per level of a binary split of 256: 1 + 2 * 8.
        assert pool.calls == 17
        assert await broker.backlog() == 1
        [retry] = await broker.consume("w", 10, 0)
        assert (retry.post.text, retry.deliveries) == ("poison", 2)
    finally:
        await store.close()
