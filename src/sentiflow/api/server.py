"""How `sentiflow api` serves: one uvicorn process, or N processes fed by a supervisor.

With N processes the supervisor listens, accepts, and hands each new connection (its file
descriptor, over a Unix socket) to the process that holds the fewest open connections, as
Node's cluster module does by default. The two ways that leave it to the kernel spread
keep-alive clients badly: with one listening socket shared by the processes, the one that
wakes first accepts every pending connection; with one SO_REUSEPORT socket per process, a hash
of the address can put most clients on one process. The hand-over costs one message per
connection, not per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn

from sentiflow.errors import ConfigError
from sentiflow.supervisor import Child, Supervisor

log = structlog.get_logger("sentiflow.api.server")

APP = "sentiflow.api.app:create_app"
# How often an API process tells its supervisor how many connections it holds, when that
# changed; a connection it was handed since counts at once.
REPORT_S = 0.05
READY = b"ready"


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on (host, port). IPPROTO_TCP is named so that
    asyncio turns Nagle off on the connections accepted from it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); stop what holds the port or "
            "pick another with --port or SENTIFLOW_PORT"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _HandedServer(uvicorn.Server):
    """uvicorn serving the connections its supervisor hands it over `channel`. It says when it
    is ready, then how many connections it has received and holds whenever that changes. When
    the supervisor goes away, even killed with SIGKILL, the channel closes and it stops."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._received = 0
        self._connecting = 0
        self._reported = (0, 0)
        self._reporter: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # no listening socket of its own
        loop = asyncio.get_running_loop()
        self._channel.setblocking(False)
        loop.add_reader(self._channel.fileno(), self._receive, loop)
        self._channel.send(READY)
        self._reporter = loop.create_task(self._report_changes())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Closing the channel stops the hand-over to this process before it drains.
        asyncio.get_running_loop().remove_reader(self._channel.fileno())
        if self._reporter is not None:
            self._reporter.cancel()
        self._channel.close()
        await super().shutdown(sockets=sockets)

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                data, fds, _flags, _address = socket.recv_fds(self._channel, 16, 1)
            except BlockingIOError:
                break
            except OSError:
                data, fds = b"", []
            if not data:  # the supervisor is gone: stop as on SIGTERM
                loop.remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                self._received += 1
                self._connecting += 1
                loop.create_task(self._connect(loop, socket.socket(fileno=fd)))
        self._report()

    async def _connect(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._protocol, sock)
        except OSError:  # the client hung up in between
            sock.close()
        finally:
            self._connecting -= 1

    def _protocol(self) -> asyncio.Protocol:
        # As uvicorn's own create_protocol in Server.startup.
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        return protocol

    async def _report_changes(self) -> None:
        while True:
            await asyncio.sleep(REPORT_S)
            self._report()

    def _report(self) -> None:
        state = (self._received, len(self.server_state.connections) + self._connecting)
        if state == self._reported:
            return
        try:
            self._channel.send(b"%d %d" % state)
        except OSError:  # full or closed: the next report says it
            return
        self._reported = state


def _serve_one(app: str, channel: socket.socket, options: dict[str, Any]) -> None:
    """One API process: uvicorn on the connections handed over `channel`, until SIGTERM."""
    config = uvicorn.Config(app, factory=True, **options)
    _HandedServer(config, channel).run()


@dataclass(eq=False)
class _Child(Child):
    channel: socket.socket  # the supervisor's end
    ready: bool = False
    handed: int = 0
    received: int = 0
    holds: int = 0

    def load(self) -> int:
        """Open connections, counting those handed over that it has not reported yet."""
        return self.holds + self.handed - self.received

    def hear(self) -> bool:
        """Read what the process said; False once its channel has closed."""
        while True:
            try:
                message = self.channel.recv(64)
            except BlockingIOError:
                return True
            except OSError:
                message = b""
            if not message:
                self.ready = False
                return False
            if message == READY:
                self.ready = True
            else:
                received, holds = message.split()
                self.received, self.holds = int(received), int(holds)

    def hand(self, connection: socket.socket) -> bool:
        try:
            socket.send_fds(self.channel, [b"c"], [connection.fileno()])
        except BlockingIOError:  # its channel is full: it is not keeping up
            return False
        except OSError:
            self.ready = False
            return False
        self.handed += 1
        return True


class _Supervisor(Supervisor[_Child]):
    what = "api.process"

    def __init__(self, app: str, listener: socket.socket, workers: int, options: dict[str, Any]):
        super().__init__()
        self.app = app
        self.listener = listener
        self.options = options
        self.selector = selectors.DefaultSelector()
        self.listening = False
        self.turn = 0
        self.spawn(workers)

    def start(self) -> _Child:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = self.context.Process(
            target=_serve_one, args=(self.app, theirs, self.options), name="sentiflow-api"
        )
        process.start()
        theirs.close()
        ours.setblocking(False)
        child = _Child(process=process, started=time.monotonic(), channel=ours)
        self.selector.register(ours, selectors.EVENT_READ, child)
        return child

    def run(self) -> int | None:
        """Serve until stopped; the exit code of a process that failed to start, if one did."""
        failed_start: int | None = None
        while not self.stopping:
            self._listen_while_one_is_ready()
            for key, _ in self.selector.select(timeout=0.5):
                if key.fileobj is self.listener:
                    self._accept()
                elif not key.data.hear():
                    self.selector.unregister(key.fileobj)
            failed_start = self.replace_the_dead()
        self.selector.close()
        self.listener.close()  # refuse new connections while the processes drain
        for child in self.children:
            child.process.join()
            child.channel.close()
        return failed_start

    def _listen_while_one_is_ready(self) -> None:
        # Until a process is ready, connections wait in the kernel's backlog.
        ready = any(child.ready for child in self.children)
        if ready and not self.listening:
            self.selector.register(self.listener, selectors.EVENT_READ)
        elif self.listening and not ready:
            self.selector.unregister(self.listener)
        self.listening = ready

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of file descriptors, say: try again on the next wake
                log.warning("api.accept_failed", error=repr(exc))
                return
            with connection:
                ready = [child for child in self.children if child.ready]
                self.turn = (self.turn + 1) % max(len(ready), 1)
                ready = ready[self.turn :] + ready[: self.turn]  # equal loads take turns
                if not any(c.hand(connection) for c in sorted(ready, key=_Child.load)):
                    log.warning("api.connection_dropped", reason="no API process took it")

    def forget(self, child: _Child) -> None:
        with contextlib.suppress(KeyError):  # its channel closed first
            self.selector.unregister(child.channel)
        child.channel.close()


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the app factory `app` ("module:function") with `workers` processes; `options`
    go to uvicorn. A process that dies is replaced; SIGTERM or Ctrl-C stops them all."""
    if workers == 1 or not hasattr(socket, "send_fds"):
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, **options)
        return
    listener = listening_socket(host, port)  # a port held by another program fails here
    supervisor = _Supervisor(app, listener, workers, options)
    supervisor.handle_signals()
    failed_start = supervisor.run()
    if failed_start is not None:
        raise SystemExit(failed_start)
