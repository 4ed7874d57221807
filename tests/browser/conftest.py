"""Fixtures for tests against a real `sentiflow run` process: a server on a free port with its
own data dir, and Debian's chromium driven by Playwright. Under CI=true a missing chromium or
Playwright fails the run; elsewhere those tests are skipped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECT_MS = 15_000
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
ARTIFACTS = ROOT / "test-artifacts"


class Held:
    """Requests matching `pattern` (and `method`, when given), held until the test answers
    them; the others go through."""

    def __init__(self, page: Any, pattern: str, method: str | None = None) -> None:
        self.page, self.pattern = page, pattern
        self.routes: list[Any] = []

        def hold(route: Any) -> None:
            if method is None or route.request.method == method:
                self.routes.append(route)
            else:
                route.continue_()

        page.route(pattern, hold)

    def next(self) -> Any:
        """The oldest held request, waiting up to 15 s for one."""
        for _ in range(150):
            if self.routes:
                return self.routes.pop(0)
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no request for {self.pattern} came")

    def release(self) -> None:
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.pattern)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]  # the SENTIFLOW_* variables it runs with

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def post(self, posts: list[dict[str, Any]]) -> None:
        with self.client() as c:
            response = c.post("/api/posts", json=posts)
        assert response.status_code == 202, response.text
        assert len(response.json()["accepted"]) == len(posts)

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as c:
            response = c.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def start_server(tmp_path: Path, *args: str, **env: str) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / "server.log"
    environment = {
        **os.environ,
        "SENTIFLOW_DATA_DIR": str(tmp_path / "data"),
        "SENTIFLOW_ANALYZER_PROCESSES": "0",
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        **env,
    }
    command = [sys.executable, "-c", "from sentiflow.cli import main; main()"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "run", "--no-demo", "--port", str(port), *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(
        f"http://127.0.0.1:{port}",
        port,
        process,
        log,
        {k: v for k, v in environment.items() if k.startswith("SENTIFLOW_")},
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"sentiflow run exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"sentiflow run did not answer within 60 s:\n{log.read_text()}")
        time.sleep(0.1)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`sentiflow run --no-demo` on a free port with an empty data dir."""
    yield from start_server(tmp_path)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server with extra SENTIFLOW_* variables."""
    running: list[Iterator[Server]] = []

    def start(**env: str) -> Server:
        gen = start_server(tmp_path, **env)
        running.append(gen)
        return next(gen)

    yield start
    for gen in running:
        next(gen, None)


def _require_browser() -> None:
    missing = []
    if shutil.which(CHROMIUM) is None:
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium, or `make browser`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if IN_CI:
            pytest.fail(f"{message}; they must run under CI=true", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium, shared by the tests of one module. Not longer: sync
    Playwright keeps an event loop on this thread while it runs, which the async tests of
    later modules must not find."""
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    # A generous ceiling, not a speed check: on a loaded machine a server round trip and a
    # re-render can take seconds; an assertion that holds returns as soon as it does.
    expect.set_options(timeout=EXPECT_MS)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context) whose uncaught script errors, and anything the server's
    Content-Security-Policy blocks, fail the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"
