"""compose.yaml cannot run here (no container runtime in CI); at least it parses and runs
the README's distributed-mode commands against Redis with its append-only file on."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_distributed_commands() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    commands = {name: " ".join(s.get("command", [])) for name, s in services.items()}
    assert commands["migrate"] == "sentiflow db upgrade"
    assert commands["api"].startswith("sentiflow api")
    assert commands["worker"].startswith("sentiflow worker")
    assert "--appendonly yes" in commands["redis"]
    for name in ("migrate", "api", "worker"):
        env = services[name]["environment"]
        assert env["SENTIFLOW_REDIS_URL"].startswith("redis://redis:")
        assert env["SENTIFLOW_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert services["worker"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert (ROOT / services["api"]["build"] / "Dockerfile").is_file()
