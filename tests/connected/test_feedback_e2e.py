"""The whole loop on the real PostgreSQL (and Redis, once its broker is merged): 50
corrections through the API start a snapshot with no polling loop, training on it promotes
a better builtin-fast version and rejects one trained on shuffled labels, and the running
worker analyses new posts with the promoted version without a restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from sentiflow.analyze import versions
from sentiflow.analyze.builtin import NAME
from sentiflow.analyze.training.fit import FitConfig
from sentiflow.analyze.training.train import train
from sentiflow.api import create_app
from sentiflow.feedback.auth import create_key
from sentiflow.feedback.retrain import retrain
from sentiflow.settings import Settings
from sentiflow.store.db import Store
from tests.conftest import wait_for

pytestmark = [pytest.mark.connected, pytest.mark.timeout(900)]
# Base examples per task and split, and a smaller feature space than the shipped model's:
# enough for stable held-out scores, small enough that three fits take minutes, not hours.
LIMIT = 1_500
QUICK = FitConfig(char_bits=14, bigram_bits=14, char_orders=(3, 4), embedding_weight=0.0)
# A product no base example mentions; the reviewers know a post about it is a complaint.
TEMPLATES = (
    "my zorbly arrived today, unit {i}",
    "got the zorbly {i} this morning",
    "the zorbly {i} is on my desk now",
    "zorbly {i} came with the new update",
)


def posts(start: int, n: int) -> list[dict[str, str]]:
    return [
        {"source": "shop", "external_id": f"z{i}", "text": TEMPLATES[i % 4].format(i=i)}
        for i in range(start, start + n)
    ]


@pytest.fixture
def e2e_settings(connected_settings: Settings) -> Settings:
    update: dict[str, object] = {
        "auth": "required",
        "analyzer": NAME,
        "analyzer_processes": 1,
        "snapshot_threshold": 50,
        # The test polls a snapshot's status as fast as it can, past any admin rate limit.
        "rate_limits": False,
    }
    return connected_settings.model_copy(update=update)


async def analysed(client: httpx.AsyncClient, ids: list[str]) -> list[dict[str, Any]]:
    async def done() -> bool:
        for pid in ids:
            if (await client.get(f"/api/posts/{pid}")).status_code != 200:
                return False
        return True

    await wait_for(done, timeout=120)
    return [(await client.get(f"/api/posts/{pid}")).json() for pid in ids]


async def test_corrections_to_a_promoted_model(e2e_settings: Settings) -> None:
    settings = e2e_settings
    # The current version is fitted on the same base data and seed, so the candidate differs
    # from it only by the corrections.
    _, card = await asyncio.to_thread(
        train,
        settings_models=versions.models_dir(settings, NAME),
        train_dir=None,
        seed=13,
        output=None,
        clean_licence=False,
        limit=LIMIT,
        config=QUICK,
    )
    baseline = card["version"]
    versions.promote(settings, NAME, baseline)

    store = Store.from_settings(settings)
    await store.migrate()  # distributed mode: what `sentiflow db upgrade` does
    await store.close()
    app = create_app(settings, worker=True)
    async with app.router.lifespan_context(app):
        services = app.state.services
        keys = {
            s: {"X-API-Key": (await create_key(services.store, name=f"{s}-team", scopes=[s]))[0]}
            for s in ("ingest", "review", "admin")
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            sent = await client.post("/api/posts", json=posts(0, 60), headers=keys["ingest"])
            ids = [a["id"] for a in sent.json()["accepted"]]
            before = await analysed(client, ids)
            assert {p["analysis"]["model_version"] for p in before} == {baseline}
            worker = services.worker
            assert worker is not None
            pool = worker.pool

            for n, pid in enumerate(ids[:50], start=1):
                fixed = await client.post(
                    f"/api/posts/{pid}/corrections",
                    json={"sentiment": "negative", "emotion": "anger"},
                    headers=keys["review"],
                )
                assert fixed.status_code == 201
                listed = (await client.get("/api/datasets", headers=keys["admin"])).json()
                # No polling loop: the 50th correction's own request started the snapshot.
                assert len(listed) == (1 if n == 50 else 0)
            dataset_id = listed[0]["id"]

            async def ready() -> bool:
                state = (
                    await client.get(f"/api/datasets/{dataset_id}", headers=keys["admin"])
                ).json()
                assert state["status"] != "failed", state["error"]
                return bool(state["status"] == "ready")

            await wait_for(ready, timeout=60)

            better = await asyncio.to_thread(
                retrain, settings, dataset_id=dataset_id, limit=LIMIT, config=QUICK
            )
            assert better.promoted, better.reason
            assert better.current == baseline
            assert versions.current(settings, NAME).version == better.candidate
            scores = better.scores
            assert (
                scores["candidate"]["corrections_mean_accuracy"]
                > scores["current"]["corrections_mean_accuracy"]
            )

            worse = await asyncio.to_thread(
                retrain,
                settings,
                dataset_id=dataset_id,
                limit=LIMIT,
                config=QUICK,
                shuffle_labels=True,
            )
            assert not worse.promoted
            assert versions.current(settings, NAME).version == better.candidate

            # The same worker, never restarted, now labels with the promoted version.
            processed = worker.stats.processed
            sent = await client.post("/api/posts", json=posts(1000, 8), headers=keys["ingest"])
            after = await analysed(client, [a["id"] for a in sent.json()["accepted"]])
            assert {p["analysis"]["model_version"] for p in after} == {better.candidate}
            assert services.worker is worker and worker.pool is pool
            assert worker.stats.processed > processed

    from sentiflow.cli import app as cli

    runner = CliRunner()
    env = {"SENTIFLOW_DATA_DIR": str(settings.data_dir)}
    listing = runner.invoke(cli, ["models", "--json"], env=env)
    assert listing.exit_code == 0, listing.output
    shown = {
        row["version"]: row
        for row in json.loads(listing.stdout.splitlines()[-1])["models"]
        if row["backend"] == NAME
    }
    assert shown[better.candidate]["decision"].startswith("promoted")
    assert shown[better.candidate]["current"] is True
    assert shown[worse.candidate]["decision"].startswith("rejected")
    back = runner.invoke(cli, ["models", "rollback"], env=env)
    assert back.exit_code == 0, back.output
    assert versions.current(settings, NAME).version == baseline
    again = runner.invoke(cli, ["models", "promote", better.candidate], env=env)
    assert again.exit_code == 0, again.output
    assert versions.current(settings, NAME).version == better.candidate
