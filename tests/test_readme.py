"""The README's quick start, run as a user would: `make run`, wait for /health, post a
post, see it analysed, stop with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\$ (.+)$", quick, flags=re.M)
    assert commands == ["make run", "make test"]


def test_readme_is_a_front_door_that_links_only_into_the_repository() -> None:
    """At most 200 lines, and every link leads to a file of this repository: a user who
    cloned it has nothing else. Addresses inside code (a local URL to open) are not links."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    prose = re.sub(r"```.*?```", "", readme, flags=re.S)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    assert not re.findall(r"https?://", prose), "the README links outside the repository"
    targets = re.findall(r"\]\(([^)\s]+)\)", prose)
    assert "docs/configuration.md" in targets and "CONTRIBUTING.md" in targets
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that are not in the repository: {missing}"


@pytest.mark.timeout(180)
def test_make_run_serves_analysed_posts(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SENTIFLOW_PORT": str(port),
        "SENTIFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "GET /health was not 200 within 60 s"
            time.sleep(0.2)

        sent = httpx.post(
            f"{base}/api/posts", json={"source": "test", "text": "I love this, best day ever!"}
        )
        assert sent.status_code == 202
        post_id = sent.json()["accepted"][0]["id"]
        deadline = time.monotonic() + 5
        while True:
            items = httpx.get(f"{base}/api/posts", params={"source": "test"}).json()["items"]
            if items:
                break
            assert time.monotonic() < deadline, "the post did not show up within 5 s"
            time.sleep(0.1)
        assert items[0]["id"] == post_id
        assert items[0]["analysis"]["sentiment"] == "positive"
        # The demo stream runs by default, so the store holds more than our post.
        demo = httpx.get(f"{base}/api/posts", params={"source": "demo"}).json()["items"]
        assert demo, "the demo stream stored nothing"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert "Traceback" not in output, output
