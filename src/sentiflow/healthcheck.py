"""The container healthcheck: `python -m sentiflow.healthcheck api|worker` exits 0 when this
container's process is healthy. `api` asks the API's /health; `worker` looks at the heartbeat
files that worker processes touch in the temporary directory as their loops turn.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sentiflow.settings import Settings

# A worker's loop turns at least every second or so while idle (it waits up to half a second
# for posts), and keeps turning while it backs off from an unreachable Redis or PostgreSQL:
# a minute without a turn means it is stuck, not that a dependency is down.
WORKER_STUCK_S = 60.0
HEARTBEAT_EVERY_S = 5.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def heartbeat_dir() -> Path:
    return Path(tempfile.gettempdir())


class Heartbeat:
    """This process's heartbeat file, touched at most every `HEARTBEAT_EVERY_S`."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or heartbeat_dir()) / f"sentiflow-worker-{os.getpid()}.alive"
        self._next = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self.path.touch()
            self._next = now + HEARTBEAT_EVERY_S

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def check_api(settings: Settings, timeout_s: float = 4.0) -> str | None:
    """None when /health answers 200; else what is wrong."""
    host = _WILDCARDS.get(settings.host, settings.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/health"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"{url}: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"{url} answered {response.status_code}: {response.text[:300]}"
    return None


def check_worker(directory: Path | None = None, stuck_s: float = WORKER_STUCK_S) -> str | None:
    """None when a worker process of this container turned its loop within `stuck_s`."""
    directory = directory or heartbeat_dir()
    ages = [time.time() - p.stat().st_mtime for p in directory.glob("sentiflow-worker-*.alive")]
    if not ages:
        return f"no worker heartbeat in {directory}: is `sentiflow worker` running here?"
    if min(ages) > stuck_s:
        return f"the newest worker heartbeat in {directory} is {min(ages):.0f} s old"
    return None


def main(argv: list[str]) -> int:
    role = argv[0] if argv else "api"
    if role not in ("api", "worker"):
        print("usage: python -m sentiflow.healthcheck [api|worker]", file=sys.stderr)
        return 2
    problem = check_api(Settings()) if role == "api" else check_worker()
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
