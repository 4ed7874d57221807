"""Servers a connected test owns, on free ports, so that stopping or killing them never
touches the shared services: a private redis-server, a pgbouncer."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


class PrivateRedis:
    """A redis-server of this test's own, with an append-only file, that it kills at will."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; the Redis restart test needs it")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    async def start(self) -> None:
        self.launch()
        await wait_for(functools.partial(accepts, self.port))

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections and accepts new ones, but answers none."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PgBouncer:
    """A pgbouncer of this test's own in transaction mode, in front of the shared PostgreSQL,
    on a free port. Few server connections, so that clients take turns on each, as behind a
    managed pooler under load."""

    def __init__(self, directory: Path, *, server_connections: int = 2) -> None:
        self.directory = directory
        self.port = free_port()
        self.server_connections = server_connections
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """A plain postgresql:// URL, as a managed service hands one out."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def launch(self) -> None:
        binary = shutil.which("pgbouncer") or shutil.which("/usr/sbin/pgbouncer")
        if binary is None:
            message = "pgbouncer is not installed (apt-get install pgbouncer, or `make test`)"
            if IN_CI:
                pytest.fail(f"{message}; the pooler test must run under CI=true", pytrace=False)
            pytest.skip(message)
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n* = host=127.0.0.1 port=5432 user=postgres\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            "unix_socket_dir =\nauth_type = any\npool_mode = transaction\n"
            f"default_pool_size = {self.server_connections}\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\nlogfile =\npidfile =\n"
        )
        ini.chmod(0o644)
        # pgbouncer refuses to run as root: it then switches to PostgreSQL's user.
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [binary, *as_user, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def start(self) -> None:
        self.launch()
        await wait_for(functools.partial(accepts, self.port))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
