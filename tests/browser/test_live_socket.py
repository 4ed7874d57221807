"""/ws/live against a real `sentiflow run`: a client that connects and never reads costs only
itself (its oldest summaries are dropped), while the pipeline and other clients see everything."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from websockets.sync.client import connect

from tests.browser.conftest import Server

LONG = "the checkout failed again and support never answered my ticket " * 5


class Reader:
    """A well-behaved client: reads every message on a thread and keeps them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        assert self.connected.wait(10), f"could not connect to {url}"

    def _read(self) -> None:
        with connect(self.url, open_timeout=10) as self.socket:
            self.connected.set()
            for raw in self.socket:
                self.messages.append(orjson.loads(raw))

    def summaries(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "summary"]

    def count(self) -> int:
        return sum(m["count"] for m in self.summaries())

    def close(self) -> None:
        self.socket.close()
        self.thread.join(timeout=5)


def stalled_client(port: int) -> socket.socket:
    """Open /ws/live with a tiny receive buffer and never read from it again."""
    sock = socket.socket()
    # A small window and a small segment size keep the kernel buffers on both ends small, so
    # the server's own send buffer fills after a few messages instead of a few megabytes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def wait_until(predicate: Any, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


@pytest.fixture
def busy_server(server_factory: Any) -> Iterator[Server]:
    # Many big messages per second, so a client that does not read fills every buffer quickly.
    yield server_factory(
        SENTIFLOW_LIVE_INTERVAL_S="0.01",
        SENTIFLOW_LIVE_SAMPLES="100",
        SENTIFLOW_LIVE_QUEUE="4",
        SENTIFLOW_BATCH_SIZE="5",
    )


@pytest.mark.timeout(300)
def test_a_stalled_client_does_not_slow_the_pipeline_or_other_clients(busy_server: Server) -> None:
    server = busy_server
    ws_url = server.url.replace("http://", "ws://") + "/ws/live"
    healthy = Reader(ws_url)
    filtered = Reader(ws_url + "?source=forum")
    stalled = stalled_client(server.port)
    try:
        wait_until(lambda: server.get("/api/live")["clients"] == 3, what="three clients")
        sent = {"shop": 0, "forum": 0}
        rounds = 0
        # Keep the pipeline busy until the stalled client's queue has overflowed.
        while server.get("/api/live")["dropped"] == 0:
            assert rounds < 400, "the stalled client never dropped a summary"
            batch = [
                {
                    "source": "forum" if i % 4 == 0 else "shop",
                    "external_id": f"r{rounds}-{i}",
                    "text": f"{LONG} #{rounds}-{i}",
                }
                for i in range(20)
            ]
            server.post(batch)
            for item in batch:
                sent[item["source"]] += 1
            rounds += 1
        total = sum(sent.values())

        # The pipeline stored everything, and the reading clients were told about all of it.
        wait_until(lambda: server.get("/api/stats/summary")["total"] == total, what="all stored")
        wait_until(lambda: healthy.count() == total, what="healthy client saw every post")
        wait_until(lambda: filtered.count() == sent["forum"], what="filtered client saw its posts")
        assert all(m["dropped"] == 0 for m in healthy.summaries())
        assert all(s["source"] == "forum" for m in filtered.summaries() for s in m["samples"])
        stats = server.get("/api/live")
        assert stats["clients"] == 3
        assert stats["dropped"] > 0
    finally:
        stalled.close()
        healthy.close()
        filtered.close()
