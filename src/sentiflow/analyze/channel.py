"""An analyzer process that the event loop talks to directly, for latency-bound callers
(ranking). Requests and answers cross one Unix socket that the loop itself reads: no executor
threads, where `AnalyzerPool`'s processes cost a feeder and a manager thread per call, each
waking and waiting for the GIL behind the busy loop.

A frame is a header (request id, payload length, ok) and a pickle: the texts one way, the
analyses (or the error's repr) the other. An answer nobody waits for any more (its request
missed a deadline) is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import pickle
import signal
import socket
import struct
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Final, cast

import structlog

from sentiflow.analyze.pool import children_ignore_sigint
from sentiflow.analyze.reload import ReloadingAnalyzer
from sentiflow.models import Analysis
from sentiflow.settings import Settings

log = structlog.get_logger("sentiflow.analyze")
_HEADER: Final = struct.Struct("!IIB")  # request id, payload bytes, 1 if analyses else error
_READ: Final = 1 << 20
BATCH: Final = 1_000  # texts the process analyses in one call at most, unless one feed has more


class AnalyzerGone(RuntimeError):
    """The analyzer process exited; its requests in flight fail with this."""


def _serve(sock: socket.socket, name: str, settings: Settings) -> None:
    """The process: answer requests until the parent closes its end. The requests that
    arrived while it was busy are analysed as one batch (up to `BATCH` texts): a batch call
    has a fixed cost besides its texts, and under load a feed's posts would otherwise wait for
    each earlier feed's call in turn."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    analyzer = ReloadingAnalyzer(name, settings)
    buffer = bytearray()
    # The parent closing its end, even in the middle of an answer, ends the process quietly.
    with sock, contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while True:
            sock.setblocking(True)
            requests = _requests(buffer)
            while not requests:  # wait for one
                data = sock.recv(_READ)
                if not data:
                    return
                buffer += data
                requests = _requests(buffer)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # and take what else is already here
                while data := sock.recv(_READ):
                    buffer += data
            requests += _requests(buffer, sum(len(texts) for _, texts in requests))
            for request, answer, ok in _answer(analyzer, requests):
                sock.setblocking(True)
                sock.sendall(_HEADER.pack(request, len(answer), ok) + answer)


def _requests(buffer: bytearray, texts: int = 0) -> list[tuple[int, list[str]]]:
    """The complete requests at the start of `buffer` (taken out of it), while the batch has
    fewer than `BATCH` texts."""
    found = []
    start = 0
    while texts < BATCH and len(buffer) - start >= _HEADER.size:
        request, size, _ = _HEADER.unpack_from(buffer, start)
        end = start + _HEADER.size + size
        if len(buffer) < end:
            break
        found.append((request, pickle.loads(buffer[start + _HEADER.size : end])))
        texts += len(found[-1][1])
        start = end
    del buffer[:start]
    return found


def _answer(
    analyzer: ReloadingAnalyzer, requests: list[tuple[int, list[str]]]
) -> list[tuple[int, bytes, int]]:
    """(request, payload, ok) for each request, from one analyzer call when it succeeds."""
    try:
        analyses = analyzer.analyze([text for _, texts in requests for text in texts])
    except Exception as exc:
        if len(requests) > 1:  # one request's texts must not fail the others
            return [answer for one in requests for answer in _answer(analyzer, [one])]
        return [(requests[0][0], repr(exc).encode(), 0)]
    answers = []
    start = 0
    for request, texts in requests:
        mine = analyses[start : start + len(texts)]
        start += len(texts)
        answers.append((request, pickle.dumps(mine, pickle.HIGHEST_PROTOCOL), 1))
    return answers


class _Channel(asyncio.Protocol):
    """The parent's end: writes requests, and resolves each one's future as its answer is
    read (on the event loop, in `data_received`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: dict[int, asyncio.Future[list[Analysis]]] = {}
        self.gone = False
        self.closing = False
        self._buffer = bytearray()
        self._next = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def request(self, texts: Sequence[str]) -> asyncio.Future[list[Analysis]]:
        if self.gone or self.transport is None:
            raise AnalyzerGone("the analyzer process has exited")
        self._next = (self._next + 1) & 0xFFFFFFFF
        future: asyncio.Future[list[Analysis]] = asyncio.get_running_loop().create_future()
        self.waiting[self._next] = future
        payload = pickle.dumps(list(texts), pickle.HIGHEST_PROTOCOL)
        self.transport.write(_HEADER.pack(self._next, len(payload), 1) + payload)
        return future

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= _HEADER.size:
            request, size, ok = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + size
            if len(buffer) < end:
                break
            future = self.waiting.pop(request, None)
            if future is not None and not future.done():
                payload = buffer[start + _HEADER.size : end]
                if ok:
                    future.set_result(pickle.loads(payload))
                else:
                    future.set_exception(RuntimeError(payload.decode()))
            start = end
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if not self.closing:
            log.warning("analyzer.process_exited", requests_failed=len(self.waiting))
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(AnalyzerGone("the analyzer process exited"))
        self.waiting.clear()


class AnalyzerProcess:
    """`await analyzer.analyze(texts)` in a process of its own; `start()` it first."""

    def __init__(self, settings: Settings, *, name: str | None = None) -> None:
        self.name = name or settings.analyzer
        self.settings = settings
        self.version = ""
        self._process: BaseProcess | None = None
        self._channel: _Channel | None = None

    async def start(self) -> None:
        """Spawn the process and load its model: the first answer says it is ready."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with children_ignore_sigint():
            self._process = multiprocessing.get_context("spawn").Process(
                target=_serve,
                args=(theirs, self.name, self.settings),
                name="sentiflow-analyzer",
                daemon=True,  # ended, not waited for, should its parent exit without close()
            )
            self._process.start()
        theirs.close()
        loop = asyncio.get_running_loop()
        _, self._channel = await loop.create_unix_connection(_Channel, sock=ours)
        result = await self.analyze(["warm up"])
        self.version = result[0].model_version

    @property
    def alive(self) -> bool:
        return self._channel is not None and not self._channel.gone

    @property
    def in_flight(self) -> int:
        return len(self._channel.waiting) if self._channel is not None else 0

    async def analyze(self, texts: Sequence[str]) -> list[Analysis]:
        if self._channel is None:
            raise RuntimeError("AnalyzerProcess.start() was not awaited")
        return await self._channel.request(texts)

    async def close(self) -> None:
        """Close the channel (the process exits when it reads the end) and reap it."""
        if self._channel is not None and self._channel.transport is not None:
            self._channel.closing = True
            self._channel.transport.close()
        process = self._process
        if process is not None:
            await asyncio.to_thread(process.join, 5)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
