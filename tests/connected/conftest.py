"""Fixtures of the connected tests: servers of a test's own."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.connected.servers import PgBouncer, PrivateRedis


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A redis-server on a free port with an append-only file, killed afterwards (resumed
    first, should the test have left it stopped)."""
    server = PrivateRedis(tmp_path)
    await server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.process.send_signal(signal.SIGCONT)
        server.kill()


@pytest.fixture
async def pgbouncer(tmp_path: Path) -> AsyncIterator[PgBouncer]:
    """A pgbouncer in transaction mode in front of the shared PostgreSQL, stopped afterwards."""
    bouncer = PgBouncer(tmp_path)
    await bouncer.start()
    yield bouncer
    bouncer.stop()
