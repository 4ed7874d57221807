"""Dataset snapshots: the correction that reaches the threshold starts one (no polling), its
files and manifest agree, and on-demand exports cover every analysed post."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from sentiflow.api import create_app
from sentiflow.settings import Settings
from sentiflow.store import import_labels
from sentiflow.store.db import Store
from tests.conftest import wait_for
from tests.unit.feedback_helpers import analysis, seed


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The tests poll a snapshot's status as fast as they can, past any admin rate limit.
    update = {"snapshot_threshold": 5, "rate_limits": False}
    app = create_app(settings.model_copy(update=update), worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def store_of(client: httpx.AsyncClient) -> Store:
    return client.app.state.services.store  # type: ignore[attr-defined,no-any-return]


async def ready(client: httpx.AsyncClient, dataset_id: str) -> dict[str, Any]:
    async def done() -> bool:
        status = (await client.get(f"/api/datasets/{dataset_id}")).json()["status"]
        assert status != "failed"
        return bool(status == "ready")

    await wait_for(done)
    body: dict[str, Any] = (await client.get(f"/api/datasets/{dataset_id}")).json()
    return body


async def test_threshold_starts_a_snapshot(small: httpx.AsyncClient) -> None:
    rows = [(f"text {i}", analysis("positive", (0.1, 0.2, 0.7))) for i in range(8)]
    ids = await seed(store_of(small), rows)
    labels = ["negative", "neutral", "negative", "positive", "negative"]
    for post_id, label in zip(ids[:4], labels, strict=False):
        await small.post(f"/api/posts/{post_id}/corrections", json={"sentiment": label})
    assert (await small.get("/api/datasets")).json() == []
    await small.post(f"/api/posts/{ids[4]}/corrections", json={"sentiment": labels[4]})
    # The correction's own request started it: it is listed the moment the response is back.
    listed = (await small.get("/api/datasets")).json()
    assert len(listed) == 1 and listed[0]["trigger"] == "threshold"

    snapshot = await ready(small, listed[0]["id"])
    manifest = snapshot["manifest"]
    assert manifest["counts"] == {"rows": 5, "human": 5}
    assert manifest["label_distribution"]["sentiment"] == {
        "negative": 3,
        "neutral": 1,
        "positive": 1,
    }
    assert manifest["source_model_versions"] == {"test-model-1": 5}
    jsonl = await small.get(snapshot["downloads"]["jsonl"])
    assert jsonl.status_code == 200
    assert manifest["content_hash"] == "sha256:" + hashlib.sha256(jsonl.content).hexdigest()
    records = [orjson.loads(line) for line in jsonl.content.splitlines()]
    assert {r["id"]: r["sentiment"] for r in records} == dict(zip(ids[:5], labels, strict=True))
    table = pq.read_table(io.BytesIO((await small.get(snapshot["downloads"]["parquet"])).content))
    assert table.num_rows == 5
    text = (await small.get(snapshot["downloads"]["csv"])).text
    assert len(list(csv.DictReader(io.StringIO(text)))) == 5

    # Re-correcting counts toward the next snapshot; four more do not reach it yet.
    for post_id in ids[5:8]:
        await small.post(f"/api/posts/{post_id}/corrections", json={"sentiment": "neutral"})
    assert len((await small.get("/api/datasets")).json()) == 1


async def test_on_demand_snapshot_of_everything(small: httpx.AsyncClient) -> None:
    rows = [(f"text {i}", analysis("positive", (0.1, 0.2, 0.7))) for i in range(12)]
    ids = await seed(store_of(small), rows)
    await small.post(f"/api/posts/{ids[0]}/corrections", json={"sentiment": "negative"})
    made = await small.post("/api/datasets", json={"scope": "all"})
    assert made.status_code == 202
    snapshot = await ready(small, made.json()["id"])
    assert snapshot["rows"] == snapshot["rows_total"] == 12
    assert snapshot["progress"] == 1.0
    assert snapshot["manifest"]["counts"] == {"rows": 12, "model": 11, "human": 1}
    bad = await small.get(f"/api/datasets/{made.json()['id']}/download", params={"format": "xls"})
    assert bad.status_code == 422
    assert (await small.get("/api/datasets/nope/download")).status_code == 404


async def test_a_labelled_snapshot_carries_the_files_labels(small: httpx.AsyncClient) -> None:
    rows = [(f"text {i}", analysis("positive", (0.1, 0.2, 0.7))) for i in range(6)]
    ids = await seed(store_of(small), rows)
    await import_labels.save(
        store_of(small),
        source="import:reviews.csv",
        pairs=[(ids[1], "negative"), (ids[2], "neutral")],
    )
    # A reviewer's correction wins over the file's label.
    await small.post(f"/api/posts/{ids[2]}/corrections", json={"sentiment": "positive"})
    made = await small.post("/api/datasets", json={"scope": "labelled"})
    assert made.status_code == 202
    snapshot = await ready(small, made.json()["id"])
    assert snapshot["manifest"]["counts"] == {"rows": 2, "human": 1, "import": 1}
    download = await small.get(f"/api/datasets/{made.json()['id']}/download")
    got = {r["id"]: r for r in map(orjson.loads, download.content.splitlines())}
    assert got[ids[1]]["sentiment"] == "negative"
    assert got[ids[1]]["label_source"] == "import"
    assert got[ids[1]]["corrected_by"] == "import:reviews.csv"
    assert got[ids[2]]["sentiment"] == "positive" and got[ids[2]]["label_source"] == "human"
