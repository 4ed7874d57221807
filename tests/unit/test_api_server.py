"""`sentiflow api --workers 2`: connections spread evenly over both processes, a process that
dies is replaced, and SIGTERM stops them all. The real CLI in embedded mode; Linux /proc to see which
process holds which connection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sentiflow.bench.cpu import child_pids, connections_by_process
from tests.conftest import wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _api_children(parent: int) -> list[int]:
    """The API processes: the parent's children, less multiprocessing's resource tracker."""
    return [
        pid
        for pid in child_pids(parent)
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _alive(pids: list[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    # Embedded mode whatever the caller's environment says.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIFLOW_")}
    env |= {
        "SENTIFLOW_DATA_DIR": str(tmp_path / "data"),
        "SENTIFLOW_DEMO_RATE": "0",
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
    }
    cli = [sys.executable, "-m", "sentiflow", "api", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(cli, env=env)
    yield process, port
    if process.poll() is None:  # the test failed before stopping it: its processes follow it
        process.kill()
        process.wait(10)


async def _serving(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _started(process: subprocess.Popen[bytes], port: int) -> list[int]:
    """Wait until the port answers and both API processes run; their pids."""

    async def serving() -> bool:
        return await _serving(port)

    async def two_processes() -> bool:
        return len(_api_children(process.pid)) == 2

    await wait_for(serving, timeout=90)
    await wait_for(two_processes, timeout=30)
    children = _api_children(process.pid)

    # The supervisor hands connections only to processes that said they are ready; a process
    # still starting (a slow or cold machine) would leave every connection to the other.
    async def both_ready() -> bool:
        return await _one_connection_each(port, children)

    await wait_for(both_ready, timeout=60)
    return children


async def _one_connection_each(port: int, children: list[int]) -> bool:
    """Two connections in a row land one in each process once both are ready (each goes to
    the ready process holding fewer). Closed again, and gone from both, before returning."""
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") for _ in range(2)]
    try:
        for client in clients:
            if (await client.get("/health")).status_code != 200:
                return False
        held = connections_by_process(children, port)
    finally:
        for client in clients:
            await client.aclose()

    async def closed() -> bool:
        return not any(connections_by_process(children, port).values())

    await wait_for(closed, timeout=10)
    return sorted(held.values()) == [1, 1]


@pytest.mark.timeout(180)
async def test_two_processes_share_the_port_replace_the_dead_and_stop_together(
    api: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = api
    children = await _started(process, port)

    # Sixteen keep-alive connections, opened one after another: each goes to the process that
    # holds fewer, so they end up even (the kernel's hash or a shared socket would not).
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") for _ in range(16)]
    try:
        for client in clients:
            assert (await client.get("/health")).status_code == 200
        held = connections_by_process(children, port)
        assert sorted(held.values()) == [8, 8], held
    finally:
        for client in clients:
            await client.aclose()

    # A process killed outright is replaced, and the port keeps answering.
    os.kill(children[0], signal.SIGKILL)

    async def replaced() -> bool:
        now = set(_api_children(process.pid))
        return len(now) == 2 and children[0] not in now

    await wait_for(replaced, timeout=60)
    await _started(process, port)

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not await _serving(port)


@pytest.mark.timeout(180)
async def test_api_processes_stop_when_their_supervisor_is_killed(
    api: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = api
    children = await _started(process, port)
    process.kill()
    process.wait(10)

    async def gone() -> bool:
        return not _alive(children)

    await wait_for(gone, timeout=30)
    assert not await _serving(port)
