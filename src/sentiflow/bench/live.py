"""`sentiflow bench live`: the embedded pipeline at full speed, first alone, then with many
/ws/live clients (in separate processes) in the same run: commit → delivery delay, summaries
dropped for stalled clients, and posts/s with clients as a ratio of posts/s without.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

import orjson

from sentiflow.bench.embedded import bench_texts
from sentiflow.ingest.service import submit
from sentiflow.settings import Settings


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# The client side: one process holds a share of the connections and records, for every batch a
# summary reports, how long after its commit the summary arrived.


async def _stalled(port: int) -> socket.socket:
    """A client that completes the handshake and never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    return sock


class _LeanClient(asyncio.Protocol):
    """Just enough WebSocket to read a server's text frames and answer its pings, so a thousand
    clients cost the machine little next to the server they measure."""

    def __init__(self, port: int, on_text: Any, on_close: Any) -> None:
        self.port = port
        self.on_text = on_text
        self.on_close = on_close
        self.buffer = bytearray()
        self.open = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.open.set_exception(RuntimeError(bytes(self.buffer[:end]).decode()))
                return
            del self.buffer[: end + 4]
            self.open.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:
                # A pong, masked with a zero key as a client must mask.
                self.transport.write(bytes([0x8A, 0x80 | length, 0, 0, 0, 0]) + payload)
            elif opcode == 8:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_close()


async def _clients(port: int, clients: int, stalled: int) -> None:
    _raise_file_limit()
    loop = asyncio.get_running_loop()
    delays = array("d")
    counts = {"messages": 0, "posts": 0, "closed": 0}
    stopping = False

    def on_text(payload: bytes) -> None:
        now = time.time()
        message = orjson.loads(payload)
        if message["type"] == "summary":
            counts["messages"] += 1
            counts["posts"] += message["count"]
            delays.extend(now - t for t in message["commits"])

    def on_close() -> None:
        if not stopping:
            counts["closed"] += 1

    connections: list[_LeanClient] = []
    for start in range(0, clients, 100):
        batch = [
            (
                await loop.create_connection(
                    lambda: _LeanClient(port, on_text, on_close), "127.0.0.1", port
                )
            )[1]
            for _ in range(start, min(clients, start + 100))
        ]
        await asyncio.wait_for(asyncio.gather(*(c.open for c in batch)), 60)
        connections += batch
    raw = [await _stalled(port) for _ in range(stalled)]
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    stopping = True
    for connection in connections:
        connection.transport.close()
    for sock in raw:
        sock.close()
    result = {**counts, "cpu_s": time.process_time(), "delays": delays.tolist()}
    print(orjson.dumps(result).decode(), flush=True)


class ClientProcesses:
    def __init__(self, port: int, clients: int, stalled: int, processes: int) -> None:
        def split(n: int) -> list[int]:
            return [n // processes + (i < n % processes) for i in range(processes)]

        shares, stalled_shares = split(clients), split(stalled)
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "sentiflow.bench.live", str(port), str(n), str(s)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n, s in zip(shares, stalled_shares, strict=True)
            if n or s
        ]

    async def ready(self) -> None:
        loop = asyncio.get_running_loop()
        for proc in self.procs:
            assert proc.stdout is not None
            line = await loop.run_in_executor(None, proc.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"a live bench client process failed to connect: {line!r}")

    async def results(self) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        out = []
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        for proc in self.procs:
            assert proc.stdout is not None
            out.append(orjson.loads(await loop.run_in_executor(None, proc.stdout.readline)))
            proc.wait(timeout=60)
        return out

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# The server side: the real app (worker, event bus, /ws/live) under uvicorn in this process.


async def _push(runtime: Any, items: list[dict[str, Any]]) -> tuple[float, float]:
    """Posts/s from the first submit until the broker is empty, and this process's CPU seconds."""
    stored_before = runtime.worker.stats.stored
    cpu = time.process_time()
    started = time.perf_counter()
    for i in range(0, len(items), 1000):
        await submit(runtime.broker, items[i : i + 1000])
        await asyncio.sleep(0)
    await runtime.drain(timeout=3600)
    elapsed = time.perf_counter() - started
    assert runtime.worker.stats.stored - stored_before == len(items)
    return len(items) / elapsed, time.process_time() - cpu


async def run_live(
    settings: Settings, *, clients: int, posts: int, stalled: int, client_processes: int
) -> dict[str, Any]:
    import uvicorn

    from sentiflow.api import create_app
    from sentiflow.api.live import hub_of

    _raise_file_limit()
    items = bench_texts(posts * 3)
    warmup, alone, shared = items[: posts // 5], items[posts : 2 * posts], items[2 * posts :]
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-live-") as tmp:
        settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": None,
                "redis_url": None,
                "queue_max": max(settings.queue_max, posts),
            }
        )
        settings.__dict__.pop("sqlalchemy_url", None)
        app = create_app(settings, worker=True)
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        runtime = app.state.runtime
        hub = hub_of(app)
        group: ClientProcesses | None = None
        try:
            await _push(runtime, warmup)
            without, cpu_without = await _push(runtime, alone)
            group = ClientProcesses(port, clients, stalled, client_processes)
            await group.ready()
            connected = hub.snapshot().clients
            with_clients, cpu_with = await _push(runtime, shared)
            # Let the last summaries (one throttle window, plus the send) reach every client.
            await asyncio.sleep(settings.live_interval_s * 4 + 1)
            live = hub.snapshot()
            results = await group.results()
        finally:
            if group is not None:
                group.kill()
            server.should_exit = True
            await serving
    delays = [d for r in results for d in r["delays"]]
    return {
        "bench": "live",
        "clients": clients,
        "stalled_clients": stalled,
        "connected": connected,
        "posts_per_phase": posts,
        "interval_s": settings.live_interval_s,
        "posts_per_s_without_clients": round(without, 1),
        "posts_per_s_with_clients": round(with_clients, 1),
        "with_vs_without": round(with_clients / without, 3),
        "server_cpu_s_without_clients": round(cpu_without, 2),
        "server_cpu_s_with_clients": round(cpu_with, 2),
        "client_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "delivery_p50_ms": round(percentile(delays, 0.50) * 1000, 1),
        "delivery_p95_ms": round(percentile(delays, 0.95) * 1000, 1),
        "delivery_p99_ms": round(percentile(delays, 0.99) * 1000, 1),
        "delivery_mean_ms": round(statistics.fmean(delays) * 1000, 1) if delays else None,
        "deliveries": len(delays),
        "messages_received": sum(r["messages"] for r in results),
        "posts_seen_per_client": round(sum(r["posts"] for r in results) / max(1, clients), 1),
        "messages_sent": live.messages,
        "dropped_for_slow_clients": live.dropped,
        "disconnected_slow": live.disconnected_slow,
        "clients_closed_early": sum(r["closed"] for r in results),
    }


if __name__ == "__main__":
    asyncio.run(_clients(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
