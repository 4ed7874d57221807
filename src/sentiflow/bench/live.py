"""`sentiflow bench live`: the embedded pipeline at full speed, alone and with many /ws/live
clients (in another process) in the same run: commit → delivery delay, summaries dropped for
stalled clients, posts/s with clients as a ratio of posts/s without, and the CPU seconds the
server, its analyzer processes and the clients used meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import resource
import select
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

from sentiflow.api.live_hub import LiveHub
from sentiflow.bench.cpu import child_pids, own_cpu_s
from sentiflow.bench.embedded import bench_texts
from sentiflow.ingest.service import submit
from sentiflow.queue.base import drain
from sentiflow.roles import ApiServices
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


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds these processes have used so far (each its own, without its children)."""
    return sum(own_cpu_s(pid) or 0.0 for pid in pids)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# The client side: one process holds a share of the connections and records, for every batch a
# summary reports, how long after its commit the summary arrived. The clients are the bench's
# load generator, not the product: plain non-blocking sockets under one epoll, just enough
# WebSocket to read the server's frames and answer its pings, and of each summary only the
# fields the bench needs, so the cores stay with the server being measured.


def _handshake(port: int, rcvbuf: int | None = None) -> tuple[socket.socket, bytes]:
    """A TCP connection to /ws/live upgraded to WebSocket, and what came after the response."""
    sock = socket.socket()
    if rcvbuf is not None:
        # A small window and segment size keep the kernel buffers on both ends small, so a
        # client that never reads fills the server's side after a few messages.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"/ws/live closed the connection during the handshake: {head!r}")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"/ws/live refused the upgrade: {head.decode(errors='replace')}")
    return sock, head[head.index(b"\r\n\r\n") + 4 :]


def summary_fields(payload: bytes) -> tuple[int, list[float]] | None:
    """Posts counted and commit times of a summary message, None for any other message.

    The server writes its messages with orjson in a fixed key order ("type" first, "commits"
    next to last) and escapes every quote inside strings, so the top-level "count" is the first
    `"count":` and the commit times follow the last `"commits":[`."""
    if not payload.startswith(b'{"type":"summary"'):
        return None
    start = payload.index(b'"count":') + 8
    count = int(payload[start : payload.index(b",", start)])
    start = payload.rindex(b'"commits":[') + 11
    times = payload[start : payload.index(b"]", start)]
    return count, [float(t) for t in times.split(b",")] if times else []


class _Reader:
    """One connection's unread bytes, cut into WebSocket frames."""

    def __init__(self, sock: socket.socket, unread: bytes) -> None:
        self.sock = sock
        self.buffer = bytearray(unread)

    def frames(self) -> list[tuple[int, bytes]]:
        buffer, out = self.buffer, []
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                break
            if not buffer[0] & 0x80 or opcode == 0:
                raise RuntimeError("the live bench client does not reassemble fragmented messages")
            out.append((opcode, bytes(buffer[start : start + length])))
            del buffer[: start + length]
        return out


def _clients(port: int, clients: int, stalled: int) -> None:
    _raise_file_limit()
    readers = {}
    for _ in range(clients):
        sock, unread = _handshake(port)
        sock.setblocking(False)
        readers[sock.fileno()] = _Reader(sock, unread)
    raw = [_handshake(port, rcvbuf=2048)[0] for _ in range(stalled)]
    poller = select.epoll()
    for fd in readers:
        poller.register(fd, select.EPOLLIN)
    poller.register(sys.stdin.fileno(), select.EPOLLIN)
    print("ready", flush=True)

    delays = array("d")
    counts = {"messages": 0, "posts": 0, "closed": 0}
    stdin = sys.stdin.fileno()
    while stdin not in (ready := dict(poller.poll())):
        for fd in ready:
            if not _receive(readers[fd], counts, delays):
                counts["closed"] += 1
                poller.unregister(fd)
    for reader in readers.values():
        reader.sock.close()
    for sock in raw:
        sock.close()
    result = {**counts, "cpu_s": time.process_time(), "delays": delays.tolist()}
    print(orjson.dumps(result).decode(), flush=True)


def _receive(reader: _Reader, counts: dict[str, int], delays: array[float]) -> bool:
    """Read what one client was sent: count summaries and their delays, answer pings. False
    once the server has closed the connection."""
    data = reader.sock.recv(1 << 18)
    # Stamped when read, which is at or after arrival: the delays err long, not short.
    now = time.time()
    if not data:
        return False
    reader.buffer += data
    for opcode, payload in reader.frames():
        if opcode == 1:
            fields = summary_fields(payload)
            if fields is not None:
                counts["messages"] += 1
                counts["posts"] += fields[0]
                delays.extend(now - t for t in fields[1])
        elif opcode == 9:
            # A pong, masked with a zero key as a client must mask.
            reader.sock.send(bytes([0x8A, 0x80 | len(payload), 0, 0, 0, 0]) + payload)
        elif opcode == 8:
            return False
    return True


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

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

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


async def _push(
    services: ApiServices, items: list[dict[str, Any]], processes: dict[str, list[int]]
) -> dict[str, float]:
    """Posts/s from the first submit until the broker is empty, and the CPU seconds each group
    of `processes` used meanwhile."""
    worker = services.worker
    assert worker is not None, "the live bench runs the worker in the API's process"
    stored_before = worker.stats.stored
    cpu = {name: _cpu_seconds(pids) for name, pids in processes.items()}
    started = time.perf_counter()
    for i in range(0, len(items), 1000):
        await submit(services.broker, items[i : i + 1000])
        await asyncio.sleep(0)
    await drain(services.broker, timeout=3600)
    elapsed = time.perf_counter() - started
    assert worker.stats.stored - stored_before == len(items)
    used = {f"{name}_cpu_s": _cpu_seconds(pids) - cpu[name] for name, pids in processes.items()}
    return {"posts_per_s": len(items) / elapsed, "seconds": elapsed, **used}


def _combined(phases: list[dict[str, float]]) -> dict[str, float]:
    """Several timed phases as one: posts/s over their total time, CPU seconds summed."""
    seconds = sum(p["seconds"] for p in phases)
    posts = sum(p["posts_per_s"] * p["seconds"] for p in phases)
    cpu = {k: sum(p[k] for p in phases) for k in phases[0] if k.endswith("_cpu_s")}
    return {"posts_per_s": posts / seconds, "seconds": seconds, **cpu}


async def run_live(
    settings: Settings, *, clients: int, posts: int, stalled: int, client_processes: int
) -> dict[str, Any]:
    """Phases in the order without, with, with, without (clients connect once, between the
    first two, and leave before the last), so whatever drifts during a run, such as the
    SQLite file growing, weighs on both sides alike."""
    import uvicorn

    from sentiflow.api import create_app

    _raise_file_limit()
    items = bench_texts(posts * 5)
    # A whole phase of warm-up: the first posts into an empty SQLite file go much faster than
    # the later ones, and no timed phase should get that advantage.
    warmup = items[:posts]
    alone_1, shared_1, shared_2, alone_2 = (items[posts * i : posts * (i + 1)] for i in range(1, 5))
    with tempfile.TemporaryDirectory(prefix="sentiflow-bench-live-") as tmp:
        settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": None,
                "redis_url": None,
                "queue_max": max(settings.queue_max, posts),
                # The periodic jobs (trending signals, a second or more of CPU each minute) are
                # not the pipeline, and would land in one timed phase or the other by chance.
                "scheduler": False,
            }
        )
        app = create_app(settings, worker=True)
        port = _free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            backlog=4096,
            # As `sentiflow run` serves it.
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        services: ApiServices = app.state.services
        hub: LiveHub = app.state.live
        group: ClientProcesses | None = None
        try:
            load = os.getloadavg()
            own = {"server": [os.getpid()], "analyzer": child_pids(os.getpid())}
            await _push(services, warmup, own)
            alone = [await _push(services, alone_1, own)]
            group = ClientProcesses(port, clients, stalled, client_processes)
            await group.ready()
            connected = hub.snapshot().clients
            watched = {**own, "client": group.pids}
            shared = [
                await _push(services, shared_1, watched),
                await _push(services, shared_2, watched),
            ]
            # Let the last summaries (one throttle window, plus the send) reach every client.
            await asyncio.sleep(settings.live_interval_s * 4 + 1)
            live = hub.snapshot()
            results = await group.results()
            group = None
            # The last phase starts once the server has let every client go, so none of its
            # clean-up lands in a phase without clients.
            deadline = time.monotonic() + 60
            while hub.snapshot().clients:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        "the server still holds live clients a minute after they left"
                    )
                await asyncio.sleep(0.05)
            alone.append(await _push(services, alone_2, own))
        finally:
            if group is not None:
                group.kill()
            server.should_exit = True
            await serving
    delays = [d for r in results for d in r["delays"]]
    alone_phase, shared_phase = _combined(alone), _combined(shared)
    without, with_clients = alone_phase["posts_per_s"], shared_phase["posts_per_s"]
    return {
        "bench": "live",
        "clients": clients,
        "stalled_clients": stalled,
        "connected": connected,
        "posts_per_phase": posts,
        "interval_s": settings.live_interval_s,
        "load_average_1m_at_start": round(load[0], 2),
        "posts_per_s_without_clients": round(without, 1),
        "posts_per_s_with_clients": round(with_clients, 1),
        "with_vs_without": round(with_clients / without, 3),
        "phases_posts_per_s": [round(p["posts_per_s"]) for p in (alone[0], *shared, alone[1])],
        # CPU seconds of each process group during the timed phases, two with clients and two
        # without (the same number of posts): the server (API, worker, fan-out), its analyzer
        # processes, and the bench's own clients.
        "server_cpu_s_without_clients": round(alone_phase["server_cpu_s"], 2),
        "server_cpu_s_with_clients": round(shared_phase["server_cpu_s"], 2),
        "server_extra_cpu_s": round(shared_phase["server_cpu_s"] - alone_phase["server_cpu_s"], 2),
        "analyzer_cpu_s_without_clients": round(alone_phase["analyzer_cpu_s"], 2),
        "analyzer_cpu_s_with_clients": round(shared_phase["analyzer_cpu_s"], 2),
        "client_cpu_s": round(shared_phase["client_cpu_s"], 2),
        "client_cpu_s_whole_run": round(sum(r["cpu_s"] for r in results), 2),
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
    _clients(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
