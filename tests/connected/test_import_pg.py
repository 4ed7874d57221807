"""A labelled file imported in distributed mode: the posts are queued on Redis for the workers
while the file's labels go to PostgreSQL at once, keyed by the ids the posts will have."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sentiflow.ingest.files import ColumnMap
from sentiflow.ingest.importer import Shaping, import_posts
from sentiflow.ingest.labelmap import LabelMap
from sentiflow.models import PostIn
from sentiflow.roles import feed
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from sentiflow.store.schema import import_labels

pytestmark = pytest.mark.connected


async def test_labels_are_stored_before_the_workers_store_the_posts(
    connected_settings: Settings, tmp_path: Path
) -> None:
    store = Store.from_settings(connected_settings)
    await store.migrate()
    await store.close()
    path = tmp_path / "shop.csv"
    path.write_text('id,text,stars\nr1,"Great,\nreally",5\nr2,Bad,1\nr3,Meh,\n')
    async with feed(connected_settings) as fed:
        assert fed.worker is None  # distributed: the running workers store the posts
        result = await import_posts(
            fed.broker,
            path,
            "csv",
            ColumnMap(source="shop", label="stars"),
            shaping=Shaping(labels=LabelMap.parse("1-2:negative,3:neutral,4-5:positive")),
            store=fed.store,
            progress=False,
        )
        assert (result.rows, result.accepted, result.labelled) == (3, 3, 2)
        async with fed.store.engine.connect() as conn:
            rows = (
                await conn.execute(select(import_labels).order_by(import_labels.c.sentiment))
            ).all()
    expected = {
        PostIn(source="shop", external_id="r1", text="x").id: "positive",
        PostIn(source="shop", external_id="r2", text="x").id: "negative",
    }
    assert {r.post_id: r.sentiment for r in rows} == expected
    assert {r.source for r in rows} == {"import:shop.csv"}
