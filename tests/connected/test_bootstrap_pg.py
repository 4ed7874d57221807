"""The bootstrap admin key on PostgreSQL: API processes starting together (each its own
engine, as separate processes have) store it once, and all of them start."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from sentiflow.feedback.auth import authenticate
from sentiflow.feedback.bootstrap import ensure_bootstrap_key
from sentiflow.settings import Settings
from sentiflow.store import api_keys as key_store
from sentiflow.store.db import Store

pytestmark = pytest.mark.connected
KEY = "sf_admin_" + "p9" * 20


async def test_processes_starting_together_store_it_once(connected_settings: Settings) -> None:
    first = Store.from_settings(connected_settings)
    await first.migrate()
    stores = [first, *(Store.from_settings(connected_settings) for _ in range(7))]
    try:
        for _ in range(3):  # and again, as after restarts
            await asyncio.gather(*(ensure_bootstrap_key(s, SecretStr(KEY)) for s in stores))
        assert [k["name"] for k in await key_store.list_keys(first)] == ["bootstrap-admin"]
        assert (await authenticate(first, KEY)).allows("admin")
    finally:
        for store in stores:
            await store.close()
