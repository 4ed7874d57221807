"""`python -m sentiflow.healthcheck api|worker`: the API is healthy when /health answers 200;
a worker while its loop turns (its heartbeat file is fresh)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sentiflow.healthcheck import Heartbeat, check_api, check_worker, main
from sentiflow.settings import Settings
from tests.conftest import wait_for


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/health" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b'{"status": "down"}' if code != 200 else b'{"status": "ok"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_api_is_healthy_when_health_answers_200(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    # The image listens on 0.0.0.0: the check asks the loopback address.
    assert check_api(Settings(host="0.0.0.0", port=port)) is None
    _Health.status = 503
    try:
        problem = check_api(Settings(host="127.0.0.1", port=port))
    finally:
        _Health.status = 200
    assert problem is not None and "503" in problem


def test_api_is_unhealthy_when_nothing_listens(server: ThreadingHTTPServer) -> None:
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    problem = check_api(Settings(host="127.0.0.1", port=port), timeout_s=1)
    assert problem is not None and "/health" in problem


def test_main_exits_non_zero_with_a_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert main(["nonsense"]) == 2
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    assert main(["worker"]) == 1
    assert "no worker heartbeat" in capsys.readouterr().err


def test_worker_is_healthy_while_its_loop_turns(tmp_path: Path) -> None:
    assert "no worker heartbeat" in (check_worker(tmp_path) or "")
    heartbeat = Heartbeat(tmp_path)
    heartbeat.beat()
    assert check_worker(tmp_path) is None
    old = time.time() - 120
    os.utime(heartbeat.path, (old, old))
    heartbeat.beat()  # within HEARTBEAT_EVERY_S of the last beat: the file is left alone
    stale = check_worker(tmp_path)
    assert stale is not None and "old" in stale
    heartbeat.close()
    assert not heartbeat.path.exists()


async def test_the_worker_loop_beats_while_idle(settings: Settings, tmp_path: Path) -> None:
    from sentiflow.api import create_app

    app = create_app(settings, worker=True)
    async with app.router.lifespan_context(app):
        worker = app.state.services.worker
        beats: list[float] = []
        worker.heartbeat = lambda: beats.append(time.monotonic())
        await wait_for(lambda: _more_than(beats, 2), timeout=5)


async def _more_than(beats: list[float], n: int) -> bool:
    return len(beats) > n
