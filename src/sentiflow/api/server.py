"""How `sentiflow api` serves: one uvicorn process, or N processes that each listen on their
own socket of one SO_REUSEPORT group, so the kernel spreads connections across them.

uvicorn's own `--workers` shares one listening socket, and the process that wakes first
accepts every pending connection: under `sentiflow bench rank` all ten keep-alive clients
landed in one process while the other idled, so two processes served no more than one.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from sentiflow.errors import ConfigError

log = structlog.get_logger("sentiflow.api.server")

APP = "sentiflow.api.app:create_app"
# A process that exits with an error sooner than this after its start failed to start (bad
# settings, say): stop them all rather than restart it in a loop.
START_GRACE_S = 10.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) in the port's SO_REUSEPORT group. IPPROTO_TCP is
    named so that asyncio turns Nagle off on the connections it accepts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); stop what holds the port or "
            "pick another with --port or SENTIFLOW_PORT"
        ) from None
    return sock


def _stop_with_parent(parent: int) -> None:
    """A supervisor killed with SIGKILL cannot stop its API processes; without this they
    would go on serving the port, orphaned. SIGTERM lets uvicorn finish what it has."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _serve_one(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One API process: its own socket in the group, then uvicorn on it until SIGTERM."""
    import uvicorn

    threading.Thread(target=_stop_with_parent, args=(os.getppid(),), daemon=True).start()
    sock = listening_socket(host, port)
    config = uvicorn.Config(app, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the app factory `app` ("module:function") with `workers` processes; `options`
    go to uvicorn. A process that dies is replaced; SIGTERM or Ctrl-C stops them all."""
    import uvicorn

    if workers == 1 or port == 0 or not hasattr(socket, "SO_REUSEPORT"):
        # One process, or no way to share a port evenly (port 0 would give each its own).
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, **options)
        return
    listening_socket(host, port).close()  # a port held by another program fails here, once
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[BaseProcess, float]:
        child = context.Process(
            target=_serve_one, args=(app, host, port, options), name="sentiflow-api"
        )
        child.start()
        return child, time.monotonic()

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child, _ in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: uvicorn finishes the requests in hand

    children = [start() for _ in range(workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed_start: int | None = None
    while not stopping:
        for i, (child, started) in enumerate(children):
            if child.is_alive() or stopping:
                continue
            log.warning("api.process_died", pid=child.pid, exitcode=child.exitcode)
            code = child.exitcode or 0  # > 0: exited by itself; < 0: killed by a signal
            if code > 0 and time.monotonic() - started < START_GRACE_S:
                # It did not get as far as serving: another would fail the same way.
                failed_start = code
                stop(signal.SIGTERM, None)
                break
            children[i] = start()
        time.sleep(0.5)
    for child, _ in children:
        child.join()
    if failed_start is not None:
        raise SystemExit(failed_start)
