"""The image, built from the Dockerfile and run with podman as a user would run it.

Embedded: the bare image with a volume, as its non-root user on a read-only root file system;
its HEALTHCHECK turns healthy, the bootstrap admin key signs in, a first post is analysed, and
after a restart the key and the post are still there. Distributed: the commands, environment
and healthchecks of compose.yaml (migrate, then api and worker) against this machine's
PostgreSQL and Redis, up to an analysed post.

The base image is made from Debian's packages by mmdebstrap (no registry needed) and the
Python packages are wheels built here, installed with --no-index; both are cached, in a
podman storage of the tests' own under ~/.cache, so a run rebuilds only the changed layers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import IN_CI, REDIS_URL

pytestmark = [pytest.mark.container, pytest.mark.connected]

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sentiflow-tests"
BASE = "localhost/sentiflow-base:bookworm"
# The wheels are built by Debian's own Python, the one the base image has (checked below).
DEBIAN_PYTHON = "/usr/bin/python3"
KEY = "sf_admin_" + uuid.uuid4().hex + uuid.uuid4().hex
SECRET = KEY.split("_", 2)[2]


def _missing() -> list[str]:
    missing = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    pip = subprocess.run([DEBIAN_PYTHON, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        missing.append(f"pip for {DEBIAN_PYTHON} (python3-pip)")
    return missing


class Podman:
    """podman on the tests' own storage. runc where it is installed: crun refuses the hybrid
    cgroup hierarchies some machines have, runc runs everywhere. The limits on open files and
    processes are set low because podman's defaults (a million files) are above the hard
    limits of some sandboxes, where the runtime then cannot start a container."""

    LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")

    def __init__(self) -> None:
        storage = CACHE / "podman"
        self.base = ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run")]
        if shutil.which("runc"):
            self.base += ["--runtime", "runc"]

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {result.stderr[-3000:]}")
        return result

    def logs(self, name: str) -> str:
        result = self("logs", name, check=False)
        return (result.stdout + result.stderr)[-4000:]


def _base_image(podman: Podman) -> None:
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        tar = Path(tmp) / "base.tar"
        subprocess.run(
            ["mmdebstrap", "--quiet", "--variant=minbase"]
            + ["--include=python3,python3-venv,passwd,ca-certificates"]
            + [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale")]
            + ["bookworm", str(tar)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        podman("import", "--quiet", str(tar), BASE, timeout=300)


def _wheels(podman: Podman) -> Path:
    """The dependencies as wheels for the base image's Python, cached by pyproject.toml."""
    image_python = podman("run", "--rm", *Podman.LIMITS, BASE, "python3", "-V").stdout.strip()
    host_python = subprocess.run(
        [DEBIAN_PYTHON, "-V"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert image_python == host_python, (
        f"the base image has {image_python}, {DEBIAN_PYTHON} is {host_python}: "
        f"rebuild the base (podman rmi {BASE}) on a machine of the same Debian release"
    )
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + host_python.encode())
    wheels = CACHE / f"wheels-{digest.hexdigest()[:16]}"
    if wheels.is_dir():
        return wheels
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [DEBIAN_PYTHON, "-m", "pip", "wheel", "-q", "--wheel-dir", tmp, ROOT, "setuptools>=69"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        for own in Path(tmp).glob("sentiflow-*.whl"):
            own.unlink()  # the image builds sentiflow itself, from the source
        for old in CACHE.glob("wheels-*"):
            shutil.rmtree(old, ignore_errors=True)
        Path(tmp).rename(wheels)
    return wheels


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Podman, str]]:
    """The image built from the Dockerfile; (podman, image id)."""
    missing = _missing()
    if missing:
        message = f"cannot build the image here: {', '.join(missing)} missing"
        if IN_CI:
            pytest.fail(f"{message}; `make test` installs them (`make containers`)", False)
        pytest.skip(f"{message} (`make containers` installs them)")
    CACHE.mkdir(parents=True, exist_ok=True)
    podman = Podman()
    _base_image(podman)
    wheels = _wheels(podman)
    iid = CACHE / f"iid-{uuid.uuid4().hex}"
    try:
        podman(
            "build", "--format", "docker", "--iidfile", str(iid), *Podman.LIMITS,
            "--volume", f"{wheels}:/wheels:ro",
            "--build-arg", f"BASE_IMAGE={BASE}",
            "--build-arg", "PIP_INSTALL_OPTIONS=--no-index --find-links=/wheels",
            "--tag", "localhost/sentiflow:test", str(ROOT),
            timeout=600,
        )  # fmt: skip
        image_id = iid.read_text().strip()
    finally:
        iid.unlink(missing_ok=True)
    # Earlier builds' images, kept an hour for runs that may still use them.
    podman("image", "prune", "--force", "--filter", "until=1h", check=False)
    yield podman, image_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def names(podman: Podman) -> Iterator[str]:
    """A unique prefix for this test's containers and volumes, all removed afterwards."""
    prefix = f"sentiflow-test-{uuid.uuid4().hex[:8]}"
    try:
        yield prefix
    finally:
        listed = podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={prefix}")
        for name in listed.stdout.split():
            podman("rm", "--force", "--volumes", "--time", "10", name, check=False, timeout=60)
        volumes = podman("volume", "ls", "--format", "{{.Name}}", "--filter", f"name={prefix}")
        for volume in volumes.stdout.split():
            podman("volume", "rm", "--force", volume, check=False)


def wait_healthy(podman: Podman, name: str, check: list[str] | None, timeout: float = 120) -> None:
    """Until the container's healthcheck passes: the image's HEALTHCHECK (`check` None) or a
    compose-style CMD test run in the container."""
    deadline = time.monotonic() + timeout
    while True:
        if check is None:
            result = podman("healthcheck", "run", name, check=False)
        else:
            result = podman("exec", name, *check, check=False)
        if result.returncode == 0:
            return
        state = podman("inspect", name, "--format", "{{.State.Status}}", check=False).stdout
        if state.strip() not in ("running", "starting", "created", "configured"):
            raise AssertionError(f"{name} is {state.strip()}:\n{podman.logs(name)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not healthy in {timeout}s:\n{podman.logs(name)}")
        time.sleep(0.5)


def first_post_is_analysed(base_url: str, text: str) -> dict[str, Any]:
    """Post with the bootstrap key (refused without it) and wait for the analysis."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        post = {"source": "web", "text": text}
        assert client.post("/api/posts", json=post).status_code == 401
        bearer = {"Authorization": f"Bearer {KEY}"}
        accepted = client.post("/api/posts", json=post, headers=bearer)
        assert accepted.status_code == 202, accepted.text
        post_id = accepted.json()["accepted"][0]["id"]
        deadline = time.monotonic() + 60
        while True:
            found = client.get(f"/api/posts/{post_id}")
            if found.status_code == 200 and found.json()["analysis"] is not None:
                stored: dict[str, Any] = found.json()
                return stored
            assert time.monotonic() < deadline, f"post {post_id} not analysed: {found.text}"
            time.sleep(0.2)


@pytest.mark.timeout(900)
def test_bare_image_runs_embedded_as_its_user_with_a_volume(image: tuple[Podman, str]) -> None:
    podman, image_id = image
    port = free_port()
    with names(podman) as prefix:
        name = f"{prefix}-embedded"
        podman("volume", "create", f"{prefix}-data")
        run = (
            "run", "--detach", "--name", name, *Podman.LIMITS,
            "--read-only", "--tmpfs", "/tmp",
            "--volume", f"{prefix}-data:/data",
            "--publish", f"127.0.0.1:{port}:8000",
            "--env", f"SENTIFLOW_BOOTSTRAP_ADMIN_KEY={KEY}",
            image_id,
        )  # fmt: skip
        podman(*run)
        wait_healthy(podman, name, None)
        assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
        stored = first_post_is_analysed(f"http://127.0.0.1:{port}", "I love it, it works great!")
        assert stored["analysis"]["sentiment"] == "positive"
        files = podman("exec", name, "ls", "-ln", "/data").stdout
        assert "sentiflow.db" in files and " 10001 10001 " in files

        podman("restart", "--time", "20", name, timeout=90)
        wait_healthy(podman, name, None)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get(f"/api/posts/{stored['id']}").status_code == 200  # on the volume
            bearer = {"Authorization": f"Bearer {KEY}"}
            keys = client.get("/api/keys", headers=bearer)
            assert keys.status_code == 200 and [k["name"] for k in keys.json()] == [
                "bootstrap-admin"
            ]
        assert SECRET not in podman.logs(name)


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return services


@pytest.mark.timeout(900)
def test_compose_services_against_postgres_and_redis(
    image: tuple[Podman, str], pg_url: str, redis_prefix: str
) -> None:
    podman, image_id = image
    services = compose_services()
    port = free_port()
    # compose.yaml's environment, with this machine's services in place of its containers.
    env = {
        **services["api"]["environment"],
        "SENTIFLOW_DATABASE_URL": pg_url,
        "SENTIFLOW_REDIS_URL": REDIS_URL,
        "SENTIFLOW_REDIS_PREFIX": redis_prefix,
        "SENTIFLOW_BOOTSTRAP_ADMIN_KEY": KEY,
        "SENTIFLOW_HOST": "127.0.0.1",
        "SENTIFLOW_PORT": str(port),
    }
    flags = [f"--env={k}={v}" for k, v in env.items()]
    with names(podman) as prefix:
        volumes = []
        for mount in services["api"]["volumes"]:
            volume, path = mount.split(":")
            volumes.append(f"--volume={prefix}-{volume}:{path}")
        common = ["--network", "host", *Podman.LIMITS, "--read-only", "--tmpfs", "/tmp"]
        migrate = podman(
            "run", "--rm", "--name", f"{prefix}-migrate", *common, *flags, *volumes, image_id,
            *services["migrate"]["command"], timeout=180,
        )  # fmt: skip
        assert "is up to date" in " ".join(migrate.stderr.split())
        for role in ("api", "worker"):
            podman(
                "run", "--detach", "--name", f"{prefix}-{role}", *common, *flags, *volumes,
                image_id, *services[role]["command"],
            )  # fmt: skip
        for role in ("api", "worker"):
            test = services[role]["healthcheck"]["test"]
            assert test[0] == "CMD"
            wait_healthy(podman, f"{prefix}-{role}", test[1:])
        stored = first_post_is_analysed(f"http://127.0.0.1:{port}", "This is awful, I hate it.")
        assert stored["analysis"]["sentiment"] == "negative"
        for role in ("api", "worker"):
            assert SECRET not in podman.logs(f"{prefix}-{role}")
